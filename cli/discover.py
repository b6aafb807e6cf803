"""``difflens discover --config FILE``: embed, cluster, match and propose hypotheses from decoded texts."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "embed and cluster both models' texts, match clusters, and propose hypotheses about the differences"

CONFIG_GLOBS = ("configs/quickstart/discover.yaml", "configs/discover/*.yaml")


def load_config(path: str | Path):
    """Parse a discovery YAML into a `DiscoveryConfig` (validates names and values, loads nothing)."""
    import yaml

    from difflens.discovery.pipeline import DiscoveryConfig
    from difflens.errors import ConfigError

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {str(path)!r}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return DiscoveryConfig.from_dict(raw)


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
