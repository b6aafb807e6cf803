"""Simulated FDR of every procedure stays at or below alpha (bench/fdr_simulation.py has the full run)."""

import math

import numpy as np
import pytest
from scipy import stats

from difflens.stats import Addis, LordPlusPlus, Saffron, benjamini_hochberg


@pytest.mark.parametrize("pi1, null_mean", [(0.0, 0.0), (0.3, 0.0), (0.2, -1.0)])
def test_empirical_fdr_at_most_alpha(pi1, null_mean):
    rng = np.random.default_rng(int(pi1 * 10) + 7)
    alpha, n_streams = 0.1, 150
    fdp = {name: [] for name in ("saffron", "addis", "lord", "bh")}
    for _ in range(n_streams):
        alt = rng.random(100) < pi1
        p = stats.norm.sf(rng.normal(np.where(alt, 3.0, null_mean))).tolist()
        rejections = {
            "saffron": [d.rejected for d in Saffron(alpha).test_many(p)],
            "addis": [d.rejected for d in Addis(alpha).test_many(p)],
            "lord": [d.rejected for d in LordPlusPlus(alpha).test_many(p)],
            "bh": benjamini_hochberg(p, alpha),
        }
        for name, rejected in rejections.items():
            rejected = np.array(rejected)
            fdp[name].append((rejected & ~alt).sum() / max(rejected.sum(), 1))
    for name, values in fdp.items():
        values = np.array(values)
        se = max(values.std(ddof=1), 0.05) / math.sqrt(n_streams)
        assert values.mean() <= alpha + 3 * se, (name, values.mean())
