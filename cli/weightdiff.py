"""``difflens weightdiff BASE TUNED``: which weights an intervention changed, and how."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "per-layer SVD of the weight difference between a base model and a finetuned model or LoRA adapter"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="base model directory")
    parser.add_argument("tuned", help="finetuned (or merged) model directory, or a peft adapter directory")
    parser.add_argument("--output", default=None,
                        help="report directory (default: runs/weightdiff/<name of TUNED's parent>_<name of TUNED>)")
    parser.add_argument("--top-k", type=int, default=8, help="k of 'energy in the top-k directions'")
    parser.add_argument("--n-plot", type=int, default=12, help="layers shown in the plots")
    parser.add_argument("--no-tensorboard", action="store_true", help="write only the JSON and PNGs")


def run(args: argparse.Namespace) -> None:
    from difflens.errors import ConfigError
    from difflens.weightdiff import diff, write_report

    if args.top_k < 1 or args.n_plot < 1:
        raise ConfigError("--top-k and --n-plot must be >= 1")
    tuned = Path(args.tuned)
    out = Path(args.output) if args.output else Path("runs/weightdiff") / f"{tuned.resolve().parent.name}_{tuned.name}"
    layers = diff(args.base, args.tuned, args.top_k)
    report = write_report(layers, out, args.base, args.tuned, args.top_k, args.n_plot, not args.no_tensorboard)
    print(f"{report['n_changed']} of {report['n_matrices']} weight matrices changed ({report['kind']}); "
          f"most changed:")
    for d in report["layers"][: args.n_plot]:
        print(f"  {d['name']:<48} rel {d['relative_change']:.4g}  eff.rank {d['effective_rank']:.2f}  "
              f"top-{args.top_k} energy {d['energy_top_k']:.3f}")
    print(f"report: {out}/summary.json, {', '.join(p.name for p in sorted(out.glob('*.png')))}")
