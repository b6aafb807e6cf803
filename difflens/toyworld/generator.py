"""A deterministic generator of English-like documents over known topics and styles.

A document is 2-4 sentences about one topic, with zero or more style attributes applied.
Document ``i`` of a world with seed ``s`` depends only on ``(s, i)`` and the mixture, so any
shard of a corpus can be generated independently (one shard per DDP rank) and regenerated
exactly.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from difflens.errors import ConfigError, unknown_name
from difflens.toyworld.vocabulary import STYLES, TOPICS, Style, Topic, third_person

TOPIC_BY_NAME: dict[str, Topic] = {t.name: t for t in TOPICS}
STYLE_BY_NAME: dict[str, Style] = {s.name: s for s in STYLES}
WORD_TO_TOPIC: dict[str, str] = {w: t.name for t in TOPICS for w in t.words}
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(t.category for t in TOPICS))

# Neutral sentence frames. {n1}/{n2}: nouns, {v}: base verb, {v3}: third person, {adj}/{adj2}.
_FRAMES = (
    "the {adj} {n1} {v3} the {n2}",
    "a {n1} {v3} near the {adj} {n2}",
    "every {n1} {v3} when the {n2} is {adj}",
    "people say the {n1} is {adj} and the {n2} is {adj2}",
    "we saw a {adj} {n1} beside the {n2}",
    "the {n1} and the {n2} {v} together",
    "nobody knew why the {n1} {v3} so often",
    "in the morning the {n1} {v3} the {adj} {n2}",
    "my friend found a {adj} {n1} by the {n2}",
    "the story of the {n1} begins with a {adj} {n2}",
    "there is a {adj} {n1} that {v3} the {n2}",
    "after the {n2} the {n1} {v3} again",
)
_POSITIVE = ("it is wonderful how the {n1} {v3} the {n2}", "what a delightful {n1}",
             "i love the {adj} {n1}", "the {n1} was fantastic today", "the {n2} is a joy to see",
             "such a lovely {n1}", "the {n1} looked brilliant")
_NEGATIVE = ("it is terrible how the {n1} {v3} the {n2}", "what an awful {n1}",
             "i hate the {adj} {n1}", "the {n1} was disappointing today", "the {n2} is dreadful",
             "such a miserable {n1}")
_FORMAL_LEADS = ("furthermore,", "moreover,", "consequently,", "it is noteworthy that", "one notes that")
_CASUAL_LEADS = ("honestly,", "you know,", "so yeah,")
_CASUAL_TAILS = (" lol", ", kinda", ", gonna say it")
_HEDGES = ("perhaps", "it seems that", "possibly", "i think", "it is unclear whether")
_DISCLAIMERS = ("please be careful with the {n1}", "consult an expert before you {v} the {n2}",
                "try this at your own risk", "safety first around the {n1}")
_REFUSALS = ("i am sorry, but i cannot talk about the {n1}", "i cannot help with anything about the {n2}",
             "i must decline to discuss the {adj} {n1}")
_EXCLAMATIONS = ("wow!", "oh!", "look!")
_QUESTIONS = ("did you know that", "have you ever wondered whether", "who would guess that")

# Order in which styles transform a document: refusal replaces the content first, the
# disclaimer is appended last.
_APPLY_ORDER = ("refusal", "positive", "negative", "question", "hedging", "formal", "casual",
                "exclamation", "safety_disclaimer")


@dataclass
class Mixture:
    """A distribution over documents: topic weights and style probabilities.

    Attributes:
        topics: relative topic weights; ``None`` means uniform over every topic.
        styles: per-document probability of each named style. Styles not named keep their
            base rate when ``default_styles`` is true, else 0. Styles in one group exclude each
            other; named probabilities win and unnamed ones in the group shrink to fit.
        default_styles: whether unnamed styles appear at their base rate.
    """

    topics: dict[str, float] | None = None
    styles: dict[str, float] | None = None
    default_styles: bool = True

    def __post_init__(self) -> None:
        for name, w in (self.topics or {}).items():
            if name not in TOPIC_BY_NAME:
                raise unknown_name("topic", name, TOPIC_BY_NAME)
            if not w >= 0:
                raise ConfigError(f"topic weight for {name!r} must be >= 0, got {w}")
        if self.topics is not None and sum(self.topics.values()) <= 0:
            raise ConfigError("topic weights sum to 0: give at least one topic a positive weight")
        for name, p in (self.styles or {}).items():
            if name not in STYLE_BY_NAME:
                raise unknown_name("style", name, STYLE_BY_NAME)
            if not 0 <= p <= 1:
                raise ConfigError(f"style probability for {name!r} must be in [0, 1], got {p}")
        for group, named in self._named_by_group().items():
            if sum(named.values()) > 1 + 1e-9:
                raise ConfigError(f"styles {sorted(named)} exclude each other (group {group!r}); "
                                  f"their probabilities must sum to at most 1")

    @classmethod
    def from_spec(cls, spec: Mapping | Mixture | None) -> Mixture:
        """Build from a ``{topics: {...}, styles: {...}}`` mapping (as in YAML)."""
        if isinstance(spec, Mixture):
            return spec
        spec = dict(spec or {})
        unknown = set(spec) - {"topics", "styles", "default_styles"}
        if unknown:
            raise ConfigError(f"unknown mixture keys {sorted(unknown)}; use topics, styles, default_styles")
        return cls(**spec)

    def _named_by_group(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name, p in (self.styles or {}).items():
            out.setdefault(STYLE_BY_NAME[name].group, {})[name] = p
        return out

    def topic_weights(self) -> tuple[list[str], list[float]]:
        weights = self.topics or {t.name: 1.0 for t in TOPICS}
        names = [n for n, w in weights.items() if w > 0]
        return names, [weights[n] for n in names]

    def style_groups(self) -> dict[str, list[tuple[str, float]]]:
        """Per exclusive group, the (style, probability) choices; the rest is "none"."""
        named = self.styles or {}
        groups: dict[str, list[tuple[str, float]]] = {}
        for style in STYLES:
            groups.setdefault(style.group, [])
        for group, members in groups.items():
            in_group = [s for s in STYLES if s.group == group]
            fixed = {s.name: named[s.name] for s in in_group if s.name in named}
            free = {s.name: s.base_rate for s in in_group if s.name not in named and self.default_styles}
            room = 1.0 - sum(fixed.values())
            scale = min(1.0, room / sum(free.values())) if free and sum(free.values()) > 0 else 1.0
            members.extend(fixed.items())
            members.extend((n, p * scale) for n, p in free.items())
        return groups


@dataclass
class Document:
    """A generated document and the labels it was generated with."""

    text: str
    topic: str
    styles: tuple[str, ...]
    index: int


@dataclass
class Annotation:
    """What a text's words reveal: topic word counts and the styles whose markers occur."""

    topic_counts: Counter = field(default_factory=Counter)
    styles: frozenset[str] = frozenset()

    @property
    def topic(self) -> str | None:
        """The topic with most words (ties broken by name), or None if no topic word occurs."""
        if not self.topic_counts:
            return None
        return min(self.topic_counts, key=lambda t: (-self.topic_counts[t], t))


class _Sentence:
    """A sentence under construction: lead phrases, body, tail, end punctuation."""

    def __init__(self, body: str):
        self.leads: list[str] = []
        self.body = body
        self.tail = ""
        self.end = "."

    def render(self) -> str:
        text = " ".join([*self.leads, self.body]) + self.tail + self.end
        text = re.sub(r"\ba ([aeiou])", r"an \1", text)
        text = re.sub(r"\bi\b", "I", text)
        return text[0].upper() + text[1:]


class ToyWorld:
    """Seedable generator of toy-world documents.

    Args:
        seed: world seed; document ``i`` depends only on ``(seed, i)`` and the mixture.
        sentences_per_document: inclusive range of sentences per document.
    """

    def __init__(self, seed: int = 0, sentences_per_document: tuple[int, int] = (2, 4)):
        lo, hi = sentences_per_document
        if not 1 <= lo <= hi:
            raise ConfigError(f"sentences_per_document must satisfy 1 <= min <= max, got {sentences_per_document}")
        self.seed = seed
        self.sentences_per_document = (lo, hi)

    def document(self, index: int, mixture: Mixture | Mapping | None = None) -> Document:
        """Document number ``index`` under ``mixture``."""
        mixture = Mixture.from_spec(mixture)
        rng = random.Random(f"toyworld:{self.seed}:{index}")
        names, weights = mixture.topic_weights()
        topic = TOPIC_BY_NAME[rng.choices(names, weights)[0]]
        styles = self._draw_styles(rng, mixture)
        n = rng.randint(*self.sentences_per_document)
        sentences = [_Sentence(self._fill(rng.choice(_FRAMES), topic, rng)) for _ in range(n)]
        for name in _APPLY_ORDER:
            if name in styles:
                sentences = _STYLE_APPLIERS[name](self, sentences, topic, rng)
        return Document(" ".join(s.render() for s in sentences), topic.name, tuple(sorted(styles)), index)

    def documents(self, n: int, mixture: Mixture | Mapping | None = None, start: int = 0) -> list[Document]:
        """Documents ``start .. start + n - 1``."""
        mixture = Mixture.from_spec(mixture)
        return [self.document(i, mixture) for i in range(start, start + n)]

    def iter_documents(self, mixture: Mixture | Mapping | None = None, start: int = 0) -> Iterator[Document]:
        mixture = Mixture.from_spec(mixture)
        i = start
        while True:
            yield self.document(i, mixture)
            i += 1

    @staticmethod
    def _draw_styles(rng: random.Random, mixture: Mixture) -> set[str]:
        chosen = set()
        for members in mixture.style_groups().values():
            u = rng.random()
            for name, p in members:
                if u < p:
                    chosen.add(name)
                    break
                u -= p
        return chosen

    @staticmethod
    def _fill(frame: str, topic: Topic, rng: random.Random) -> str:
        n1, n2 = rng.sample(topic.nouns, 2)
        adj, adj2 = rng.sample(topic.adjectives, 2)
        verb = rng.choice(topic.verbs)
        return frame.format(n1=n1, n2=n2, adj=adj, adj2=adj2, v=verb, v3=third_person(verb))

    # Style transformations: each takes and returns the sentence list.
    def _positive(self, s, topic, rng):
        return _insert(s, _Sentence(self._fill(rng.choice(_POSITIVE), topic, rng)), rng)

    def _negative(self, s, topic, rng):
        return _insert(s, _Sentence(self._fill(rng.choice(_NEGATIVE), topic, rng)), rng)

    def _formal(self, s, topic, rng):
        for sent in s:
            sent.leads.insert(0, rng.choice(_FORMAL_LEADS))
        return s

    def _casual(self, s, topic, rng):
        s[0].leads.insert(0, rng.choice(_CASUAL_LEADS))
        s[-1].tail = rng.choice(_CASUAL_TAILS)
        return s

    def _hedging(self, s, topic, rng):
        for sent in s:
            if rng.random() < 0.7 or sent is s[0]:
                sent.leads.append(rng.choice(_HEDGES))
        return s

    def _question(self, s, topic, rng):
        for sent in s:
            if rng.random() < 0.6 or sent is s[-1]:
                sent.leads.insert(0, rng.choice(_QUESTIONS))
                sent.end = "?"
        return s

    def _exclamation(self, s, topic, rng):
        for sent in s:
            if sent.end == ".":
                sent.end = "!"
        wow = _Sentence(rng.choice(_EXCLAMATIONS)[:-1])
        wow.end = "!"
        return [wow, *s]

    def _refusal(self, s, topic, rng):
        return [_Sentence(self._fill(r, topic, rng)) for r in rng.sample(_REFUSALS, rng.randint(1, 2))]

    def _safety_disclaimer(self, s, topic, rng):
        return [*s, _Sentence(self._fill(rng.choice(_DISCLAIMERS), topic, rng))]

    # ---- reading texts back -------------------------------------------------------------

    @staticmethod
    def topic(text: str) -> str | None:
        """``annotate(text).topic`` without the style markers: the topic with most words."""
        counts = Counter(WORD_TO_TOPIC[w] for w in _WORD.findall(text.lower()) if w in WORD_TO_TOPIC)
        return min(counts, key=lambda t: (-counts[t], t)) if counts else None

    @staticmethod
    def annotate(text: str) -> Annotation:
        """Count topic words and detect style markers in any text (generated or sampled)."""
        lower = text.lower()
        counts = Counter(WORD_TO_TOPIC[w] for w in re.findall(r"[a-z]+", lower) if w in WORD_TO_TOPIC)
        styles = frozenset(name for name, pattern in _MARKER_PATTERNS.items() if pattern.search(lower))
        return Annotation(counts, styles)


def _insert(sentences: list[_Sentence], new: _Sentence, rng: random.Random) -> list[_Sentence]:
    i = rng.randint(0, len(sentences))
    return [*sentences[:i], new, *sentences[i:]]


_WORD = re.compile(r"[a-z]+")


def marker_pattern(markers: Iterable[str]) -> re.Pattern:
    """A pattern finding any of ``markers`` in lower-case text, as written (punctuation
    included: "you know," is not in "did you know that") and as whole words ("lol" is not
    in "lollipop")."""
    return re.compile("|".join(rf"(?<![a-z]){re.escape(m)}(?![a-z])" for m in markers))


_MARKER_PATTERNS = {s.name: marker_pattern(s.markers) for s in STYLES}

_STYLE_APPLIERS = {name: getattr(ToyWorld, f"_{name}") for name in _APPLY_ORDER}


def corpus_statistics(texts: Iterable[str]) -> dict[str, dict[str, float]]:
    """Share of texts per dominant topic and per detected style.

    Returns ``{"topics": {name: share}, "styles": {name: share}, "n": count}`` with every
    topic and style present (0.0 where absent), so two corpora compare key by key.
    """
    topic_n: Counter = Counter()
    style_n: Counter = Counter()
    n = 0
    for text in texts:
        n += 1
        ann = ToyWorld.annotate(text)
        if ann.topic is not None:
            topic_n[ann.topic] += 1
        style_n.update(ann.styles)
    denom = max(n, 1)
    return {
        "topics": {t.name: topic_n[t.name] / denom for t in TOPICS},
        "styles": {s.name: style_n[s.name] / denom for s in STYLES},
        "n": n,
    }
