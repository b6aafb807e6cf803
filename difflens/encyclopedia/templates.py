"""Contexts for each stage: bare concepts, templates, toy-world sentences, contrastive pairs,
and descriptions that do not name the concept.

A `ConceptContext` carries the character span of the concept inside the text, so capture can
pool over the concept's own tokens. Contexts of one ``group`` (a template, a sentence frame)
always land on the same side of a train/validation split: splits are by context.

All templates here are written by this project. ``TRAIN_TEMPLATES`` feed stage 1;
``HELDOUT_TEMPLATES`` are reserved for evaluation and convergence checks and never trained on.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from difflens.encyclopedia.concepts import Concept, names_concept

TRAIN_TEMPLATES: tuple[str, ...] = (
    "The {c} was there.",
    "I saw a {c} yesterday.",
    "We talked about the {c} for an hour.",
    "Everyone knows what a {c} is.",
    "There is a {c} in the picture.",
    "She wrote a short note about the {c}.",
    "My friend has never seen a {c}.",
    "The book has a whole chapter on the {c}.",
    "A {c} can be surprising.",
    "He pointed at the {c} and smiled.",
    "They asked me about the {c} again.",
    "Nobody expected the {c} to be there.",
    "The word of the day is {c}.",
    "Look, a {c}!",
    "I keep thinking about the {c}.",
    "This story is about a {c}.",
)

HELDOUT_TEMPLATES: tuple[str, ...] = (
    "We learned about the {c} in school.",
    "The old man described the {c} in detail.",
    "Have you ever heard of a {c}?",
    "In the photo you can see a {c}.",
    "The teacher explained the {c} to the class.",
    "Someone left a note that mentioned the {c}.",
)

# Stage 2 offline contexts for concepts the toy world does not use (its own nouns get real
# toy-world sentences instead).
SENTENCE_FRAMES: tuple[str, ...] = (
    "In the morning the {c} looked different from the day before.",
    "My grandmother told me a story about a {c} and a long journey.",
    "After the rain, the {c} was the first thing we noticed.",
    "People say a {c} is easy to recognise once you know it.",
    "The museum had a small exhibit about the {c}.",
    "When I was young, I was afraid of the {c}.",
    "It took the whole afternoon to find the {c}.",
    "The children drew a {c} on the board.",
    "Nobody in the village had seen a {c} like that.",
    "The guide stopped to show us the {c}.",
)

CONTRASTIVE_TEMPLATES: tuple[str, ...] = (
    "This is a {c}, not a {other}.",
    "Unlike a {other}, a {c} belongs to {category}.",
    "Do not mistake the {c} for the {other}.",
    "The {other} was gone, but the {c} stayed.",
)

DESCRIPTION_TEMPLATES: tuple[str, ...] = (
    "{d}.",
    "It is {d}.",
    "I am thinking of {d}.",
)


@dataclass(frozen=True)
class ConceptContext:
    """One context to capture.

    Attributes:
        concept_index: index of the concept in the encyclopedia's concept list.
        text: the context.
        span: character span ``(start, end)`` of the concept in ``text``; None when the context
            does not name it (descriptions), which forces whole-context pooling.
        group: context group (template id); splits never cut a group.
    """

    concept_index: int
    text: str
    span: tuple[int, int] | None
    group: int = 0


def fix_articles(text: str) -> str:
    """``a apple`` -> ``an apple`` (by first letter, which is right for most nouns)."""
    text = re.sub(r"\b([Aa]) ([aeiouAEIOU])", lambda m: f"{m.group(1)}n {m.group(2)}", text)
    return text[:1].upper() + text[1:]


def find_span(text: str, name: str) -> tuple[int, int] | None:
    """Character span of the first whole-word occurrence of ``name`` in ``text``."""
    m = re.search(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", text, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def _named(concept_index: int, name: str, text: str, group: int) -> ConceptContext:
    span = find_span(text, name)
    if span is None:  # a template always contains the name; a bug if not
        raise ValueError(f"context {text!r} does not contain {name!r}")
    return ConceptContext(concept_index, text, span, group)


def bare_contexts(concepts: Sequence[Concept], indices: Sequence[int] | None = None,
                  prefix: str = " ") -> list[ConceptContext]:
    """Stage 0: the bare concept, one sample each.

    The name gets a leading space by default: byte-level BPE folds the space into the word's
    token (``Ġwave``), which is the form the word takes inside running text; without it the
    bare concept is a different token (``wave``) from the one every other context uses.
    """
    indices = range(len(concepts)) if indices is None else indices
    return [ConceptContext(i, prefix + concepts[i].name, (len(prefix), len(prefix) + len(concepts[i].name)), 0)
            for i in indices]


def template_contexts(concepts: Sequence[Concept], indices: Sequence[int], templates: Sequence[str],
                      n: int | None = None, group_offset: int = 0) -> list[ConceptContext]:
    """The first ``n`` templates (all by default) filled with each concept; group = template."""
    templates = list(templates)[: n or len(templates)]
    return [_named(i, concepts[i].name, fix_articles(t.format(c=concepts[i].name)), group_offset + g)
            for i in indices for g, t in enumerate(templates)]


def _group_of(text: str, name: str) -> int:
    # The frame of a sentence (with its concept masked) identifies its group.
    masked = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", "_", text.lower())
    return zlib.crc32(masked.encode()) & 0x7FFFFFFF


def toyworld_sentences(concepts: Sequence[Concept], indices: Sequence[int], n: int, seed: int = 0,
                       max_documents: int = 20000) -> list[ConceptContext]:
    """Stage 2 offline: ``n`` toy-world sentences that use each concept.

    Sentences come from toy-world documents (seed ``seed``, a document range the base model's
    default corpus does not start with), so they are real text of the world the model knows.
    Concepts the toy world does not use get `SENTENCE_FRAMES` instead.
    """
    from difflens.toyworld import WORD_TO_TOPIC, ToyWorld

    wanted = {concepts[i].name.lower(): i for i in indices}
    found: dict[int, list[str]] = {i: [] for i in indices}
    in_world = {name for name in wanted if name in WORD_TO_TOPIC}
    world = ToyWorld(seed)
    start = 10_000_000  # far from the documents a quickstart model is trained on
    for d in range(max_documents):
        if all(len(found[wanted[name]]) >= n for name in in_world):
            break
        text = world.document(start + d).text
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            words = set(re.findall(r"[a-z]+", sentence.lower()))
            for name in in_world & words:
                bucket = found[wanted[name]]
                if len(bucket) < n and sentence not in bucket:
                    bucket.append(sentence)
    out = []
    for i in indices:
        name = concepts[i].name
        sentences = found[i]
        if len(sentences) < n:
            rng = random.Random(f"{seed}:{name}")
            frames = rng.sample(SENTENCE_FRAMES, min(n - len(sentences), len(SENTENCE_FRAMES)))
            sentences = sentences + [fix_articles(f.format(c=name)) for f in frames]
        out.extend(_named(i, name, s, _group_of(s, name)) for s in sentences[:n])
    return out


def contrastive_contexts(concepts: Sequence[Concept], pairs: Sequence[tuple[int, int]],
                         n: int | None = None) -> list[ConceptContext]:
    """Stage 3: for each confused pair (a, b), contexts that name a against b and b against a.

    The span is the concept's own occurrence, so a's sample pools over a's tokens while the
    context holds b as the contrast.
    """
    templates = list(CONTRASTIVE_TEMPLATES)[: n or len(CONTRASTIVE_TEMPLATES)]
    out = []
    for a, b in pairs:
        for c, other in ((a, b), (b, a)):
            ca, cb = concepts[c], concepts[other]
            for g, t in enumerate(templates):
                text = fix_articles(t.format(c=ca.name, other=cb.name, category=ca.category or "its own kind"))
                span = _own_span(text, ca.name, cb.name)
                out.append(ConceptContext(c, text, span, g))
    return out


def _own_span(text: str, name: str, other: str) -> tuple[int, int]:
    """The first occurrence of ``name`` that is not inside an occurrence of ``other``."""
    pattern = r"(?<![A-Za-z]){}(?![A-Za-z])"
    others = [m.span() for m in re.finditer(pattern.format(re.escape(other)), text, flags=re.IGNORECASE)]
    for m in re.finditer(pattern.format(re.escape(name)), text, flags=re.IGNORECASE):
        if not any(a <= m.start() and m.end() <= b for a, b in others):
            return m.span()
    raise ValueError(f"context {text!r} does not contain {name!r} on its own")


def description_contexts(concepts: Sequence[Concept], indices: Sequence[int] | None = None,
                         templates: Sequence[str] = DESCRIPTION_TEMPLATES) -> list[ConceptContext]:
    """The hard task: contexts that describe the concept without naming it (span None).

    Concepts without a definition, or whose definition still names them, are skipped.
    """
    indices = range(len(concepts)) if indices is None else indices
    out = []
    for i in indices:
        d = concepts[i].definition.strip().rstrip(".")
        if not d or names_concept(d, concepts[i].name):
            continue
        for g, t in enumerate(templates):
            out.append(ConceptContext(i, fix_articles(t.format(d=d)), None, g))
    return out
