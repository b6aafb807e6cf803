"""Exact binomial, sign and Mann–Whitney tests by hand and against scipy/scikit-learn."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from difflens.errors import DataError
from difflens.stats import binomial_p_value, mann_whitney_auc, sign_test_p_value


def test_binomial_by_hand():
    # P(X >= 8 | n = 10, 1/2) = (C(10,8) + C(10,9) + C(10,10)) / 2^10 = 56 / 1024.
    assert binomial_p_value(8, 10) == pytest.approx(56 / 1024)
    assert binomial_p_value(0, 10) == 1.0
    assert binomial_p_value(10, 10) == pytest.approx(1 / 1024)
    assert binomial_p_value(0, 0) == 1.0


def test_binomial_uses_the_judgements_made():
    # 15 right out of 20 made is p = 0.0207; counting against a configured 40 would be wrong.
    assert binomial_p_value(15, 20) == pytest.approx(stats.binomtest(15, 20, alternative="greater").pvalue)
    assert binomial_p_value(15, 20) < 0.05


@pytest.mark.parametrize("k, n", [(3, 7), (12, 20), (55, 100), (1, 1)])
def test_binomial_matches_scipy(k, n):
    assert binomial_p_value(k, n) == pytest.approx(stats.binomtest(k, n, 0.5, alternative="greater").pvalue)


def test_binomial_rejects_impossible_counts():
    with pytest.raises(DataError, match="0 <= successes <= n"):
        binomial_p_value(5, 4)


def test_sign_test_drops_zeros():
    p, pos, nonzero = sign_test_p_value([0.3, -0.1, 0.0, 0.2, 0.5, 0.0])
    assert (pos, nonzero) == (3, 4)
    assert p == pytest.approx(5 / 16)  # P(X >= 3 | 4) = (4 + 1) / 16


def test_mann_whitney_by_hand_and_against_sklearn():
    pos, neg = [0.9, 0.8, 0.5, 0.7], [0.1, 0.5, 0.6]
    # pairs: 0.9 > all 3; 0.8 > all 3; 0.5 > 0.1, ties 0.5, < 0.6 -> 1.5; 0.7 > all 3: U = 10.5 of 12.
    result = mann_whitney_auc(pos, neg)
    assert result.u == pytest.approx(10.5) and result.auc == pytest.approx(10.5 / 12)
    y = [1] * 4 + [0] * 3
    assert result.auc == pytest.approx(roc_auc_score(y, pos + neg))
    assert result.p_value == pytest.approx(stats.mannwhitneyu(pos, neg, alternative="greater").pvalue)


def test_mann_whitney_exact_without_ties():
    # Positives all above negatives, 3 vs 3: exact p = 1 / C(6, 3) = 0.05.
    assert mann_whitney_auc([4, 5, 6], [1, 2, 3]).p_value == pytest.approx(1 / math.comb(6, 3))


def test_mann_whitney_degenerate_inputs():
    assert mann_whitney_auc([], [0.3]).p_value == 1.0
    flat = mann_whitney_auc([0.5] * 5, [0.5] * 4)
    assert (flat.auc, flat.p_value) == (0.5, 1.0)
    with pytest.raises(DataError, match="NaN"):
        mann_whitney_auc([0.1, np.nan], [0.2])


def test_p_values_are_super_uniform_under_the_null():
    rng = np.random.default_rng(0)
    binom = [binomial_p_value(int(rng.binomial(30, 0.5)), 30) for _ in range(4000)]
    mw = [mann_whitney_auc(rng.random(15), rng.random(15)).p_value for _ in range(1500)]
    for ps in (binom, mw):
        for level in (0.01, 0.05, 0.2):
            # P(p <= level) <= level up to Monte-Carlo error (3 standard errors)
            assert np.mean(np.array(ps) <= level) <= level + 3 * math.sqrt(level * (1 - level) / len(ps))


def test_fisher_p_value_matches_hand_values_and_scipy():
    from math import comb

    from scipy.stats import fisher_exact

    from difflens.stats import fisher_p_value

    # 3 of 3 flagged against 0 of 3: the one table as extreme of C(6, 3) equally likely ones
    assert fisher_p_value(3, 3, 0, 3) == pytest.approx(1 / comb(6, 3))
    assert fisher_p_value(0, 3, 3, 3) == pytest.approx(1.0)
    for a, n_a, b, n_b in [(20, 100, 3, 100), (5, 40, 5, 60), (0, 10, 0, 10), (7, 7, 1, 9)]:
        expected = fisher_exact([[a, n_a - a], [b, n_b - b]], alternative="greater").pvalue
        assert fisher_p_value(a, n_a, b, n_b) == pytest.approx(expected, rel=1e-9)
    assert fisher_p_value(0, 0, 3, 5) == 1.0
    with pytest.raises(DataError, match="Fisher test needs"):
        fisher_p_value(4, 3, 0, 3)


def test_fisher_keeps_power_for_a_rare_property_that_mann_whitney_loses():
    """20% vs 3% of texts show the property; the judge flags it sharply but scores the rest
    with noise. Fisher on the flags rejects where Mann-Whitney on the raw scores cannot."""
    import numpy as np

    from difflens.stats import fisher_p_value, mann_whitney_auc

    rng = np.random.default_rng(0)
    has_a, has_b = rng.random(100) < 0.20, rng.random(100) < 0.03
    score_a = np.where(has_a, 0.99, rng.normal(0.47, 0.1, 100))
    score_b = np.where(has_b, 0.99, rng.normal(0.47, 0.1, 100))
    p_mw = mann_whitney_auc(score_a, score_b).p_value
    p_fisher = fisher_p_value(int((score_a > 0.75).sum()), 100, int((score_b > 0.75).sum()), 100)
    assert p_fisher < 0.0055 < p_mw
