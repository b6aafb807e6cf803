"""SAFFRON against online-fdr, the R package's published output, and the formula by hand."""

import json
import math

import pytest
from online_fdr.p_values import Saffron as ReferenceSaffron

from difflens.errors import ConfigError, DataError
from difflens.stats import OnlineFDR, Saffron
from difflens.stats.gamma import saffron_gamma
from tests.difflens.stats.conftest import R_EXAMPLE_P, random_stream


@pytest.mark.parametrize("seed", range(40))
def test_matches_online_fdr_on_random_streams(seed):
    alpha, lam = [(0.05, 0.5), (0.1, 0.3), (0.2, 0.7), (0.05, 0.5)][seed % 4]
    w0 = alpha / 2 if seed % 3 else alpha / 5
    p, _ = random_stream(seed, pi1=[0.2, 0.3, 0.6][seed % 3], effect=[3.0, 3.0, 4.0][seed % 3])
    ours, ref = Saffron(alpha=alpha, w0=w0, lam=lam), ReferenceSaffron(alpha=alpha, wealth=w0, lambda_=lam)
    for pv in p:
        d = ours.test(pv)
        assert d.rejected == ref.test_one(pv)
        assert d.alpha_t == pytest.approx(ref.last_test_level, abs=1e-9, rel=1e-6)
        assert d.candidate == (pv <= lam)
    assert ours.n_rejections > 0  # the streams exercise the rejection terms


def test_matches_onlinefdr_r_package_reference_output():
    # SAFFRON(sample.df, random=FALSE) in onlineFDR's reference page, printed to 9 digits.
    r_alphai = [0.005468627, 0.010937254, 0.010937254, 0.010937254, 0.010937254, 0.021874508, 0.032811762,
                0.010823845, 0.010823845, 0.010823845, 0.021761099, 0.009265591, 0.009265591, 0.020202846,
                0.009064367]
    r_rejected = [1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0]
    decisions = Saffron().test_many(R_EXAMPLE_P)
    assert [d.alpha_t for d in decisions] == pytest.approx(r_alphai, abs=6e-10)
    assert [int(d.rejected) for d in decisions] == r_rejected


def test_levels_by_hand():
    g = lambda j: j ** -1.6 / 2.2857656  # ζ(1.6) to 7 digits  # noqa: E731
    alpha, w0, lam = 0.1, 0.04, 0.5
    s = Saffron(alpha=alpha, w0=w0, lam=lam)
    # t=1: no history: (1-λ) w0 γ_1.
    assert s.test(0.9).alpha_t == pytest.approx(0.5 * 0.04 * g(1), rel=1e-6)
    # t=2: p_1 = 0.9 was no candidate, C_0+ = 0: (1-λ) w0 γ_2.
    assert s.test(0.3).alpha_t == pytest.approx(0.5 * 0.04 * g(2), rel=1e-6)
    # t=3: one candidate so far (p_2 = 0.3): γ_{3-1}.
    d3 = s.test(0.001)
    assert d3.alpha_t == pytest.approx(0.5 * 0.04 * g(2), rel=1e-6) and d3.rejected
    # t=4: τ_1 = 3, C_0+ = 2 (p_2, p_3), C_1+ = 0: w0 γ_2 + (α - w0) γ_{4-3-0}.
    d4 = s.test(0.6)
    assert d4.alpha_t == pytest.approx(0.5 * (0.04 * g(2) + 0.06 * g(1)), rel=1e-6)
    # t=5: p_4 = 0.6 no candidate: w0 γ_3 + (α - w0) γ_{5-3-0} = γ_2.
    d5 = s.test(0.0001)
    assert d5.alpha_t == pytest.approx(0.5 * (0.04 * g(3) + 0.06 * g(2)), rel=1e-6) and d5.rejected
    # t=6: τ = (3, 5), C_0+ = 3, C_1+ = 1 (p_5), C_2+ = 0: w0 γ_3 + (α-w0) γ_{6-3-1} + α γ_{6-5-0}.
    d6 = s.test(0.2)
    assert d6.alpha_t == pytest.approx(0.5 * (0.04 * g(3) + 0.06 * g(2) + 0.1 * g(1)), rel=1e-6)
    # Wealth: w0 + (α - w0) + α minus non-candidate spending α_i / (1 - λ) for t = 1 and 4.
    spent = (s.decisions[0].alpha_t + s.decisions[3].alpha_t) / 0.5
    assert d6.wealth == pytest.approx(0.04 + 0.06 + 0.1 - spent)


def test_gamma_sums_to_one_and_levels_never_exceed_lambda():
    n = 10**5
    tail = (n ** -0.6 / 0.6 + n ** -1.6 / 2) / 2.2857656  # Σ_{j>=N} j^-1.6 by Euler–Maclaurin, / ζ(1.6)
    assert math.fsum(saffron_gamma(j) for j in range(1, n)) + tail == pytest.approx(1.0, abs=1e-6)
    s = Saffron(alpha=0.5, w0=0.5, lam=0.1)
    assert all(d.alpha_t <= 0.1 for d in s.test_many([0.0] * 30))


def test_wealth_never_negative_and_fdp_estimate_below_alpha():
    p, _ = random_stream(7, n=500, pi1=0.2)
    s = Saffron()
    for d in s.test_many(p):
        assert d.wealth >= -1e-12
    spent = sum(d.alpha_t for d in s.decisions if not d.candidate) / (1 - s.lam)
    assert spent / max(s.n_rejections, 1) <= s.alpha + 1e-12


def test_state_round_trips_through_json_and_resumes_identically():
    p, _ = random_stream(3, n=120)
    full = Saffron(alpha=0.1, lam=0.4)
    full.test_many(p)
    part = Saffron(alpha=0.1, lam=0.4)
    part.test_many(p[:57])
    resumed = OnlineFDR.from_state_dict(json.loads(json.dumps(part.state_dict())))
    assert isinstance(resumed, Saffron) and resumed.t == 57
    resumed.test_many(p[57:])
    assert resumed.decisions == full.decisions


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0}, "alpha must be in (0, 1)"),
    ({"alpha": 1.5}, "alpha must be in (0, 1)"),
    ({"alpha": float("nan")}, "alpha must be in (0, 1)"),
    ({"alpha": 0.05, "w0": 0.06}, "w0 (initial wealth) must not exceed alpha"),
    ({"alpha": 0.05, "w0": 0.0}, "w0 (initial wealth) must be > 0"),
    ({"lam": 1.0}, "lam (the candidate threshold λ) must be in (0, 1)"),
])
def test_bad_parameters_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError) as err:
        Saffron(**kwargs)
    assert message in str(err.value)


@pytest.mark.parametrize("p", [-0.01, 1.0001, float("nan"), "0.3x", None])
def test_bad_p_values_are_clear_errors_and_leave_state_untouched(p):
    s = Saffron()
    s.test(0.2)
    with pytest.raises(DataError, match=r"p-value of hypothesis 2 in the saffron stream must be a number in \[0, 1\]"):
        s.test(p)
    assert s.t == 1


def test_default_parameters_are_onlinefdr_defaults():
    s = Saffron()
    assert (s.alpha, s.w0, s.lam) == (0.05, 0.025, 0.5)
