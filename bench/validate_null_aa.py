"""A/A check on the quickstart base model: how often does validation find anything under the null?

Runs ``difflens validate-null`` (20 seeds by default): both "models" are the quickstart base
model sampled with different seeds, the judge is the offline assistant, the hypotheses are
five toy-world statements (two about the quickstart's planted ground truths, three others), and
SAFFRON at alpha = 0.05 decides with a fixed n and an unpaired test (Mann-Whitney by default).
With ``--config configs/quickstart/validate.yaml`` the quickstart's own settings decide instead:
the paired test on A/A pairs and n per hypothesis from a pilot (``auto_n``). Needs the
quickstart base model (``make quickstart`` or its first stage).

    .venv/bin/python bench/validate_null_aa.py [--seeds 20] [--threads 1]
    .venv/bin/python bench/validate_null_aa.py --config configs/quickstart/validate.yaml \
        --out runs/bench/validate_null_aa_paired --output bench/validate_null_aa_paired.txt

The latest outputs are committed beside this script (``validate_null_aa*.txt``).
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
    parser.add_argument("--config", help="a validation config whose test, n and judge settings to use")
    parser.add_argument("--n-per-model", help="texts (pairs) per side per hypothesis, or auto (default: the "
                                              "config's, else 20)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test", help="default: the config's, else mann_whitney")
    parser.add_argument("--out", default="runs/bench/validate_null_aa")
    parser.add_argument("--output", default=str(Path(__file__).with_suffix(".txt")), help="where the report goes")
    args = parser.parse_args()
    if not args.config:
        args.n_per_model, args.test = args.n_per_model or "20", args.test or "mann_whitney"
    out = ROOT / args.out
    hypotheses = out / "hypotheses.jsonl"
    write_records(hypotheses, [Hypothesis(f"h{i:04d}", i, s) for i, s in enumerate(STATEMENTS)])
    argv = ["validate-null", "--model", str(ROOT / "runs/quickstart/base_lm/model"), "--hypotheses", str(hypotheses),
            "--seeds", str(args.seeds), "--threads", str(args.threads), "--out", str(out),
            *(["--config", args.config] if args.config else []),
            *(["--n-per-model", args.n_per_model] if args.n_per_model else []),
            *(["--test", args.test] if args.test else [])]
    start = time.time()
    code = difflens(argv)
    if code:
        return code
    summary = json.loads((out / "validate_null.json").read_text())
    seeds = [json.loads((out / f"seed{s}/null_summary.json").read_text()) for s in range(args.seeds)]
    shown_argv = " ".join(a if ROOT.as_posix() not in a else Path(a).relative_to(ROOT).as_posix() for a in argv)
    n = summary["n_per_model"]
    sizes = (f"n per hypothesis from a pilot of {(summary['auto_n'] or {}).get('pilot_per_model', 100)} A/A pairs"
             if n == "auto" else f"{n} {'pairs' if summary['test'] == 'paired' else 'texts per side'}")
    lines = [f"$ .venv/bin/python {' '.join(sys.argv)}", "",
             f"difflens {shown_argv}",
             "", f"{summary['n_hypotheses']} hypotheses x {sizes}, judge: {summary['assistant']} assistant, "
             f"{summary['method']} at alpha {summary['alpha']}, test {summary['test']}", "",
             "seed  discoveries  smallest p  n per hypothesis"]
    def planned(row: dict) -> str:
        sizes = row.get("n_per_model")
        return " ".join(str(v) for v in sizes.values()) if isinstance(sizes, dict) else str(n)

    lines += [f"{s:>4}  {row['discoveries']:>11}  {row['min_p']:>10.4f}  {planned(row)}" for s, row in enumerate(seeds)]
    lines += ["", f"{summary['seeds_with_none']} of {args.seeds} A/A runs validated nothing "
              f"({summary['seeds_with_any_discovery']} with a false discovery)", f"elapsed {time.time() - start:.0f}s"]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
