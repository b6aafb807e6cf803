"""``difflens quickstart``: run every quickstart stage on the embedded default, on CPU.

Each stage is a ``difflens`` command with a config under ``configs/quickstart/`` and a file
whose existence means the stage is complete; complete stages are skipped, so an interrupted
quickstart resumes where it stopped. Later stages are appended to ``STAGES``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HELP = "run the quickstart on the embedded default (toy world, tiny GPT-2), skipping finished stages"


@dataclass(frozen=True)
class Stage:
    """One quickstart stage: the difflens arguments to run and the file that marks it done."""

    name: str
    argv: tuple[str, ...]
    done_when: str


STAGES: tuple[Stage, ...] = (
    Stage("base_lm", ("fit", "--config", "configs/quickstart/base_lm.yaml"),
          "runs/quickstart/base_lm/model/config.json"),
    Stage("sae", ("fit", "--config", "configs/quickstart/sae.yaml"),
          "runs/quickstart/sae/sae/sae_weights.safetensors"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="*", default=None, help="run only these stages")
    parser.add_argument("--force", action="store_true", help="rerun stages even when complete")
    parser.add_argument("--list", action="store_true", help="list the stages and whether each is done")


def run(args: argparse.Namespace) -> None:
    from difflens.errors import ConfigError

    stages = STAGES
    if args.only:
        unknown = set(args.only) - {s.name for s in STAGES}
        if unknown:
            raise ConfigError(f"unknown quickstart stage(s) {sorted(unknown)}; stages: {[s.name for s in STAGES]}")
        stages = tuple(s for s in STAGES if s.name in args.only)
    for stage in stages:
        done = Path(stage.done_when).exists()
        if args.list:
            print(f"{stage.name:<14} {'done' if done else 'to do':<6} difflens {' '.join(stage.argv)}")
            continue
        if done and not args.force:
            print(f"[quickstart] {stage.name}: complete ({stage.done_when}), skipped")
            continue
        print(f"[quickstart] {stage.name}: difflens {' '.join(stage.argv)}", flush=True)
        start = time.time()
        result = subprocess.run([sys.executable, "-m", "cli", *stage.argv])
        if result.returncode != 0:
            raise SystemExit(f"[quickstart] stage {stage.name} failed (exit {result.returncode}); "
                             f"fix it and rerun `make quickstart`: finished stages are kept")
        print(f"[quickstart] {stage.name}: done in {time.time() - start:.0f}s", flush=True)
    if not args.list:
        print("[quickstart] finished. Outputs are under runs/quickstart/; "
              "look at them with `tensorboard --logdir runs`")
