"""Empirical FDR and power of SAFFRON, ADDIS, LORD++ (online) and Benjamini–Hochberg (offline).

Each stream has ``--n`` hypotheses; a share ``pi1`` are alternatives. Every hypothesis is a
one-sided z-test: z ~ N(effect, 1) for alternatives and N(0, 1) for nulls (N(-1, 1) in the
"conservative nulls" scenario, where null p-values pile up near 1, the case ADDIS is built
for). FDR is the mean over streams of V / max(R, 1); power the mean of true discoveries over
alternatives. All four procedures run at α = 0.05 with onlineFDR's default parameters.

    .venv/bin/python bench/fdr_simulation.py            # 1,000 streams per scenario
    .venv/bin/python bench/fdr_simulation.py --streams 100 --out /tmp/x.txt

The latest output is committed beside this script as ``fdr_simulation.txt``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from difflens.stats import Addis, LordPlusPlus, Saffron, benjamini_hochberg

SCENARIOS = (
    # name, pi1, effect, null mean
    ("global null", 0.0, 3.0, 0.0),
    ("sparse signal", 0.1, 3.0, 0.0),
    ("moderate signal", 0.3, 3.0, 0.0),
    ("dense signal", 0.5, 2.5, 0.0),
    ("conservative nulls", 0.2, 3.0, -1.0),
)


def run_stream(p: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    out = {}
    for name, procedure in (("SAFFRON", Saffron(alpha)), ("ADDIS", Addis(alpha)), ("LORD++", LordPlusPlus(alpha))):
        out[name] = np.array([d.rejected for d in procedure.test_many(p)])
    out["BH (offline)"] = np.array(benjamini_hochberg(p, alpha))
    return out


def simulate(n_streams: int, n: int, alpha: float, seed: int) -> list[str]:
    lines = [f"{n_streams} streams x {n} hypotheses per scenario, alpha = {alpha}, seed = {seed}", ""]
    header = f"{'scenario':<20} {'procedure':<14} {'FDR':>7} {'± s.e.':>7} {'power':>7} {'mean R':>7} {'P(V>0)':>7}"
    for name, pi1, effect, null_mean in SCENARIOS:
        rng = np.random.default_rng([seed, int(pi1 * 100), int(effect * 10), int(null_mean * 10 + 100)])
        fdp: dict[str, list[float]] = {}
        tdp: dict[str, list[float]] = {}
        n_rej: dict[str, list[int]] = {}
        any_false: dict[str, list[bool]] = {}
        for _ in range(n_streams):
            alt = rng.random(n) < pi1
            p = stats.norm.sf(rng.normal(np.where(alt, effect, null_mean)))
            for proc, rejected in run_stream(p, alpha).items():
                v, r = int((rejected & ~alt).sum()), int(rejected.sum())
                fdp.setdefault(proc, []).append(v / max(r, 1))
                tdp.setdefault(proc, []).append((rejected & alt).sum() / alt.sum() if alt.any() else np.nan)
                n_rej.setdefault(proc, []).append(r)
                any_false.setdefault(proc, []).append(v > 0)
        lines.append(header)
        for proc in fdp:
            f = np.array(fdp[proc])
            se = f.std(ddof=1) / math.sqrt(len(f))
            power = np.nanmean(tdp[proc]) if pi1 > 0 else float("nan")
            lines.append(f"{name:<20} {proc:<14} {f.mean():7.4f} {se:7.4f} {power:7.3f} "
                         f"{np.mean(n_rej[proc]):7.2f} {np.mean(any_false[proc]):7.3f}")
        lines.append("")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--n", type=int, default=200, help="hypotheses per stream")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".txt")))
    args = parser.parse_args(argv)
    start = time.time()
    lines = [f"$ .venv/bin/python bench/fdr_simulation.py --streams {args.streams} --n {args.n} "
             f"--alpha {args.alpha} --seed {args.seed}", ""]
    lines += simulate(args.streams, args.n, args.alpha, args.seed)
    lines.append("FDR = mean of V/max(R,1) over streams (target <= alpha); power = mean share of alternatives "
                 "rejected; P(V>0) = share of streams with any false discovery.")
    lines.append(f"elapsed {time.time() - start:.0f}s")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
