"""Concept sources: where the encyclopedia's concepts, categories and definitions come from.

Every source returns a list of `Concept`. The category is the concept's parent (a toy-world
topic, a WordNet hypernym, a ConceptNet ``IsA`` target) and gives the evaluation its
"right category" credit; the definition describes the concept without naming it and is what
the hard evaluation task reads.

Sources:
- ``toyworld``: the toy world's nouns with their topic as category (the offline default);
- a plain list: ``.txt`` (one concept per line) or ``.csv``/``.tsv`` with a ``concept`` column
  and optional ``category`` and ``definition`` columns;
- WordNet nouns from a local WordNet directory (`difflens.encyclopedia.wordnet`);
- a ConceptNet assertions CSV (tab-separated ``uri, relation, start, end, json``).
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from difflens.errors import ConfigError, DataError


@dataclass(frozen=True)
class Concept:
    """One concept of the encyclopedia.

    Attributes:
        name: the concept as it is written in a context (``lighthouse``, ``ice cream``).
        category: its parent concept (toy-world topic, WordNet hypernym); ``""`` if unknown.
        definition: a description that does not name the concept (``""`` if none); the hard
            evaluation task reads it.
    """

    name: str
    category: str = ""
    definition: str = ""


def _dedupe(concepts: list[Concept]) -> list[Concept]:
    seen: set[str] = set()
    out = []
    for c in concepts:
        if c.name and c.name not in seen:
            seen.add(c.name)
            out.append(c)
    return out


def names_concept(text: str, name: str) -> bool:
    """Whether ``text`` contains ``name`` as whole words (case-insensitive)."""
    if name.lower() not in text.lower():
        return False  # most texts: no regex to compile (one per name, too many for re's cache)
    return re.search(rf"(?<![a-z]){re.escape(name.lower())}(?![a-z])", text.lower()) is not None


def hide_name(definition: str, name: str) -> str:
    """Replace whole-word occurrences of ``name`` in a definition by "this", so that it
    describes the concept without naming it."""
    # Compiling one pattern per name costs more than reading all of WordNet; most definitions do
    # not contain the name. The shortcut is exact for ASCII only: IGNORECASE also matches
    # non-ASCII letters such as the Kelvin sign to "k".
    if definition.isascii() and name.isascii() and name.lower() not in definition.lower():
        return definition
    return re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?:e?s)?(?![A-Za-z])", "this", definition, flags=re.IGNORECASE)


# ---- toy world ------------------------------------------------------------------------------

def toyworld_concepts(topics: list[str] | None = None) -> list[Concept]:
    """The toy world's nouns, each with its topic as category.

    The definition is a description of the topic that uses its adjectives and verbs but none of
    its nouns ("something from the ocean and the sea: salty, tidal; it can drift or splash").
    It identifies the topic, never the noun itself: on the toy world the hard task can be
    solved at category level only, and the report shows both levels.

    Args:
        topics: restrict to these topic names (all 30 by default).
    """
    from difflens.errors import unknown_name
    from difflens.toyworld import TOPIC_BY_NAME, TOPICS

    chosen = TOPICS
    if topics:
        for t in topics:
            if t not in TOPIC_BY_NAME:
                raise unknown_name("topic", t, TOPIC_BY_NAME)
        chosen = tuple(TOPIC_BY_NAME[t] for t in topics)
    concepts = []
    for topic in chosen:
        verbs = [v for v in topic.verbs if v not in topic.nouns]  # "drizzle", "orbit": noun and verb
        definition = (f"something from {topic.description}: {topic.adjectives[0]} and {topic.adjectives[1]}, "
                      f"it can {verbs[0]} or {verbs[1]}")
        concepts.extend(Concept(noun, topic.name, definition) for noun in topic.nouns)
    # "drizzle" is both a weather noun and verb, "orbit" a noun and verb: nouns stay unique.
    return _dedupe(concepts)


# ---- plain lists ----------------------------------------------------------------------------

def read_concept_list(path: str | Path) -> list[Concept]:
    """Read concepts from a ``.txt`` (one per line, ``#`` comments) or ``.csv``/``.tsv`` file.

    A CSV/TSV file needs a header with a ``concept`` column; ``category`` and ``definition``
    columns are optional. A definition that names its concept has the name replaced by "this".

    Raises:
        DataError: the file is missing, has no ``concept`` column, or lists no concept.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"concept list not found: {str(p)!r}; give a .txt (one concept per line) or a .csv "
                        f"with a 'concept' column")
    if p.suffix == ".txt":
        lines = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
        concepts = [Concept(line) for line in lines if line and not line.startswith("#")]
    elif p.suffix in (".csv", ".tsv"):
        with p.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if p.suffix == ".tsv" else ",")
            fields = [h.strip().lower() for h in (reader.fieldnames or [])]
            if "concept" not in fields:
                raise DataError(f"{p}: the header must have a 'concept' column (optional: category, definition); "
                                f"found {fields}")
            concepts = []
            for row in reader:
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                name = row.get("concept", "")
                if name:
                    definition = hide_name(row.get("definition", ""), name)
                    concepts.append(Concept(name, row.get("category", ""), definition))
    else:
        raise DataError(f"cannot read concepts from {str(p)!r}: use .txt, .csv or .tsv")
    concepts = _dedupe(concepts)
    if not concepts:
        raise DataError(f"{p} lists no concept")
    return concepts


# ---- ConceptNet -----------------------------------------------------------------------------

_CN_TERM = re.compile(r"^/c/(?P<lang>[a-z]+)/(?P<term>[^/]+)")
# Relations whose end describes the start without naming it: "a kind of X, used for Y, ..."
_CN_DESCRIBE = {"/r/IsA": "a kind of {}", "/r/UsedFor": "used for {}", "/r/HasProperty": "{}",
                "/r/AtLocation": "found at {}", "/r/CapableOf": "it can {}", "/r/PartOf": "part of {}",
                "/r/MadeOf": "made of {}", "/r/HasA": "it has {}"}


def _cn_term(uri: str, language: str) -> str | None:
    m = _CN_TERM.match(uri)
    if m is None or m.group("lang") != language:
        return None
    return m.group("term").replace("_", " ")


def conceptnet_concepts(path: str | Path, language: str = "en", min_edges: int = 1,
                        max_concepts: int | None = None) -> list[Concept]:
    """Concepts from a ConceptNet assertions CSV (tab-separated ``uri, relation, start, end, json``).

    A concept is the start of an ``IsA`` edge in ``language``; its category is its most
    frequent ``IsA`` target; its definition joins up to four describing edges (``IsA``,
    ``UsedFor``, ``HasProperty``, ``AtLocation``, ...) whose ends do not name it.

    Args:
        path: the assertions file (``conceptnet-assertions-5.7.0.csv`` or an extract of it).
        language: ConceptNet language code of the concepts kept.
        min_edges: keep concepts with at least this many ``IsA`` edges.
        max_concepts: keep the concepts with most edges first, up to this many.

    Raises:
        DataError: the file is missing or has no usable ``IsA`` edge.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"ConceptNet assertions file not found: {str(p)!r}")
    isa: dict[str, Counter] = defaultdict(Counter)
    described: dict[str, list[str]] = defaultdict(list)
    with p.open(encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if len(row) < 4:
                raise DataError(f"{p}:{lineno}: expected tab-separated uri, relation, start, end[, json]; "
                                f"got {len(row)} field(s)")
            relation, start, end = row[1], _cn_term(row[2], language), _cn_term(row[3], language)
            if start is None or end is None or start == end:
                continue
            if relation == "/r/IsA":
                isa[start][end] += 1
            if relation in _CN_DESCRIBE and not names_concept(end, start) and len(described[start]) < 4:
                phrase = _CN_DESCRIBE[relation].format(end)
                if phrase not in described[start]:
                    described[start].append(phrase)
    ranked = sorted((c for c in isa if sum(isa[c].values()) >= min_edges), key=lambda c: (-sum(isa[c].values()), c))
    if not ranked:
        raise DataError(f"{p}: no /r/IsA edge between /c/{language}/ terms; is this a ConceptNet assertions file?")
    if max_concepts is not None:
        ranked = ranked[:max_concepts]
    return [Concept(c, isa[c].most_common(1)[0][0], ", ".join(described[c])) for c in ranked]


# ---- one entry point ------------------------------------------------------------------------

SOURCES = ("toyworld", "list", "wordnet", "conceptnet")


def load_concepts(source: str = "toyworld", path: str | None = None, max_concepts: int | None = None,
                  topics: list[str] | None = None, seed: int = 0) -> list[Concept]:
    """Load concepts from one of ``SOURCES``.

    Args:
        source: ``toyworld`` | ``list`` | ``wordnet`` | ``conceptnet``.
        path: the list file, WordNet directory or ConceptNet CSV (not used by ``toyworld``).
        max_concepts: keep at most this many (a seeded sample for WordNet, the first ones otherwise).
        topics: toy-world topics to keep (``toyworld`` only).
        seed: seed of the WordNet sample.

    Raises:
        ConfigError: unknown source, or a path missing for a source that needs one.
    """
    if source == "toyworld":
        concepts = toyworld_concepts(topics)
    elif source in ("list", "wordnet", "conceptnet"):
        if not path:
            raise ConfigError(f"concept source {source!r} needs a path (concepts.path)")
        if source == "list":
            concepts = read_concept_list(path)
        elif source == "conceptnet":
            concepts = conceptnet_concepts(path, max_concepts=max_concepts)
        else:
            from difflens.encyclopedia.wordnet import wordnet_concepts

            concepts = wordnet_concepts(path, max_concepts=max_concepts, seed=seed)
    else:
        raise ConfigError(f"unknown concept source {source!r}; use one of {', '.join(SOURCES)}")
    return concepts[:max_concepts] if max_concepts else concepts
