"""Random p-value streams shared by the online FDR tests."""

import numpy as np
from scipy import stats

# The example stream of the R package onlineFDR's reference pages (SAFFRON, ADDIS, LORD).
R_EXAMPLE_P = [2.90e-08, 0.06743, 0.01514, 0.08174, 0.00171, 3.60e-05, 0.79149, 0.27201, 0.28295,
               7.59e-08, 0.69274, 0.30443, 0.00136, 0.72342, 0.54757]


def random_stream(seed: int, n: int = 300, pi1: float = 0.3, effect: float = 3.0, conservative: bool = False):
    """p-values of one-sided z-tests: a share ``pi1`` of alternatives with mean ``effect``.

    ``conservative`` makes nulls have mean -1 (p-values piled near 1), the case ADDIS targets.
    """
    rng = np.random.default_rng(seed)
    alt = rng.random(n) < pi1
    z = rng.normal(np.where(alt, effect, -1.0 if conservative else 0.0))
    return stats.norm.sf(z).tolist(), alt
