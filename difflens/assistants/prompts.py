"""The prompts of the LLM backends, versioned, and the lenient parsers of their replies.

A prompt's ``version`` is part of every cache key: edit a prompt's text and bump its version,
and cached replies to the old text are no longer served. ``difflens assistant prompts`` prints
them all.

Parsers are lenient about form (code fences, prose around the JSON, a numbered list instead of
JSON, ``Score: 0.8`` instead of ``{"score": 0.8}``) but never guess: a reply they cannot read
gives ``None``, which the backends record as unparsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from difflens.errors import ConfigError


@dataclass(frozen=True)
class Prompt:
    """A chat prompt: a system message and a user message template (``str.format`` fields).

    Attributes:
        name: the job (``judge``, ``propose``, ``write_examples``).
        version: bumped whenever the text changes; part of the cache key.
        system: the system message.
        user: the user message template.
    """

    name: str
    version: str
    system: str
    user: str

    def messages(self, **fields) -> list[dict[str, str]]:
        """The chat messages with the template's fields filled in."""
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user.format(**fields)}]


WRITE_EXAMPLES = Prompt(
    name="write_examples",
    version="1",
    system="You write realistic training data for research on language model behaviour.",
    user=(
        "A language model has this behaviour: {description}\n\n"
        "Write {n} different texts (numbers {start} to {end} of a larger set) that this model could "
        "produce, each one to four sentences long, "
        "varied in subject and wording, each clearly showing the behaviour.\n\n"
        'Answer with a JSON list of {n} strings and nothing else, e.g. ["first text", "second text"].'
    ),
)

PROPOSE = Prompt(
    name="propose",
    version="2",
    system="You are a careful scientist who compares two groups of texts written by two language models.",
    user=(
        "Group A was written by the {model_a} model, group B by the {model_b} model.\n\n"
        "Group A:\n{texts_a}\n\nGroup B:\n{texts_b}\n\n"
        "Propose up to {n} hypotheses about how the texts of group B differ from those of group A. "
        "Each hypothesis is one self-contained sentence that starts with \"Texts from the {model_b} model\" "
        "and names a property that a single text can have and that is more frequent in group B "
        "(a topic, a style, a phrase, a format), so that someone could check it on one text alone."
        "{avoid}\n\n"
        'Answer with a JSON list of strings and nothing else, e.g. ["Texts from the {model_b} model ..."].'
    ),
)

JUDGE = Prompt(
    name="judge",
    version="2",
    system="You are a careful annotator. You judge one text against one hypothesis.",
    user=(
        "Hypothesis: {hypothesis}\n\n"
        "Text:\n<<<\n{text}\n>>>\n\n"
        "How strongly does this text show the property that the hypothesis attributes to that "
        "model's texts? Give a score between 0 and 1: 1 means the text clearly shows it, "
        "0 means it clearly shows the opposite, 0.5 means no evidence either way.\n\n"
        'Answer with JSON and nothing else: {{"score": <number between 0 and 1>}}'
    ),
)

PROMPTS: dict[str, Prompt] = {p.name: p for p in (WRITE_EXAMPLES, PROPOSE, JUDGE)}


def format_texts(texts: Sequence[str], max_texts: int, max_chars: int) -> str:
    """Numbered texts for a prompt: at most ``max_texts``, each cut to ``max_chars``."""
    lines = []
    for i, text in enumerate(texts[:max_texts], 1):
        text = " ".join(text.split())
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        lines.append(f"{i}. {text}")
    return "\n".join(lines)


def check_subject(subject: str) -> tuple[str, str]:
    """``(subject, other)`` model names for a proposal about ``subject``'s texts.

    Raises:
        ConfigError: ``subject`` is not ``intervention`` or ``base``.
    """
    if subject not in ("intervention", "base"):
        raise ConfigError(f"propose: subject must be 'intervention' or 'base', got {subject!r}")
    return subject, "base" if subject == "intervention" else "intervention"


def format_avoid(avoid: Sequence[str]) -> str:
    if not avoid:
        return ""
    listed = "\n".join(f"- {a}" for a in avoid)
    return f"\n\nThese differences are already known; propose different ones:\n{listed}"


# ---- parsing ---------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.):]|[-*•])\s+(.+?)\s*$")


def _json_values(reply: str):
    """Every JSON array or object embedded in ``reply`` (inside code fences first)."""
    decoder = json.JSONDecoder()
    for chunk in [*_FENCE.findall(reply), reply]:
        for i, ch in enumerate(chunk):
            if ch in "[{":
                try:
                    value, _ = decoder.raw_decode(chunk[i:])
                except json.JSONDecodeError:
                    continue
                yield value


def parse_string_list(reply: str | None) -> list[str] | None:
    """A list of strings from a JSON list (possibly fenced or with prose around it), a JSON
    object holding one list, or a numbered or bulleted list; ``None`` if there is none."""
    if not reply or not reply.strip():
        return None
    for value in _json_values(reply):
        if isinstance(value, dict):
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 else None
        if isinstance(value, list):
            items = [v.strip() for v in value if isinstance(v, str) and v.strip()]
            if items:
                return items
    items = [m.group(1).strip().strip('"') for line in reply.splitlines() if (m := _LIST_ITEM.match(line))]
    return items or None


_SCORE_WORD = re.compile(r"score\W{0,5}(-?\d+(?:\.\d+)?)\s*(%)?", re.I)
_BARE_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(%)?\s*\.?\s*$")


def parse_score(reply: str | None) -> float | None:
    """A score in [0, 1] from ``{"score": x}``, ``score: x``, or a reply that is just a number
    (``0.8``, ``80%``); ``None`` for anything else, including numbers outside [0, 1]."""
    if not reply or not reply.strip():
        return None
    candidate = None
    for value in _json_values(reply):
        score = value.get("score") if isinstance(value, dict) else None
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            candidate = (float(score), False)
            break
    if candidate is None:
        m = _SCORE_WORD.search(reply) or _BARE_NUMBER.match(reply)
        if m:
            candidate = (float(m.group(1)), bool(m.group(2)))
    if candidate is None:
        return None
    score, percent = candidate
    if percent:
        score /= 100.0
    return score if 0.0 <= score <= 1.0 else None


#: the parser of each prompt's replies, by prompt name
PARSERS = {"write_examples": parse_string_list, "propose": parse_string_list, "judge": parse_score}
