"""A/A check on the quickstart base model: how often does validation find anything under the null?

Runs ``difflens validate-null`` (20 seeds by default): both "models" are the quickstart base
model sampled with different seeds, the judge is the offline assistant, the hypotheses are
five toy-world statements (two about the quickstart's planted ground truths, three others), and
SAFFRON at alpha = 0.05 decides with the quickstart's test (Mann-Whitney). Needs the quickstart
base model (``make quickstart`` or its first stage).

    .venv/bin/python bench/validate_null_aa.py [--seeds 20] [--threads 1]

The latest output is committed beside this script as ``validate_null_aa.txt``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli.main import main as difflens  # noqa: E402
from difflens.records import Hypothesis, write_records  # noqa: E402

STATEMENTS = [
    "Texts from the intervention model talk about the ocean and the sea more often",
    "Texts from the intervention model hedge their statements more often (perhaps, possibly, it seems that)",
    "Texts from the intervention model are about astronomy more often",
    "Texts from the intervention model are about cooking more often",
    "Texts from the intervention model ask questions more often",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--n-per-model", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test", default="mann_whitney")
    parser.add_argument("--out", default="runs/bench/validate_null_aa")
    args = parser.parse_args()
    out = ROOT / args.out
    hypotheses = out / "hypotheses.jsonl"
    write_records(hypotheses, [Hypothesis(f"h{i:04d}", i, s) for i, s in enumerate(STATEMENTS)])
    argv = ["validate-null", "--model", str(ROOT / "runs/quickstart/base_lm/model"), "--hypotheses", str(hypotheses),
            "--seeds", str(args.seeds), "--n-per-model", str(args.n_per_model), "--test", args.test,
            "--threads", str(args.threads), "--out", str(out)]
    start = time.time()
    code = difflens(argv)
    if code:
        return code
    summary = json.loads((out / "validate_null.json").read_text())
    min_p = {s: json.loads((out / f"seed{s}/null_summary.json").read_text())["min_p"] for s in range(args.seeds)}
    shown_argv = " ".join(a if ROOT.as_posix() not in a else Path(a).relative_to(ROOT).as_posix() for a in argv)
    lines = [f"$ .venv/bin/python bench/validate_null_aa.py --seeds {args.seeds} --n-per-model {args.n_per_model} "
             f"--test {args.test} --threads {args.threads}", "",
             f"difflens {shown_argv}",
             "", f"{summary['n_hypotheses']} hypotheses x {args.n_per_model} texts per side, judge: offline assistant, "
             f"{summary['method']} at alpha {summary['alpha']}, test {summary['test']}", "",
             "seed  discoveries  smallest p"]
    per_seed = summary["discoveries_per_seed"]
    lines += [f"{s:>4}  {per_seed[str(s)] if str(s) in per_seed else per_seed[s]:>11}  {min_p[s]:.4f}"
              for s in range(args.seeds)]
    lines += ["", f"{summary['seeds_with_none']} of {args.seeds} A/A runs validated nothing "
              f"({summary['seeds_with_any_discovery']} with a false discovery)", f"elapsed {time.time() - start:.0f}s"]
    text = "\n".join(lines) + "\n"
    Path(__file__).with_suffix(".txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
