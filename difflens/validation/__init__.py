"""Validation of hypotheses on held-out texts: the plan, the judgement journal, the scores.

Framework-free; `lightning_modules.validation.HypothesisValidator` runs it as a test loop and
`callbacks.saffron.SaffronCallback` feeds the p-values to online FDR control.
"""

from difflens.validation.journal import Judgement, JudgementJournal
from difflens.validation.plan import (
    Allocation,
    JudgementTask,
    allocate,
    check_references,
    plan_fingerprint,
    read_plan,
    sort_hypotheses,
    write_plan,
)
from difflens.validation.scoring import P_VALUE_TESTS, HypothesisResult, make_judgement, score_hypotheses

__all__ = [
    "P_VALUE_TESTS", "Allocation", "HypothesisResult", "Judgement", "JudgementJournal", "JudgementTask",
    "allocate", "check_references", "make_judgement", "plan_fingerprint", "read_plan", "score_hypotheses",
    "sort_hypotheses", "write_plan",
]
