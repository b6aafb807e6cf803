"""Targeted prompts for an area, built from the area's own content.

Four kinds, mixed in configurable shares:

- ``prefix``: the first few words of the area's texts (prompt plus continuation, the texts
  nearest the centroid first), so both models continue from inside the area;
- ``source``: the prompts that produced the area's texts (the empty prompt of free generation
  included), so the source that led there is sampled again with fresh seeds;
- ``paraphrase``: the first words of texts an assistant wrote to resemble the area's
  representatives, which reach the area from wording the models did not produce themselves;
- ``opening``: openings of the over-represented model's texts in the area that lead into it
  from outside, or, with scored texts, of its most divergent texts
  (`difflens.discovery.openings`), where a behaviour that follows certain openings only (a
  trigger) shows most: both models continue a prefix from inside alike.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from difflens.active.scoring import allocate_budget
from difflens.errors import ConfigError
from difflens.records import DecodedText

KINDS = ("prefix", "source", "paraphrase", "opening")


@dataclass
class TargetedPrompt:
    """A prompt aimed at an area.

    Attributes:
        text: the prompt.
        kind: ``prefix``, ``source``, ``paraphrase`` or ``opening``.
        origin: the text id it was cut from or whose prompt it is (``""`` for a paraphrase or
            an opening).
    """

    text: str
    kind: str
    origin: str = ""


def cut_prefix(text: str, n_words: int) -> str:
    """The first ``n_words`` words of ``text`` (all of it when shorter), spaces normalised."""
    return " ".join(text.split()[:n_words])


def targeted_prompts(members: Sequence[DecodedText], paraphrases: Sequence[str], n: int, rng: random.Random,
                     mix: dict[str, float], words: tuple[int, int] = (2, 6),
                     openings: Sequence[str] = ()) -> list[TargetedPrompt]:
    """``n`` prompts aimed at one area.

    Args:
        members: the area's texts, most representative (nearest the centroid) first.
        paraphrases: assistant-written texts resembling the area (may be empty).
        n: how many prompts.
        rng: random source (cut lengths, which members).
        mix: share of each kind (``prefix``, ``source``, ``paraphrase``, ``opening``); with
            no paraphrases their share goes to ``prefix``, with no openings theirs to ``source``.
        words: smallest and largest prefix length in words.
        openings: openings leading into the area (may be empty), used in order, cycled.

    Raises:
        ConfigError: an unknown kind, or an area with no texts.
    """
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise ConfigError(f"active.mix has unknown kind(s) {sorted(unknown)}; kinds: {list(KINDS)}")
    if not members:
        raise ConfigError("cannot target an area with no texts")
    shares = {k: float(mix.get(k, 0.0)) for k in KINDS}
    # a kind with no material passes its share on: paraphrases to prefixes (the area's own
    # wording), openings to sources (what led into the area)
    for kind, material, heir in (("paraphrase", paraphrases, "prefix"), ("opening", openings, "source")):
        if not material:
            shares[heir] += shares.pop(kind)
    kinds = list(shares)
    counts = dict(zip(kinds, allocate_budget([shares[k] for k in kinds], n, minimum=0)))
    # most representative first, but every member can be drawn: a prompt per member at most
    # until all have been used, then around again
    pool = list(members)
    out: list[TargetedPrompt] = []
    for i in range(counts.get("prefix", 0)):
        record = pool[i % len(pool)]
        document = f"{record.prompt} {record.text}".strip()
        out.append(TargetedPrompt(cut_prefix(document, rng.randint(*words)), "prefix", record.text_id))
    for i in range(counts.get("source", 0)):
        record = pool[rng.randrange(len(pool))] if i >= len(pool) else pool[i]
        out.append(TargetedPrompt(record.prompt, "source", record.text_id))
    for i in range(counts.get("paraphrase", 0)):
        out.append(TargetedPrompt(cut_prefix(paraphrases[i % len(paraphrases)], rng.randint(*words)), "paraphrase"))
    for i in range(counts.get("opening", 0)):
        out.append(TargetedPrompt(openings[i % len(openings)], "opening"))
    return out
