"""ADDIS against online-fdr, the R package's published output, and the formula by hand."""

import pytest
from online_fdr.p_values import Addis as ReferenceAddis

from difflens.errors import ConfigError
from difflens.stats import Addis, OnlineFDR
from tests.difflens.stats.conftest import R_EXAMPLE_P, random_stream


@pytest.mark.parametrize("seed", range(30))
def test_matches_online_fdr_on_random_streams(seed):
    alpha, lam, tau = [(0.05, 0.25, 0.5), (0.1, 0.2, 0.8), (0.2, 0.4, 0.6)][seed % 3]
    w0 = alpha / 2 if seed % 2 else alpha / 7
    p, _ = random_stream(seed, pi1=[0.1, 0.3, 0.5][seed % 3], conservative=seed % 2 == 0)
    ours = Addis(alpha=alpha, w0=w0, lam=lam, tau=tau)
    ref = ReferenceAddis(alpha=alpha, wealth=w0, lambda_=lam, tau=tau)
    for pv in p:
        d = ours.test(pv)
        assert d.rejected == ref.test_one(pv)
        assert d.alpha_t == pytest.approx(ref.last_test_level, abs=1e-9, rel=1e-6)
        assert (d.candidate, d.selected) == (pv <= lam, pv <= tau)
    assert ours.n_rejections > 0


def test_matches_onlinefdr_r_package_reference_output():
    # ADDIS(sample.df1, random=FALSE) in onlineFDR's reference page.
    r_alphai = [0.002734314, 0.005468627, 0.005468627, 0.005468627, 0.005468627, 0.010937254, 0.016405881,
                0.016405881, 0.005411923, 0.002828822, 0.008297449, 0.008297449, 0.003589243, 0.009057870,
                0.009057870]
    r_rejected = [1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0]
    decisions = Addis().test_many(R_EXAMPLE_P)
    assert [d.alpha_t for d in decisions] == pytest.approx(r_alphai, abs=6e-10)
    assert [int(d.rejected) for d in decisions] == r_rejected


def test_levels_by_hand():
    g = lambda j: j ** -1.6 / 2.2857656  # noqa: E731
    a = Addis(alpha=0.1, w0=0.05, lam=0.2, tau=0.6)  # τ - λ = 0.4
    assert a.test(0.9).alpha_t == pytest.approx(0.4 * 0.05 * g(1), rel=1e-6)    # S=0, C=0
    # p_1 = 0.9 was discarded: it does not advance the γ index.
    assert a.test(0.5).alpha_t == pytest.approx(0.4 * 0.05 * g(1), rel=1e-6)    # S=0, C=0
    d3 = a.test(0.0001)                                                          # S=1, C=0: γ_2
    assert d3.alpha_t == pytest.approx(0.4 * 0.05 * g(2), rel=1e-6) and d3.rejected
    # t=4: S=2, C=1, κ*_1 = 2 (p_2, p_3 selected), C_1+ = 0: w0 γ_{2} + (α-w0) γ_{2-2-0+1}.
    assert a.test(0.3).alpha_t == pytest.approx(0.4 * (0.05 * g(2) + 0.05 * g(1)), rel=1e-6)


def test_resume_from_state():
    p, _ = random_stream(11, n=100, conservative=True)
    full = Addis()
    full.test_many(p)
    part = Addis()
    part.test_many(p[:40])
    resumed = OnlineFDR.from_state_dict(part.state_dict())
    resumed.test_many(p[40:])
    assert resumed.decisions == full.decisions


def test_defaults_and_bad_parameters():
    a = Addis()
    assert (a.alpha, a.w0, a.lam, a.tau) == (0.05, 0.025, 0.25, 0.5)
    with pytest.raises(ConfigError, match="lam < tau"):
        Addis(lam=0.6, tau=0.5)
    with pytest.raises(ConfigError, match="must not exceed alpha"):
        Addis(alpha=0.05, w0=0.1)
