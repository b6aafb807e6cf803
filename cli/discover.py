"""``difflens discover --config FILE``: embed, cluster, match and propose hypotheses from decoded texts."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "embed and cluster both models' texts, match clusters, and propose hypotheses about the differences"

CONFIG_GLOBS = ("configs/quickstart/discover.yaml", "configs/discover/*.yaml")


def load_config(path: str | Path):
    """Parse a discovery YAML into a `DiscoveryConfig` (validates names and values, loads nothing)."""
    from difflens.discovery.pipeline import DiscoveryConfig
    from difflens.files import read_yaml_mapping

    return DiscoveryConfig.from_dict(read_yaml_mapping(path))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="discovery YAML (e.g. configs/quickstart/discover.yaml)")
    parser.add_argument("--texts", help="override: the decoded texts (texts.jsonl)")
    parser.add_argument("--output-dir", help="override: where the outputs go")
    parser.add_argument("--n-clusters", type=int, help="override: clusters per side")
    parser.add_argument("--matching", choices=("base_init", "joint", "hungarian"), help="override: matching mode")


def run(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from difflens.discovery.pipeline import run_discovery

    config = load_config(args.config)
    overrides = {"texts": args.texts, "output_dir": args.output_dir, "n_clusters": args.n_clusters,
                 "matching": args.matching}
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    run_discovery(config)
