"""``n_per_model: auto``: each hypothesis's number of judgements, chosen from a pilot on
proposal-split texts before validation starts.

For each hypothesis, in proposal order, the judge scores a sample of *pilot* texts of each
model: texts on the proposal side of discovery's split (or shown to a proposer), never
held-out ones. Their flag rates (score above the validator's ``positive_threshold``) give the
effect the test has to detect, and n is the smallest number of texts per model (pairs, for
the paired test) whose exact power reaches the target at the planning level, clamped to
``[n_min, n_max]``. For the paired test the pilot is made of same-prompt pairs whose two texts
are both on the proposal side, and the effect is their discordance rates: how often the pair is
flagged on the direction side only and on the other side only, which is what the test's power
depends on (pairing removes the concordant pairs, often most of them).

The pilot texts are then barred from validation (`allocate`'s ``reserved``), the n are written
into ``plan.jsonl`` with the pilot counts, and validation judges exactly that many unused
held-out texts: pilot judgements are not validation judgements and never enter a p-value.

Validity: n depends only on pilot texts, which no hypothesis is validated on, so given the n
every hypothesis's p-value is still computed on its own unused held-out texts; a null p-value
stays super-uniform and independent of the others, which is what SAFFRON needs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from difflens.errors import ConfigError
from difflens.records import MODELS, DecodedText, Hypothesis
from difflens.stats.power import fisher_power, paired_power, saffron_first_level, smallest_sample_size
from difflens.validation.plan import complete_pairs

#: the tests whose power can be planned from flag rates
PLANNED_TESTS = ("fisher", "paired")


@dataclass(frozen=True)
class AutoSampleSize:
    """How ``n_per_model: auto`` chooses each hypothesis's n (texts per model; pairs for the
    paired test).

    Attributes:
        n_min: the least n; also what a hypothesis gets whose pilot shows a large effect.
        n_max: the most n; what a hypothesis gets whose pilot shows an effect within its
            margin of noise, or one too small to reach the target power within it. A
            hypothesis whose pilot shows no effect at all (or the reverse) gets ``n_min``.
        power: target power at ``planning_alpha`` for the effect the pilot shows.
        planning_alpha: the level n is planned for. Default: SAFFRON's first level with
            onlineFDR's defaults, (1 - λ)·w0·γ_1 = 0.5 · 0.025 · 0.4375 = 0.0055, which every
            hypothesis keeps until the first discovery as long as the earlier ones are candidates
            (p <= λ). Levels are only known as p-values come in, while n must be fixed before any,
            so one fixed level is used; set it to your own SAFFRON settings' first level
            (`difflens.stats.saffron_first_level`).
        pilot_per_model: pilot texts judged per model per hypothesis (pairs, for the paired
            test; the same pilot texts for every hypothesis; none is ever judged for validation).
        proposal_fraction: discovery's proposal split (its ``proposal.proposal_fraction``): the
            pilot draws from the texts this split puts on the proposal side, a random share of
            the texts, so the flag rates are unbiased. null: only texts shown to a proposer, which
            were chosen because they differ, so the effect comes out larger and n smaller.
        proposal_seed: discovery's ``seed`` (the seed of its proposal split).
        effect_margin: standard errors of the pilot's effect taken off it before planning. The
            pilot's estimate is as often too large as too small, and a too large one gives an n
            short of the target power; 0 plans for the estimate itself (realised power then falls
            short of the target on average: bench/validation_power.txt).
    """

    n_min: int = 50
    n_max: int = 600
    power: float = 0.9
    planning_alpha: float = round(saffron_first_level(), 4)
    pilot_per_model: int = 100
    proposal_fraction: float | None = None
    proposal_seed: int = 0
    effect_margin: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.n_min <= self.n_max:
            raise ConfigError(f"data.auto_n needs 1 <= n_min <= n_max, got n_min={self.n_min}, n_max={self.n_max}")
        if not 0 < self.power < 1:
            raise ConfigError(f"data.auto_n.power must be in (0, 1), got {self.power}")
        if not 0 < self.planning_alpha < 1:
            raise ConfigError(f"data.auto_n.planning_alpha must be in (0, 1), got {self.planning_alpha}")
        if self.pilot_per_model < 1:
            raise ConfigError(f"data.auto_n.pilot_per_model must be >= 1, got {self.pilot_per_model}")
        if self.effect_margin < 0:
            raise ConfigError(f"data.auto_n.effect_margin must be >= 0, got {self.effect_margin}")
        if self.proposal_fraction is not None and not 0 < self.proposal_fraction < 1:
            raise ConfigError(f"data.auto_n.proposal_fraction must be in (0, 1) or null, got {self.proposal_fraction}")


def pilot_texts(hypotheses: Sequence[Hypothesis], texts: Sequence[DecodedText], settings: AutoSampleSize,
                seed: int, paired: bool = False) -> dict[str, list[DecodedText]]:
    """Up to ``pilot_per_model`` proposal-split texts per model, seeded: texts shown to any
    proposer and, with ``proposal_fraction``, every text discovery's split put on the proposal
    side. Never a text outside both: those are the held-out texts.

    With ``paired``, up to ``pilot_per_model`` same-prompt pairs whose two texts are both on the
    proposal side; ``out["base"][i]`` and ``out["intervention"][i]`` are pair i.
    """
    from difflens.discovery.proposal import in_proposal_pool

    shown = {i for h in hypotheses for i in h.proposal_text_ids}
    side = sorted((t for t in texts if t.text_id in shown or (
        settings.proposal_fraction is not None
        and in_proposal_pool(t.text_id, settings.proposal_fraction, settings.proposal_seed))),
        key=lambda t: t.text_id)
    if paired:
        pairs = complete_pairs(side)
        keys = sorted(pairs)
        random.Random(f"{seed}:pilot:pairs").shuffle(keys)
        keys = keys[:settings.pilot_per_model]
        return {model: [pairs[k][model] for k in keys] for model in MODELS}
    out = {}
    for model in MODELS:
        mine = [t for t in side if t.model == model]
        random.Random(f"{seed}:pilot:{model}").shuffle(mine)
        out[model] = mine[:settings.pilot_per_model]
    return out


def flag_rate(flagged: int, n: int) -> float:
    """``(flagged + 1/2) / (n + 1)``: the pilot's rate with half a pseudo-count each way, so
    a pilot that flags nothing on one side still implies a finite n."""
    return (flagged + 0.5) / (n + 1)


def check_planned_test(test: str) -> str:
    """``test`` if n can be planned for it; a `ConfigError` naming the flags otherwise."""
    if test not in PLANNED_TESTS:
        raise ConfigError(f"data.n_per_model=auto plans for the tests {PLANNED_TESTS}, not model.test={test!r}; "
                          f"set model.test to one of them or give data.n_per_model a number")
    return test


def choose_sample_size(test: str, pilot_counts: dict, settings: AutoSampleSize) -> dict:
    """n for one hypothesis from its pilot counts, with what it was chosen from.

    Args:
        test: ``fisher`` or ``paired``.
        pilot_counts: for ``fisher``, ``{"direction": k1, "n_direction": n1, "other": k0,
            "n_other": n0}``: pilot texts flagged per model (the hypothesis's direction model
            and the other); for ``paired``, ``{"pairs": m, "direction_only": b, "other_only":
            c}``: pilot pairs and those flagged on one side only.
        settings: the bounds, target power and planning level.

    Returns:
        ``{"n_per_model", "rates", "power", "planning_alpha", "pilot"}``: ``rates`` are the
        rates planned for (flag rates per side, or discordance rates: the pilot's, smoothed,
        with the direction side's lowered by ``effect_margin`` standard errors of the
        difference), ``power`` the planned power at the chosen n (below target when n_max caps
        it).
    """
    alpha = settings.planning_alpha
    if check_planned_test(test) == "fisher":
        p1 = flag_rate(pilot_counts["direction"], pilot_counts["n_direction"])
        p0 = flag_rate(pilot_counts["other"], pilot_counts["n_other"])
        supported = p1 > p0
        variance = p1 * (1 - p1) / max(pilot_counts["n_direction"], 1) + p0 * (1 - p0) / max(pilot_counts["n_other"], 1)
        p1 = max(p0, p1 - settings.effect_margin * variance ** 0.5)
        rates = {"p_direction": p1, "p_other": p0}

        def power(k: int) -> float:
            return fisher_power(p1, p0, k, alpha)
    else:
        p1 = flag_rate(pilot_counts["direction_only"], pilot_counts["pairs"])
        p0 = flag_rate(pilot_counts["other_only"], pilot_counts["pairs"])
        supported = p1 > p0
        variance = (p1 + p0 - (p1 - p0) ** 2) / max(pilot_counts["pairs"], 1)  # of the mean paired difference
        p1 = max(p0, p1 - settings.effect_margin * variance ** 0.5)
        rates = {"p_direction_only": p1, "p_other_only": p0}

        def power(k: int) -> float:
            return paired_power(p1, p0, k, alpha)
    if not supported:
        # the pilot points the other way or nowhere: the hypothesis is most likely false, and
        # n_min is all it is worth (texts are the budget every later hypothesis draws on)
        n = settings.n_min
    elif p1 <= p0:
        # an effect within the margin of noise: no n reaches the target, so spend the most allowed
        n = settings.n_max
    else:
        n = smallest_sample_size(power, settings.power, settings.n_min, settings.n_max)
    return {"n_per_model": n, "rates": {k: round(v, 6) for k, v in rates.items()}, "power": round(power(n), 6),
            "planning_alpha": alpha, "pilot": dict(pilot_counts)}


def pilot_counts(hypothesis: Hypothesis, scores: dict[str, float | None], pilot: dict[str, list[DecodedText]],
                 positive_threshold: float, paired: bool = False) -> dict:
    """The pilot counts `choose_sample_size` takes, for one hypothesis (``scores``: text id ->
    score; an unusable or missing score is left out, and with it, when ``paired``, its pair)."""
    def flagged(text: DecodedText) -> bool | None:
        score = scores.get(text.text_id)
        return None if score is None else score > positive_threshold

    other = MODELS[1] if hypothesis.direction == MODELS[0] else MODELS[0]
    if paired:
        pairs = [(flagged(d), flagged(o)) for d, o in zip(pilot[hypothesis.direction], pilot[other])]
        pairs = [p for p in pairs if None not in p]
        return {"pairs": len(pairs), "direction_only": sum(d and not o for d, o in pairs),
                "other_only": sum(o and not d for d, o in pairs)}
    counts = {}
    for model, side in ((hypothesis.direction, "direction"), (other, "other")):
        usable = [f for f in map(flagged, pilot[model]) if f is not None]
        counts[side] = sum(usable)
        counts[f"n_{side}"] = len(usable)
    return counts
