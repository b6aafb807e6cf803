"""The paired (McNemar) p-value by hand and against statsmodels; exact power against simulation."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from difflens.errors import ConfigError, DataError
from difflens.stats import (
    Saffron,
    fisher_power,
    mcnemar_p_value,
    paired_power,
    saffron_first_level,
    smallest_sample_size,
)
from difflens.stats.power import fisher_critical_values, independent_discordance, sign_critical_values


def test_mcnemar_by_hand():
    # 8 pairs flagged on the direction side only, 2 on the other: P(X >= 8 | 10, 1/2) = 56/1024.
    assert mcnemar_p_value(8, 2) == pytest.approx(56 / 1024)
    assert mcnemar_p_value(3, 0) == pytest.approx(1 / 8)
    assert mcnemar_p_value(0, 3) == 1.0  # P(X >= 0)
    assert mcnemar_p_value(0, 0) == 1.0  # no discordant pair: no evidence
    # 13 vs 0 discordant pairs: 2^-13, while Fisher on 100 + 100 texts at 15 vs 2 flags gives 8e-4.
    assert mcnemar_p_value(13, 0) == pytest.approx(2.0 ** -13)
    with pytest.raises(DataError, match="counts >= 0"):
        mcnemar_p_value(-1, 2)


@pytest.mark.parametrize("b, c", [(8, 2), (13, 0), (9, 4), (20, 11), (5, 5), (1, 0), (30, 12)])
def test_mcnemar_matches_statsmodels_exact(b, c):
    # statsmodels' exact McNemar is two-sided, 2 * P(X <= min(b, c)) capped at 1; for b > c the
    # one-sided tail is half of it. Concordant cells do not enter either test.
    two_sided = mcnemar([[17, b], [c, 61]], exact=True).pvalue
    expected = two_sided / 2 if b > c else stats.binomtest(b, b + c, alternative="greater").pvalue
    assert mcnemar_p_value(b, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n, alpha", [(1, 0.3), (7, 0.05), (15, 0.0055), (40, 0.01)])
def test_critical_values_match_brute_force(n, alpha):
    fisher = fisher_critical_values(n, alpha)
    for t in range(2 * n + 1):
        rejecting = [k for k in range(max(0, t - n), min(t, n) + 1)
                     if stats.hypergeom.sf(k - 1, 2 * n, t, n) <= alpha]
        assert fisher[t] == (min(rejecting) if rejecting else min(t, n) + 1)
    sign = sign_critical_values(n, alpha)
    for d in range(n + 1):
        rejecting = [k for k in range(d + 1) if stats.binom.sf(k - 1, d, 0.5) <= alpha]
        assert sign[d] == (min(rejecting) if rejecting else d + 1)


def test_fisher_power_matches_simulation_with_scipy_fisher_exact():
    rng = np.random.default_rng(0)
    n, p1, p0, alpha, sims = 40, 0.35, 0.1, 0.05, 3000
    x1, x0 = rng.binomial(n, p1, sims), rng.binomial(n, p0, sims)
    rejected = [stats.fisher_exact([[a, n - a], [b, n - b]], alternative="greater")[1] <= alpha
                for a, b in zip(x1, x0)]
    assert fisher_power(p1, p0, n, alpha) == pytest.approx(np.mean(rejected), abs=0.025)
    assert fisher_power(0.2, 0.2, n, alpha) <= alpha  # the test is exact: size at most alpha


def test_paired_power_matches_simulation_with_statsmodels_mcnemar():
    rng = np.random.default_rng(1)
    m, p10, p01, alpha, sims = 60, 0.15, 0.03, 0.0055, 3000
    cells = rng.multinomial(m, [p10, p01, 1 - p10 - p01], sims)
    rejected = [b > c and mcnemar([[0, b], [c, 0]], exact=True).pvalue / 2 <= alpha for b, c, _ in cells]
    assert paired_power(p10, p01, m, alpha) == pytest.approx(np.mean(rejected), abs=0.025)


def test_pairing_adds_power_and_planning_without_it_is_conservative():
    # 0.15 -> 0.33 flagged: independent flags vs an intervention that only adds the property
    p_dir, p_other, m, alpha = 0.33, 0.15, 100, 0.0055
    independent = paired_power(*independent_discordance(p_dir, p_other), m, alpha)
    correlated = paired_power(p_dir - p_other, 0.0, m, alpha)
    assert correlated > 0.99 > independent
    assert fisher_power(p_dir, p_other, m, alpha) < 0.9


def test_saffron_first_level_is_saffrons_level():
    assert saffron_first_level() == pytest.approx(Saffron().level())
    assert saffron_first_level() == pytest.approx(0.5 * 0.025 * 0.4374901658, rel=1e-9)
    assert saffron_first_level(0.1, 0.02, 0.3) == pytest.approx(Saffron(0.1, 0.02, 0.3).level())


def test_smallest_sample_size_reaches_the_target_and_is_clamped():
    def power(k):
        return fisher_power(0.15, 0.02, k, 0.0055)

    n = smallest_sample_size(power, 0.9, 10, 1000)
    first = next(k for k in range(10, 1001) if power(k) >= 0.9)
    assert power(n) >= 0.9 and first <= n <= first + 5
    assert smallest_sample_size(power, 0.9, 300, 1000) == 300  # already there at n_min
    assert smallest_sample_size(power, 0.9, 10, 50) == 50  # n_max caps it
    with pytest.raises(ConfigError, match="n_min <= n_max"):
        smallest_sample_size(power, 0.9, 60, 50)
