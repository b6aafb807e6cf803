"""``difflens discover --config FILE``: embed, cluster, match and propose hypotheses from decoded texts."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "embed and cluster both models' texts, match clusters, and propose hypotheses about the differences"

CONFIG_GLOBS = ("configs/quickstart/discover.yaml", "configs/discover/*.yaml")


def load_config(path: str | Path, overrides: dict | None = None):
    """Parse a discovery YAML into a `DiscoveryConfig` (validates names and values, loads nothing)."""
    from difflens.config import read_config
    from difflens.discovery.pipeline import DiscoveryConfig

    return read_config(DiscoveryConfig, path, overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cli.config_flags import add_config_arguments
    from difflens.discovery.pipeline import DiscoveryConfig

    add_config_arguments(parser, DiscoveryConfig, "discovery YAML (e.g. configs/quickstart/discover.yaml)")
    parser.add_argument("--texts", help="override: the decoded texts (texts.jsonl)")
    parser.add_argument("--output-dir", help="override: where the outputs go")
    parser.add_argument("--n-clusters", type=int, help="override: clusters per side")
    parser.add_argument("--matching", choices=("base_init", "joint", "hungarian"), help="override: matching mode")


def run(args: argparse.Namespace) -> None:
    from cli.config_flags import print_config
    from difflens.discovery.pipeline import run_discovery

    overrides = {"texts": args.texts, "output_dir": args.output_dir, "n_clusters": args.n_clusters,
                 "matching": args.matching}
    config = load_config(args.config, {k: v for k, v in overrides.items() if v is not None})
    if args.print_config:
        print_config(config)
        return
    _check_inputs(config)
    run_discovery(config)


def _check_inputs(config) -> None:
    """One-line errors for texts that cannot be read and an output directory in the way,
    before the embedder is loaded."""
    from pathlib import Path

    from difflens.errors import DataError
    from difflens.records import DecodedText, iter_records

    texts = [config.texts] if isinstance(config.texts, str) else list(config.texts)
    for path in texts:
        if not any(True for _ in iter_records(path, DecodedText)):
            raise DataError(f"texts file {path} holds no texts: give the texts.jsonl that the decoding stage wrote")
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"output_dir {str(out)!r} is a file; give a directory (it is created if missing)")
