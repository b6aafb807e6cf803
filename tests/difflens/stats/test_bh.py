"""Benjamini–Hochberg against statsmodels and by hand."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from difflens.errors import DataError
from difflens.stats import benjamini_hochberg, bh_adjusted


def test_by_hand():
    # m = 5, α = 0.05: thresholds 0.01, 0.02, 0.03, 0.04, 0.05. Sorted p: 0.001, 0.015, 0.035, 0.039, 0.2.
    # Largest k with p_(k) <= kα/m is k = 4 (0.039 <= 0.04), so 0.035 is rejected though above 0.03.
    p = [0.2, 0.035, 0.001, 0.039, 0.015]
    assert benjamini_hochberg(p, 0.05) == [False, True, True, True, True]
    assert benjamini_hochberg([], 0.05) == []


@pytest.mark.parametrize("seed", range(10))
def test_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.random(80), rng.random(20) * 0.01])
    rng.shuffle(p)
    reject, adjusted, *_ = multipletests(p, alpha=0.1, method="fdr_bh")
    assert benjamini_hochberg(p.tolist(), 0.1) == reject.tolist()
    assert bh_adjusted(p.tolist()) == pytest.approx(adjusted.tolist(), abs=1e-12)


def test_bad_p_value():
    with pytest.raises(DataError, match=r"p-value 1 must be a number in \[0, 1\]"):
        benjamini_hochberg([0.1, float("nan")])
