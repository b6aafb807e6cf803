"""``difflens encyclopedia refine|convergence``: the concept encyclopedia's refinement loop
(`difflens.encyclopedia.refine`) and the convergence of concept means
(`difflens.encyclopedia.convergence`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "concept encyclopedia: run the refinement loop (refine) or measure convergence of concept means"
CONFIG_GLOBS = ("configs/encyclopedia/refine*.yaml", "configs/quickstart/encyclopedia.yaml")


def load_config(path: str | Path, overrides: dict | None = None):
    """Parse and validate a refine config (YAML) into a `RefineConfig`.

    Raises:
        ConfigError: missing file, unknown or missing keys, invalid values.
    """
    from difflens.config import read_config
    from difflens.encyclopedia.refine import RefineConfig

    return read_config(RefineConfig, path, overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cli.config_flags import add_config_arguments
    from difflens.encyclopedia.refine import RefineConfig

    sub = parser.add_subparsers(dest="action", required=True)
    refine = sub.add_parser("refine", help="stage N -> interpreter -> uncertain concepts -> stage N+1")
    add_config_arguments(refine, RefineConfig, "YAML refine config (configs/encyclopedia/refine_*.yaml)")
    refine.add_argument("--final-stage", type=int, default=None, help="override final_stage")
    conv = sub.add_parser("convergence", help="how per-concept means over n contexts converge to a held-out reference")
    conv.add_argument("--stage", required=True, help="stage file with >= max(n) samples per concept (stage 1)")
    conv.add_argument("--reference", required=True, help="held-out stage file (heldout.h5)")
    conv.add_argument("--site", default=None, help="site, e.g. layer3.span_mean (default: last layer, first pooling)")
    conv.add_argument("--ns", type=int, nargs="+", default=[1, 2, 3, 5, 8, 10])
    conv.add_argument("--tolerance", type=float, default=0.5, help="relative difference that counts as converged")
    conv.add_argument("--out", default=None, help="write the summary as JSON here")


def run(args: argparse.Namespace) -> None:
    if args.action == "convergence":
        from difflens.encyclopedia.convergence import measure_convergence

        summary = measure_convergence(args.stage, args.reference, args.site, args.ns, args.tolerance)
        print(json.dumps(summary, indent=2))
        if args.out:
            from difflens.files import write_json

            write_json(args.out, summary)
        return
    from cli.config_flags import print_config
    from difflens.encyclopedia.refine import refine

    cfg = load_config(args.config, {"final_stage": args.final_stage} if args.final_stage is not None else None)
    if args.print_config:
        print_config(cfg)
        return
    refine(cfg)
