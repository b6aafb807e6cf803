"""Power of validation's p-values on simulated judge flags: Fisher at 100 texts per model,
Fisher at an n chosen from a pilot (``n_per_model: auto``), and the paired McNemar test on
same-prompt pairs, at 100 pairs and at auto n.

The judge's flags are simulated, not its texts. Paired decoding gives both models one prompt and
one seed, so the intervention's text is the base's unless the intervention changed it: with
probability ``change`` a pair is changed, and then the intervention's text is flagged with
probability q, independently of the base's; otherwise it carries the base's flag. The base is
flagged at rate p0, so the intervention's rate is p1 = (1 - change)·p0 + change·q, and q is set
to give the shift asked for. ``change = 1`` is no pairing at all (independent texts).
Unpaired designs (Fisher) judge texts of different prompts, so their flags are independent
draws at p0 and p1 whatever ``change`` is.

Each replicate draws a pilot of ``--pilot`` proposal-split texts per model (independent texts, as
discovery's split hashes text ids; for the paired test, ``--pilot`` pairs whose two texts are both
on the proposal side), chooses n with `choose_sample_size` exactly as validation does, then
draws the validation texts and computes the p-value with the library's own
`fisher_p_value` / `mcnemar_p_value`; power is the share of replicates with p <= the level
(SAFFRON's first level with onlineFDR's defaults, 0.0055, the level n is planned for). The
"exact" column is the analytic power of the fixed-n designs (`difflens.stats.power`), a check on
the simulation. A null row (no shift) shows each design's size.

    .venv/bin/python bench/validation_power.py                 # writes bench/validation_power.txt
    .venv/bin/python bench/validation_power.py --reps 200 --out /tmp/x.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from difflens.stats import fisher_p_value, fisher_power, mcnemar_p_value, paired_power, saffron_first_level
from difflens.validation.sample_size import AutoSampleSize, choose_sample_size

SHIFTS = ((0.02, 0.15), (0.15, 0.33), (0.03, 0.08), (0.05, 0.05))


def pair_rates(p0: float, p1: float, change: float) -> tuple[float, float, float]:
    """``(q, p10, p01)``: the changed texts' flag rate and the discordance rates."""
    q = (p1 - (1 - change) * p0) / change
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"no q gives {p0} -> {p1} with change {change}")
    return q, change * q * (1 - p0), change * (1 - q) * p0


def draw_pairs(rng, m: int, p0: float, q: float, change: float) -> tuple[int, int]:
    """Direction-only and other-only pairs among m simulated same-prompt pairs."""
    base = rng.random(m) < p0
    changed = rng.random(m) < change
    intervention = np.where(changed, rng.random(m) < q, base)
    return int((intervention & ~base).sum()), int((base & ~intervention).sum())


@cache
def planned_n(test: str, k1: int, pilot: int, k0: int, settings: AutoSampleSize) -> int:
    """n from a pilot of ``pilot`` texts per model (pairs) with k1 and k0 flagged (pairs
    flagged on the direction side only and on the other side only): shared by every row, since
    it depends on the pilot's counts alone."""
    counts = ({"direction": k1, "n_direction": pilot, "other": k0, "n_other": pilot} if test == "fisher"
              else {"pairs": pilot, "direction_only": k1, "other_only": k0})
    return choose_sample_size(test, counts, settings)["n_per_model"]


def simulate(p0: float, p1: float, change: float, reps: int, settings: AutoSampleSize, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    q, p10, p01 = pair_rates(p0, p1, change)
    alpha = settings.planning_alpha
    pilot = settings.pilot_per_model


    def auto_n(test: str, k1: int, k0: int) -> int:
        return planned_n(test, k1, pilot, k0, settings)

    hits = {name: 0 for name in ("fisher-100", "fisher-auto", "paired-100", "paired-auto")}
    judged = {name: 0 for name in hits}
    for _ in range(reps):
        k1, k0 = int(rng.binomial(pilot, p1)), int(rng.binomial(pilot, p0))
        b, c = draw_pairs(rng, pilot, p0, q, change)
        for name, test, n in (("fisher-100", "fisher", 100), ("fisher-auto", "fisher", auto_n("fisher", k1, k0)),
                              ("paired-100", "paired", 100), ("paired-auto", "paired", auto_n("paired", b, c))):
            if test == "fisher":
                p = fisher_p_value(int(rng.binomial(n, p1)), n, int(rng.binomial(n, p0)), n)
            else:
                p = mcnemar_p_value(*draw_pairs(rng, n, p0, q, change))
            hits[name] += p <= alpha
            judged[name] += 2 * n
    out = {name: (hits[name] / reps, judged[name] / reps) for name in hits}
    out["exact"] = {"fisher-100": fisher_power(p1, p0, 100, alpha) if p1 > p0 else None,
                    "paired-100": paired_power(p10, p01, 100, alpha) if p10 > 0 else None}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--pilot", type=int, default=100, help="pilot texts per model")
    parser.add_argument("--n-min", type=int, default=50)
    parser.add_argument("--n-max", type=int, default=600)
    parser.add_argument("--changes", type=float, nargs="+", default=[0.3, 0.6, 1.0])
    parser.add_argument("--margins", type=float, nargs="+", default=[AutoSampleSize.effect_margin, 0.0],
                        help="auto n's effect_margin (standard errors off the pilot's effect), one table each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".txt")))
    args = parser.parse_args(argv)
    assert abs(AutoSampleSize().planning_alpha - saffron_first_level()) < 1e-4
    command = ("$ .venv/bin/python bench/validation_power.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if k != "out"))
    lines = [command, "",
             f"power at level {AutoSampleSize().planning_alpha} (SAFFRON's first level), target "
             f"{AutoSampleSize().power}; {args.reps} replicates per row (s.e. <= {0.5 / np.sqrt(args.reps):.3f});",
             f"auto n: pilot of {args.pilot} proposal-split texts (pairs) per model, n in [{args.n_min}, "
             f"{args.n_max}] texts (pairs) per model; 'judged' = mean judgements per hypothesis, pilot not included",
             "change = share of pairs whose intervention text differs from the base's (1.0: no pairing benefit)", ""]
    header = (f"{'shift':<12} {'change':>6}  {'design':<12} {'power':>6} {'exact':>6} {'judged':>7}")
    start = time.time()
    for margin, change in ((m, c) for m in args.margins for c in args.changes):
        settings = AutoSampleSize(n_min=args.n_min, n_max=args.n_max, pilot_per_model=args.pilot,
                                  effect_margin=margin)
        lines += [f"effect_margin {margin}", header, "-" * len(header)]
        for i, (p0, p1) in enumerate(SHIFTS):
            result = simulate(p0, p1, change, args.reps, settings, args.seed + i)
            for name in ("fisher-100", "fisher-auto", "paired-100", "paired-auto"):
                power, judged = result[name]
                exact = result["exact"].get(name)
                lines.append(f"{f'{p0:.2f} -> {p1:.2f}':<12} {change:>6.1f}  {name:<12} {power:>6.3f} "
                             f"{'' if exact is None else f'{exact:.3f}':>6} {judged:>7.0f}")
            lines.append("")
            print("\n".join(lines[-5:]), flush=True)
    lines.append(f"({time.time() - start:.0f} s)")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
