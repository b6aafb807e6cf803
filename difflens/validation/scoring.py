"""From judgements to one result per hypothesis: accuracy, AUC, p-values and n."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from difflens.errors import ConfigError
from difflens.records import Hypothesis
from difflens.stats import binomial_p_value, fisher_p_value, mann_whitney_auc, mcnemar_p_value
from difflens.validation.journal import Judgement
from difflens.validation.plan import JudgementTask

#: the p-value that feeds the online FDR procedure; chosen before validation, never the min
P_VALUE_TESTS = ("binomial", "mann_whitney", "fisher", "generative_sign", "paired")


def tie_break(seed: int, hypothesis_id: str, text_id: str) -> int:
    """A fair coin for a "no evidence" (0.5) score, fixed by seed, hypothesis and text."""
    digest = hashlib.sha256(f"tie:{seed}:{hypothesis_id}:{text_id}".encode()).digest()
    return digest[0] & 1


def make_judgement(task: JudgementTask, score: float | None, seed: int) -> Judgement:
    """Record the judge's raw answer for ``task``; anything not a number in [0, 1] is unusable."""
    if score is not None:
        try:
            score = float(score)
        except (TypeError, ValueError):
            score = None
        if score is not None and (math.isnan(score) or not 0.0 <= score <= 1.0):
            score = None
    return Judgement(task.index, task.hypothesis_id, task.text_id, task.label, score,
                     tie_break(seed, task.hypothesis_id, task.text_id))


@dataclass
class HypothesisResult:
    """Validation outcome for one hypothesis.

    Attributes:
        hypothesis_id, order, text, direction: from the hypothesis.
        n_planned: judgements planned (fixed before validation).
        n: judgements actually made and usable: the binomial test's n.
        n_unusable: judgements that came back unusable (not counted as guesses).
        correct: usable judgements whose prediction matched the text's model.
        accuracy: ``correct / n`` (None when n = 0).
        auc: Mann–Whitney AUC of scores, direction-model texts as positives.
        p_binomial: exact one-sided binomial p-value of ``correct`` out of ``n`` against 1/2.
        p_mann_whitney: one-sided Mann–Whitney p-value.
        flagged: usable judgements above ``positive_threshold``, per model label
            (``{"direction": k, "other": m}``): the judge says the text has the property.
        p_fisher: one-sided Fisher exact p-value that direction-model texts are flagged more often.
        p_paired: exact one-sided McNemar p-value on same-prompt pairs (paired plans only; 1.0
            otherwise): of the pairs flagged on one side only, how many on the direction side.
        discordant: the paired counts, ``{"pairs": usable pairs, "direction_only": b,
            "other_only": c}`` (a pair with an unusable judgement is not a usable pair).
        p_generative: sign-test p-value of generative validation (None if not run).
        n_generative: non-zero paired differences in the generative sign test.
        test: which p-value is ``p_value``.
        p_value: the p-value the online FDR procedure sees.
        condition: the prompts a conditional hypothesis's claim is limited to (empty: none).
        untested: some planned judgements could not be made (the judge gave no usable answer)
            and the run was told to go on (``on_judge_failure: untested``): the hypothesis has no
            p-value and online FDR control spends no wealth on it.
    """

    hypothesis_id: str
    order: int
    text: str
    direction: str
    n_planned: int
    n: int
    n_unusable: int
    correct: int
    accuracy: float | None
    auc: float
    p_binomial: float
    p_mann_whitney: float
    p_fisher: float = 1.0
    flagged: dict = field(default_factory=dict)
    p_paired: float = 1.0
    discordant: dict = field(default_factory=dict)
    test: str = "binomial"
    p_generative: float | None = None
    n_generative: int = 0
    extra: dict = field(default_factory=dict)
    condition: list[str] = field(default_factory=list)
    untested: bool = False

    @property
    def p_value(self) -> float | None:
        if self.untested:
            return None
        if self.test == "binomial":
            return self.p_binomial
        if self.test == "mann_whitney":
            return self.p_mann_whitney
        if self.test == "fisher":
            return self.p_fisher
        if self.test == "paired":
            return self.p_paired
        return 1.0 if self.p_generative is None else self.p_generative

    def to_dict(self) -> dict:
        out = asdict(self)
        out["p_value"] = self.p_value
        return out


def check_test(test: str) -> str:
    if test not in P_VALUE_TESTS:
        raise ConfigError(f"model.test must be one of {P_VALUE_TESTS}, got {test!r}")
    return test


def score_hypotheses(hypotheses: Sequence[Hypothesis], tasks: Sequence[JudgementTask],
                     judgements: Iterable[Judgement], test: str = "binomial",
                     positive_threshold: float = 0.5, missing: str = "error") -> list[HypothesisResult]:
    """One `HypothesisResult` per hypothesis, in proposal order.

    ``positive_threshold`` (fixed before validation) is the score above which a judgement
    counts as "the text has the property", for the Fisher and paired tests.

    Judgements are matched to tasks by index; a duplicate index (a padded sampler's repeat)
    counts once. A task without a judgement is missing: with ``missing="error"`` that is an
    error (validation is not finished); with ``missing="untested"`` its hypothesis comes back
    ``untested``, with no p-value. (`HypothesisValidator` never passes an unusable judgement:
    it is not a judgement, and the task stays missing so that a rerun retries it.)
    """
    check_test(test)
    if missing not in ("error", "untested"):
        raise ConfigError(f"missing must be 'error' or 'untested', got {missing!r}")
    by_index: dict[int, Judgement] = {}
    for j in judgements:
        by_index.setdefault(j.index, j)
    absent = [t for t in tasks if t.index not in by_index]
    if absent and missing == "error":
        raise RuntimeError(f"{len(absent)} planned judgements are missing (e.g. task {absent[0].index}); "
                           f"validation is incomplete")
    untested = {t.hypothesis_id for t in absent}
    tasks_by_h: dict[str, list[JudgementTask]] = {}
    for task in tasks:
        tasks_by_h.setdefault(task.hypothesis_id, []).append(task)
    if test == "paired" and any(not t.pair for t in tasks):
        raise ConfigError("model.test=paired needs a paired plan (data.init_args.paired); this plan has unpaired "
                          "texts")
    results = []
    for h in sorted(hypotheses, key=lambda h: h.order):
        made = [by_index[t.index] for t in tasks_by_h.get(h.hypothesis_id, []) if t.index in by_index]
        usable = [j for j in made if j.usable]
        correct = sum(bool(j.correct) for j in usable)
        mw = mann_whitney_auc([j.score for j in usable if j.label == 1], [j.score for j in usable if j.label == 0])
        pos = [j for j in usable if j.label == 1]
        neg = [j for j in usable if j.label == 0]
        hits_pos = sum(j.score > positive_threshold for j in pos)
        hits_neg = sum(j.score > positive_threshold for j in neg)
        results.append(HypothesisResult(
            hypothesis_id=h.hypothesis_id, order=h.order, text=h.text, direction=h.direction,
            n_planned=len(made), n=len(usable), n_unusable=len(made) - len(usable), correct=correct,
            accuracy=correct / len(usable) if usable else None, auc=mw.auc,
            p_binomial=binomial_p_value(correct, len(usable)), p_mann_whitney=mw.p_value,
            p_fisher=fisher_p_value(hits_pos, len(pos), hits_neg, len(neg)),
            flagged={"direction": hits_pos, "n_direction": len(pos), "other": hits_neg, "n_other": len(neg)},
            **paired_counts(tasks_by_h.get(h.hypothesis_id, []), by_index, positive_threshold),
            test=test, condition=list(h.condition), untested=h.hypothesis_id in untested,
        ))
    return results


def paired_counts(tasks: Sequence[JudgementTask], by_index: dict[int, Judgement],
                  positive_threshold: float) -> dict:
    """``p_paired`` and ``discordant`` of one hypothesis from its tasks' same-prompt pairs
    (nothing for an unpaired plan). A pair counts only when both of its judgements were made and
    are usable."""
    pairs: dict[str, dict[int, bool]] = {}
    for task in tasks:
        if not task.pair:
            return {}
        judgement = by_index.get(task.index)
        if judgement is not None and judgement.usable:
            pairs.setdefault(task.pair, {})[task.label] = judgement.score > positive_threshold
    complete = [p for p in pairs.values() if len(p) == 2]
    direction_only = sum(p[1] and not p[0] for p in complete)
    other_only = sum(p[0] and not p[1] for p in complete)
    return {"p_paired": mcnemar_p_value(direction_only, other_only),
            "discordant": {"pairs": len(complete), "direction_only": direction_only, "other_only": other_only}}
