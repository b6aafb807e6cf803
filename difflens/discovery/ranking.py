"""Write hypotheses strongest first: each judged on one sample of proposal-split texts.

SAFFRON tests hypotheses in the order discovery writes them. Its first levels are small
(0.0055 with onlineFDR's defaults) and grow only as discoveries return wealth, while every
hypothesis that is not a discovery uses some up: a true hypothesis proposed after a few false
ones is tested at a tenth of the level it would have had first. The order in which proposers
happen to run (cluster pairs, then the global contrast, then the discriminative stage) says
nothing about which hypotheses are true.

So, as the last step of proposal, the judge scores every hypothesis on the same random sample
of untargeted proposal-split texts of each model, and hypotheses are written in decreasing
order of the evidence for their direction: the difference of the two flag rates (score above
``threshold``) in standard errors. Hypotheses keep their order among equals, so a conditional
twin stays right after its unconditional statement.

Validity (../shared/DESIGN.md): the sample is drawn from the proposal side of discovery's
split and joins every hypothesis's ``proposal_text_ids``, so validation never uses a text that
decided the order; the order is fixed, with the hypotheses, before validation starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from difflens.errors import ConfigError
from difflens.records import MODELS, DecodedText, Hypothesis


@dataclass(frozen=True)
class RankSettings:
    """How hypotheses are ordered before they are written.

    Attributes:
        texts_per_side: proposal-split texts judged per model for every hypothesis (the same
            texts for all); 0 keeps the order in which the proposers ran.
        threshold: a text is flagged when the judge scores it above this (the validator's
            ``positive_threshold``).
    """

    texts_per_side: int = 0
    threshold: float = 0.75

    def __post_init__(self) -> None:
        if self.texts_per_side < 0:
            raise ConfigError(f"proposal.rank.texts_per_side must be >= 0, got {self.texts_per_side}")
        if not 0 <= self.threshold < 1:
            raise ConfigError(f"proposal.rank.threshold must be in [0, 1), got {self.threshold}")


def rank_statistic(flagged_direction: int, n_direction: int, flagged_other: int, n_other: int) -> float:
    """``(p1 - p0) / se``: the direction model's flag rate over the other's, in standard errors
    (rates with half a pseudo-count each way, so that none is 0 or 1)."""
    p1 = (flagged_direction + 0.5) / (n_direction + 1)
    p0 = (flagged_other + 0.5) / (n_other + 1)
    return (p1 - p0) / math.sqrt(p1 * (1 - p1) / (n_direction + 1) + p0 * (1 - p0) / (n_other + 1))


def rank_hypotheses(assistant, hypotheses: Sequence[Hypothesis], sample: dict[str, Sequence[DecodedText]],
                    threshold: float) -> tuple[list[Hypothesis], list[dict], dict[str, str]]:
    """``hypotheses`` in decreasing order of `rank_statistic` on ``sample``, renumbered.

    Args:
        assistant: an `Assistant` (``judge_batch(statement, texts)``).
        hypotheses: in the order they were proposed.
        sample: proposal-split texts per model (`MODELS` keys), the same for every hypothesis.
        threshold: flag level of a judge score.

    Returns:
        The hypotheses with ``order`` 0, 1, ... and ids ``h0001``, ... in the new order, each
        with the sample's ids added to its ``proposal_text_ids``; one row per hypothesis (new
        id, id before ranking, flag counts, statistic), in the new order; old id -> new id.
    """
    sample_ids = [t.text_id for m in MODELS for t in sample[m]]
    counts: dict[str, dict] = {}
    for statement in dict.fromkeys(h.text for h in hypotheses):  # a conditional twin shares its statement
        counts[statement] = {}
        for model in MODELS:
            scores = [s for s in assistant.judge_batch(statement, [t.text for t in sample[model]]) if s is not None]
            counts[statement][model] = (sum(s > threshold for s in scores), len(scores))

    def statistic(h: Hypothesis) -> float:
        other = MODELS[1] if h.direction == MODELS[0] else MODELS[0]
        return rank_statistic(*counts[h.text][h.direction], *counts[h.text][other])

    ranked = sorted(hypotheses, key=lambda h: -statistic(h))
    renamed = {h.hypothesis_id: f"h{i + 1:04d}" for i, h in enumerate(ranked)}
    rows = [{"hypothesis_id": renamed[h.hypothesis_id], "proposed_as": h.hypothesis_id,
             "flagged": {m: list(counts[h.text][m]) for m in MODELS}, "statistic": round(statistic(h), 4)}
            for h in ranked]
    out = [replace(h, hypothesis_id=renamed[h.hypothesis_id], order=i,
                   proposal_text_ids=list(dict.fromkeys([*h.proposal_text_ids, *sample_ids])))
           for i, h in enumerate(ranked)]
    return out, rows, renamed


def rename_ids(text: str, renamed: dict[str, str]) -> str:
    """``text`` with every hypothesis id (``h0001``, ...) in it replaced by its new id."""
    return re.sub(r"\bh\d{4,}\b", lambda m: renamed.get(m.group(), m.group()), text)
