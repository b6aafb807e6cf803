"""Statistics for validating hypotheses: p-values, online FDR control, Benjamini–Hochberg.

``from difflens.stats import Saffron, Addis, LordPlusPlus``: online procedures with
``.test(p) -> Decision`` and ``.decisions``; their state round-trips through
``state_dict()`` / ``OnlineFDR.from_state_dict``.
"""

from difflens.stats.addis import Addis
from difflens.stats.bh import benjamini_hochberg, bh_adjusted
from difflens.stats.lord import LordPlusPlus
from difflens.stats.online import ONLINE_FDR_METHODS, Decision, OnlineFDR
from difflens.stats.power import (
    fisher_power,
    paired_power,
    saffron_first_level,
    smallest_sample_size,
)
from difflens.stats.pvalues import (
    MannWhitney,
    binomial_p_value,
    fisher_p_value,
    mann_whitney_auc,
    mcnemar_p_value,
    sign_test_p_value,
)
from difflens.stats.saffron import Saffron


def build_online_fdr(method: str = "saffron", alpha: float = 0.05, **kwargs) -> OnlineFDR:
    """An online FDR procedure by name: ``saffron``, ``addis`` or ``lord++``."""
    from difflens.errors import unknown_name

    if method not in ONLINE_FDR_METHODS:
        raise unknown_name("online FDR method", method, ONLINE_FDR_METHODS)
    import inspect

    from difflens.errors import ConfigError

    klass = ONLINE_FDR_METHODS[method]
    accepted = set(inspect.signature(klass).parameters) - {"alpha"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ConfigError(f"{method} takes no {', '.join(unknown)}; "
                          f"its parameters are alpha, {', '.join(sorted(accepted))}")
    return klass(alpha=alpha, **kwargs)


__all__ = [
    "ONLINE_FDR_METHODS", "Addis", "Decision", "LordPlusPlus", "MannWhitney", "OnlineFDR", "Saffron",
    "benjamini_hochberg", "bh_adjusted", "binomial_p_value", "build_online_fdr", "fisher_p_value",
    "fisher_power", "mann_whitney_auc", "mcnemar_p_value", "paired_power", "saffron_first_level",
    "sign_test_p_value", "smallest_sample_size",
]
