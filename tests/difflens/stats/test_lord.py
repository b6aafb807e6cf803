"""LORD++ against online-fdr, the R package's published output, and the formula by hand."""

import math

import pytest
from online_fdr.p_values import LordPlusPlus as ReferenceLord

from difflens.errors import ConfigError
from difflens.stats import LordPlusPlus, OnlineFDR
from tests.difflens.stats.conftest import R_EXAMPLE_P, random_stream


@pytest.mark.parametrize("seed", range(30))
def test_matches_online_fdr_on_random_streams(seed):
    alpha = [0.05, 0.1, 0.2][seed % 3]
    w0 = alpha / 10 if seed % 2 else alpha / 2
    p, _ = random_stream(seed, pi1=[0.2, 0.4, 0.6][seed % 3], effect=3.5)
    ours, ref = LordPlusPlus(alpha=alpha, w0=w0), ReferenceLord(alpha=alpha, wealth=w0)
    for pv in p:
        d = ours.test(pv)
        assert d.rejected == ref.test_one(pv)
        assert d.alpha_t == pytest.approx(ref.last_test_level, abs=1e-9, rel=1e-6)
    assert ours.n_rejections > 1


def test_matches_onlinefdr_r_package_reference_output():
    # LORD(sample.df, random=FALSE) (version "++", w0 = α/10) in onlineFDR's reference page.
    r_alphai = [0.0002675839, 0.0024664457, 0.0005732818, 0.0004872805, 0.0004059066, 0.0003447286,
                0.0029745013, 0.0008450114, 0.0007305648, 0.0006243143, 0.0032185913, 0.0010617227,
                0.0009256825, 0.0008019657, 0.0007059610]
    r_rejected = [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    decisions = LordPlusPlus().test_many(R_EXAMPLE_P)
    assert [d.alpha_t for d in decisions] == pytest.approx(r_alphai, abs=6e-11)
    assert [int(d.rejected) for d in decisions] == r_rejected


def test_levels_by_hand():
    g = lambda j: 0.07720838 * math.log(max(j, 2)) / (j * math.exp(math.sqrt(math.log(j))))  # noqa: E731
    lord = LordPlusPlus(alpha=0.1, w0=0.02)
    assert lord.test(0.0).alpha_t == pytest.approx(0.02 * g(1))                      # rejected: τ_1 = 1
    assert lord.test(0.5).alpha_t == pytest.approx(0.02 * g(2) + 0.08 * g(1))
    assert lord.test(0.0).alpha_t == pytest.approx(0.02 * g(3) + 0.08 * g(2))        # τ_2 = 3
    d4 = lord.test(0.5)
    assert d4.alpha_t == pytest.approx(0.02 * g(4) + 0.08 * g(3) + 0.1 * g(1))
    assert d4.wealth == pytest.approx(0.02 + 0.08 + 0.1 - sum(d.alpha_t for d in lord.decisions))


def test_resume_and_defaults():
    p, _ = random_stream(5, n=80)
    full = LordPlusPlus()
    full.test_many(p)
    part = LordPlusPlus()
    part.test_many(p[:33])
    resumed = OnlineFDR.from_state_dict(part.state_dict())
    resumed.test_many(p[33:])
    assert resumed.decisions == full.decisions
    assert LordPlusPlus().w0 == pytest.approx(0.005)
    with pytest.raises(ConfigError, match="alpha must be in"):
        LordPlusPlus(alpha=-0.1)


def test_build_online_fdr_by_name():
    from difflens.stats import build_online_fdr

    assert isinstance(build_online_fdr("lord++", alpha=0.1), LordPlusPlus)
    with pytest.raises(ConfigError, match="lord\\+\\+ takes no lam"):
        build_online_fdr("lord++", lam=0.5)
    with pytest.raises(ConfigError, match=r"unknown online FDR method 'safron'. Did you mean 'saffron'"):
        build_online_fdr("safron")
