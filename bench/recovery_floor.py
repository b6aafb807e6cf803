"""How much of the recovery suite any method could recover at the shipped budgets.

``bench/recovery_suite.py`` reports, per case, each planted topic or style's share of the free
texts, base -> intervention (``shift``). Whatever the proposer and the judge, a ground truth is
recovered only if (1) the texts shown to the proposer single it out from the toy world's other
properties, and (2) validation's test rejects on the held-out pairs. This script bounds both with
an **oracle**: a proposer and a judge that read the toy world's labels without error.

1. *Proposal*: the oracle counts the property in the proposal split (``proposal_fraction`` of
   the exhaustive run's texts per model) and proposes it when its one-sided Fisher p-value clears
   a Bonferroni bar over every property and direction the toy world has (9 styles + 30 topics,
   both directions: 78 candidates), so that on an intervention that changed nothing it proposes
   something at most 5% of the time. Exact power from ``difflens.stats.power``.
2. *Validation*: exact power of the one-sided McNemar test at SAFFRON's first level on ``n_max``
   pairs (``validate.yaml``), with independent flags within a pair (conservative).

The product is the chance that even the oracle recovers the ground truth; summed, the recall an
oracle would expect. The same bound is applied to the null cases' leaks: a shift on a null case
is a shift that a method powerful enough to catch a planted one of the same size also validates,
which the suite counts as a false discovery.

Shares come from the committed suite output (two decimals), so the bound is approximate where
a share is a few hundredths.

    .venv/bin/python bench/recovery_floor.py [--suite bench/recovery_suite.txt]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from difflens.stats.power import (  # noqa: E402
    fisher_power,
    independent_discordance,
    paired_power,
    smallest_sample_size,
)
from difflens.toyworld.generator import STYLES, TOPICS  # noqa: E402

CASE_LINE = re.compile(r"^## (\S+): .*?; shift (.+)$")
SHARE = re.compile(r"(\w+) ([0-9.]+)->([0-9.]+)")
EXHAUSTIVE = re.compile(r"exhaustive \((\d+) prompts/model")
FIRST_LEVEL = 0.0055  # SAFFRON's first level at alpha 0.05 with the shipped settings (the suite's alpha_t)
VALIDATION_SIZES = (600, 1200, 2000)


def read_suite(path: Path) -> list[dict]:
    """Per case: name, prompts per model of the exhaustive run, and each scored share."""
    cases: list[dict] = []
    for line in path.read_text().splitlines():
        head = CASE_LINE.match(line)
        if head:
            shares = [(name, float(b), float(i)) for name, b, i in SHARE.findall(head.group(2))]
            cases.append({"case": head.group(1), "prompts": None, "shares": shares})
        elif cases and cases[-1]["prompts"] is None and (m := EXHAUSTIVE.search(line)):
            cases[-1]["prompts"] = int(m.group(1))
    if not cases:
        raise SystemExit(f"{path}: no '## case: ...; shift ...' lines; run bench/recovery_suite.py first")
    return cases


def oracle_powers(base: float, intervention: float, proposal_texts: int, bar: float) -> tuple[float, dict]:
    """Proposal power of the oracle, and validation power at each of `VALIDATION_SIZES`."""
    more, less = max(base, intervention), min(base, intervention)
    proposal = fisher_power(more, less, proposal_texts, bar)
    p10, p01 = independent_discordance(more, less)
    return proposal, {n: paired_power(p10, p01, n, FIRST_LEVEL) for n in VALIDATION_SIZES}


def at_least(probabilities: list[float], k: int) -> float:
    """P(at least k successes) among independent events with these probabilities (Poisson binomial)."""
    counts = np.array([1.0])
    for p in probabilities:
        counts = np.convolve(counts, [1 - p, p])
    return float(counts[k:].sum())


def prompts_for(base: float, intervention: float, fraction: float, bar: float, target: float = 0.9) -> int:
    """Prompts per model at which the oracle proposer reaches ``target`` power (capped at 10^5)."""
    more, less = max(base, intervention), min(base, intervention)
    texts = smallest_sample_size(lambda n: fisher_power(more, less, n, bar), target, 10, 30_000)
    return round(texts / fraction)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "bench" / "recovery_suite.txt")
    args = parser.parse_args()

    validate = yaml.safe_load((ROOT / "configs/quickstart/validate.yaml").read_text())
    auto_n = validate["data"]["init_args"]["auto_n"]
    fraction, n_max = auto_n["proposal_fraction"], auto_n["n_max"]
    candidates = 2 * (len(STYLES) + len(TOPICS))
    bar = 0.05 / candidates

    print("$ python bench/recovery_floor.py")
    print(f"# oracle bound on {args.suite.relative_to(ROOT)}: proposal split {fraction:.0%} of the exhaustive run's "
          f"texts, Fisher at 0.05/{candidates} = {bar:.2g};")
    print(f"# validation: one-sided McNemar at {FIRST_LEVEL} on n pairs (shipped n_max = {n_max})")
    print(f"{'case':42s} {'property':18s} {'shift':>11s} {'propose':>8s} "
          + " ".join(f"{'val@' + str(n):>8s}" for n in VALIDATION_SIZES) + f" {'both@' + str(n_max):>9s}")
    recovered, leaks, weak = [], [], []
    for case in read_suite(args.suite):
        proposal_texts = round(fraction * case["prompts"])
        for name, base, intervention in case["shares"]:
            proposal, validation = oracle_powers(base, intervention, proposal_texts, bar)
            both = proposal * validation.get(n_max, paired_power(*independent_discordance(
                max(base, intervention), min(base, intervention)), n_max, FIRST_LEVEL))
            if case["case"].startswith("null"):
                leaks.append((case["case"], name, base, intervention, both))
            else:
                recovered.append(both)
                if both < 0.9:
                    weak.append((name, base, intervention))
            print(f"{case['case']:42s} {name:18s} {base:5.2f}->{intervention:4.2f} {proposal:8.2f} "
                  + " ".join(f"{validation[n]:8.2f}" for n in VALIDATION_SIZES) + f" {both:9.2f}")
    planted, expected = len(recovered), sum(recovered)
    needed = int(np.ceil(0.9 * planted))
    print(f"\n# an oracle proposer and judge at the shipped budgets would expect to recover "
          f"{expected:.1f} of {planted} planted ground truths (recall {expected / planted:.2f}); "
          f"P(recall >= 0.9, i.e. >= {needed}) = {at_least(recovered, needed):.3f}")
    budget = 0
    for name, base, intervention in weak:
        prompts = prompts_for(base, intervention, fraction, bar)
        budget = max(budget, prompts)
        print(f"# {name} {base:.2f}->{intervention:.2f}: the oracle proposer reaches power 0.9 at "
              f"{prompts} prompts per model")
    for case, name, base, intervention, both in leaks:
        more, less = max(base, intervention), min(base, intervention)
        at_budget = (fisher_power(more, less, round(fraction * budget), bar)
                     * paired_power(*independent_discordance(more, less), VALIDATION_SIZES[-1], FIRST_LEVEL))
        print(f"# {case}'s {name} leak {base:.2f}->{intervention:.2f} (a false discovery by the suite's rules): "
              f"validated by the oracle with probability {both:.2f} at the shipped budgets, {at_budget:.2f} at "
              f"{budget} prompts per model and {VALIDATION_SIZES[-1]} validation pairs")


if __name__ == "__main__":
    main()
