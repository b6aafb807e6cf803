"""``difflens pipeline --config FILE``: base model to validated discoveries and a report, in one command.

Runs the config's stages in order (each a ``difflens`` command in a fresh process), skips the
ones whose ``done_when`` file exists, and writes ``report.md``. A stage that fails stops the
pipeline with its exit code; everything finished stays, and the rerun starts from there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HELP = "run a pipeline of difflens stages (base, finetune, decoding, discovery, validation) and write report.md"

CONFIG_GLOBS = ("configs/quickstart/pipeline.yaml", "configs/pipeline/*.yaml")

TIMINGS = "pipeline_timings.json"


def load_config(path: str | Path, overrides: dict | None = None):
    """Parse a pipeline YAML into a `PipelineConfig` (checks names and values, runs nothing)."""
    from difflens.config import read_config
    from difflens.pipeline import PipelineConfig

    return read_config(PipelineConfig, path, overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cli.config_flags import add_config_arguments
    from difflens.pipeline import PipelineConfig

    add_config_arguments(parser, PipelineConfig, "pipeline YAML (e.g. configs/quickstart/pipeline.yaml)")
    parser.add_argument("--decoding", choices=("active", "exhaustive"), help="override: the decoding mode")
    parser.add_argument("--only", nargs="*", default=None, help="run only these stages")
    parser.add_argument("--force", action="store_true", help="rerun stages even when complete")
    parser.add_argument("--list", action="store_true", help="list the stages and whether each is done")


def run_stages(config, only=None, force=False, list_only=False) -> dict[str, float | None]:
    """Run (or list) the stages of ``config``'s decoding mode; returns seconds per stage."""
    return run_stage_list(config.active_stages(), only, force, list_only, "[pipeline]")


def run_stage_list(stages, only=None, force=False, list_only=False, prefix="[pipeline]") -> dict[str, float | None]:
    """Run (or list) `PipelineStage`s in order; returns seconds per stage (None: skipped because done).

    Raises:
        ConfigError: ``only`` names an unknown stage.
        SystemExit: a stage failed or did not write its ``done_when`` file.
    """
    from cli.main import LIGHTNING_COMMANDS, TOOL_COMMANDS
    from difflens.errors import ConfigError, unknown_name

    for stage in stages:  # every stage's command is checked before the first one runs
        if stage.run[0] not in {**LIGHTNING_COMMANDS, **TOOL_COMMANDS}:
            err = unknown_name("difflens command", stage.run[0], [*LIGHTNING_COMMANDS, *TOOL_COMMANDS])
            raise ConfigError(f"stage {stage.name!r}: {err}")
    if only:
        unknown = set(only) - {s.name for s in stages}
        if unknown:
            raise ConfigError(f"unknown stage(s) {sorted(unknown)}; stages: {[s.name for s in stages]}")
        stages = [s for s in stages if s.name in only]
    timings: dict[str, float | None] = {}
    for stage in stages:
        done = Path(stage.done_when).exists()
        if list_only:
            print(f"{stage.name:<14} {'done' if done else 'to do':<6} difflens {' '.join(stage.run)}")
            continue
        if stage.optional_config and not Path(stage.optional_config).exists():
            print(f"{prefix} {stage.name}: {stage.optional_config} does not exist, skipped", flush=True)
            continue
        if done and not force:
            print(f"{prefix} {stage.name}: complete ({stage.done_when}), skipped", flush=True)
            timings[stage.name] = None
            continue
        empty = stage.skip_when_empty and Path(stage.skip_when_empty).exists() and \
            not Path(stage.skip_when_empty).read_text(encoding="utf-8").strip()
        if empty:
            print(f"{prefix} {stage.name}: {stage.skip_when_empty} is empty, nothing to do, skipped", flush=True)
            continue
        print(f"{prefix} {stage.name}: difflens {' '.join(stage.run)}", flush=True)
        start = time.time()
        result = subprocess.run([sys.executable, "-m", "cli", *stage.run])
        if result.returncode != 0:
            raise SystemExit(f"{prefix} stage {stage.name} failed (exit {result.returncode}); fix it and rerun: "
                             f"finished stages are kept")
        if not Path(stage.done_when).exists():
            raise SystemExit(f"{prefix} stage {stage.name} ended without writing {stage.done_when}")
        timings[stage.name] = time.time() - start
        print(f"{prefix} {stage.name}: done in {timings[stage.name]:.0f}s", flush=True)
    return timings


def run(args: argparse.Namespace) -> None:
    from cli.config_flags import print_config
    from difflens.files import write_json
    from difflens.report import write_report

    config = load_config(args.config, {"decoding": args.decoding} if args.decoding else None)
    if args.print_config:
        print_config(config)
        return
    timings = run_stages(config, args.only, args.force, args.list)
    if args.list:
        return
    path = config.path(config.report).parent / TIMINGS
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    merged = {name: timings.get(name) if timings.get(name) is not None else previous.get(name)
              for name in [s.name for s in config.active_stages()] if name in timings or name in previous}
    write_json(path, merged)
    report = write_report(config, merged)
    print(f"[pipeline] report: {report}\n[pipeline] TensorBoard: tensorboard --logdir {config.tensorboard}")
