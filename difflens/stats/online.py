"""The common shape of online FDR procedures: one p-value in, one `Decision` out.

A procedure sees p-values one at a time in a fixed order and must decide on each before the
next arrives. Its state is the list of p-values seen so far plus its constructor arguments:
`state_dict` / `from_state_dict` round-trip through JSON, and restoring replays the p-values,
so a stream resumes after a crash with exactly the decisions it would have made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from difflens.errors import DataError
from difflens.stats.checks import check_p_value


@dataclass(frozen=True)
class Decision:
    """The outcome of testing one hypothesis.

    Attributes:
        index: 1-based position ``t`` in the stream.
        p_value: the p-value tested.
        alpha_t: the test level; the hypothesis is rejected iff ``p_value <= alpha_t``.
        rejected: whether it was rejected (a discovery).
        candidate: SAFFRON/ADDIS: ``p_value <= lam``; None for procedures without candidates.
        selected: ADDIS: ``p_value <= tau`` (not discarded); True for the others.
        wealth: alpha-wealth left after this test (see each procedure for its definition);
            it never goes below 0, which is what bounds the estimated FDP by ``alpha``.
        n_rejections: discoveries so far, including this one.
    """

    index: int
    p_value: float
    alpha_t: float
    rejected: bool
    candidate: bool | None
    selected: bool
    wealth: float
    n_rejections: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OnlineFDR(ABC):
    """Base class: keeps the history, checks p-values, serialises."""

    #: registry key used in serialised state
    method: ClassVar[str] = "abstract"

    def __init__(self, alpha: float):
        self.alpha = alpha
        self.decisions: list[Decision] = []
        self.rejection_times: list[int] = []  # 1-based indices τ_1 < τ_2 < ... of discoveries

    # ---- subclasses ------------------------------------------------------------------------
    @abstractmethod
    def level(self) -> float:
        """The level ``α_t`` for the next hypothesis, from the history only."""

    @abstractmethod
    def _record(self, p: float, alpha_t: float, rejected: bool) -> Decision:
        """Update the subclass's counters with the outcome and build the `Decision`."""

    @abstractmethod
    def params(self) -> dict[str, float]:
        """Constructor arguments, enough to rebuild an empty procedure."""

    # ---- public API ------------------------------------------------------------------------
    @property
    def t(self) -> int:
        """Number of hypotheses tested so far."""
        return len(self.decisions)

    @property
    def n_rejections(self) -> int:
        return len(self.rejection_times)

    def test(self, p: float) -> Decision:
        """Test the next hypothesis with p-value ``p``.

        Raises:
            DataError: if ``p`` is NaN or outside [0, 1].
        """
        p = check_p_value(p, what=f"p-value of hypothesis {self.t + 1} in the {self.method} stream")
        alpha_t = self.level()
        rejected = p <= alpha_t
        if rejected:
            self.rejection_times.append(self.t + 1)
        decision = self._record(p, alpha_t, rejected)
        self.decisions.append(decision)
        return decision

    def test_many(self, p_values) -> list[Decision]:
        """Test p-values in order (a convenience for simulations)."""
        return [self.test(p) for p in p_values]

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: method, parameters and the p-values seen."""
        return {"method": self.method, "params": self.params(), "p_values": [d.p_value for d in self.decisions]}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> OnlineFDR:
        """Rebuild a procedure (of the class named in ``state``) and replay its p-values."""
        method = state.get("method")
        klass = ONLINE_FDR_METHODS.get(method) if cls is OnlineFDR else cls
        if klass is None or klass.method != method:
            raise DataError(f"online FDR state is for method {method!r}, expected "
                            f"{cls.method if cls is not OnlineFDR else sorted(ONLINE_FDR_METHODS)}")
        procedure = klass(**state["params"])
        procedure.test_many(state["p_values"])
        return procedure

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params().items())
        return f"{type(self).__name__}({args}) after {self.t} tests, {self.n_rejections} rejections"


ONLINE_FDR_METHODS: dict[str, type[OnlineFDR]] = {}


def register(cls: type[OnlineFDR]) -> type[OnlineFDR]:
    ONLINE_FDR_METHODS[cls.method] = cls
    return cls


def earned_wealth(alpha: float, w0: float, n_rejections: int) -> float:
    """Wealth earned back by discoveries in the GAI++ family: α − w0 for the first, α after."""
    if n_rejections == 0:
        return 0.0
    return (alpha - w0) + alpha * (n_rejections - 1)
