"""Grounding plain-English descriptions in the toy world.

The offline assistant has no language model, so it reads a description ("The model talks
about the ocean far more often", "hedges its statements") by looking for the toy world's own
words: a topic's name, the words of its description and its nouns; a style's name, its
markers and a few synonyms. The result says which topics and styles a description is about
and whether it asks for more or less of them, and converts to a toy-world `Mixture`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from difflens.toyworld import STYLES, TOPICS, Mixture

# Words that say the behaviour appears less, not more.
NEGATION = re.compile(r"\b(less|fewer|rarely|seldom|never|avoids?|no longer|stops?|not|doesn't|don't|without)\b")

# Words that carry no topic: they occur in topic descriptions ("the ocean and the sea").
_FUNCTION_WORDS = frozenset("a an and the of to in on at by for with about its their".split())

# Synonyms a person may use for a style instead of its name or markers. Style names and
# markers come from the toy world; these words are this module's knowledge of English.
_STYLE_SYNONYMS = {
    "positive": "positive positivity warm cheerful happy upbeat optimistic enthusiastic praise",
    "negative": "negative negativity gloomy pessimistic sad unhappy complains complaining",
    "formal": "formal formality academic",
    "casual": "casual informal chatty slang",
    "hedging": "hedge hedges hedging hedged uncertainty uncertain tentative",
    "safety_disclaimer": "safety disclaimer disclaimers caution warnings warns",
    "refusal": "refusal refusals refuse refuses refusing declines decline",
    "exclamation": "exclamation exclamations exclaims exclamatory",
    "question": "question questions asks",
}


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters and apostrophes)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def _plural_forms(noun: str) -> tuple[str, ...]:
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun, noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun, noun[:-1] + "ies"
    return noun, noun + "s"


def _topic_cues() -> dict[str, frozenset[str]]:
    cues = {}
    for t in TOPICS:
        own = {t.name, *(w for w in words(t.description) if w not in _FUNCTION_WORDS)}
        own.update(f for n in t.nouns for f in _plural_forms(n))
        cues[t.name] = frozenset(own)
    return cues


def _style_cues() -> dict[str, tuple[frozenset[str], tuple[str, ...]]]:
    """Per style: single cue words, and multi-word marker phrases matched as phrases."""
    cues = {}
    for s in STYLES:
        single = set(s.name.split("_")) | set(_STYLE_SYNONYMS.get(s.name, "").split())
        phrases = []
        for m in s.markers:
            tokens = words(m)
            if len(tokens) == 1:
                single.add(tokens[0])
            else:
                phrases.append(" ".join(tokens))
        cues[s.name] = (frozenset(single), tuple(phrases))
    return cues


TOPIC_CUES = _topic_cues()
STYLE_CUES = _style_cues()
_STYLE_WORDS = frozenset(w for single, _ in STYLE_CUES.values() for w in single)


@dataclass(frozen=True)
class Grounding:
    """What a description is about in the toy world.

    Attributes:
        topics: topic names the description mentions, best match first.
        styles: style names the description mentions, best match first.
        negated: the description asks for less of them ("talks about the ocean less often").
    """

    topics: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    negated: bool = False

    @property
    def empty(self) -> bool:
        return not self.topics and not self.styles

    def mixture(self) -> Mixture:
        """The toy-world mixture of texts that show the described behaviour.

        More of a topic: only that topic (or those topics); less: every other topic. More of a
        style: probability 1; less: probability 0. Unnamed styles keep their base rate.
        """
        topics = None
        if self.topics:
            if self.negated:
                topics = {t.name: 1.0 for t in TOPICS if t.name not in self.topics}
            else:
                topics = {name: 1.0 for name in self.topics}
        styles = {name: 0.0 if self.negated else 1.0 for name in self.styles}
        # Two styles of one exclusive group cannot both have probability 1: keep the best match.
        by_group: dict[str, str] = {}
        for name in self.styles:
            group = next(s.group for s in STYLES if s.name == name)
            if not self.negated and group in by_group:
                del styles[name]
            by_group.setdefault(group, name)
        return Mixture(topics=topics, styles=styles or None)


def ground(description: str) -> Grounding:
    """Find the toy-world topics and styles a plain-English description is about.

    A word counts for a style if it is the style's name, a synonym or a marker, and otherwise
    for a topic if it is the topic's name, a word of its description or one of its nouns
    (singular or plural). Multi-word markers ("it seems that") match as phrases.
    """
    tokens = words(description)
    joined = " " + " ".join(tokens) + " "
    style_score: dict[str, int] = {}
    for name, (single, phrases) in STYLE_CUES.items():
        score = sum(tok in single for tok in tokens) + sum(2 * joined.count(f" {p} ") for p in phrases)
        if score:
            style_score[name] = score
    topic_score: dict[str, int] = {}
    for name, cues in TOPIC_CUES.items():
        score = sum(tok in cues and tok not in _STYLE_WORDS for tok in tokens)
        if score:
            topic_score[name] = score
    ranked = lambda scores: tuple(sorted(scores, key=lambda n: (-scores[n], n)))  # noqa: E731
    return Grounding(ranked(topic_score), ranked(style_score), bool(NEGATION.search(description.lower())))
