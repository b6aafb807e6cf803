"""``difflens quickstart``: run every quickstart stage on the embedded default, on CPU.

Each stage is a ``difflens`` command with a config under ``configs/quickstart/`` and a file
whose existence means the stage is complete; complete stages are skipped, so an interrupted
quickstart resumes where it stopped. The first stage is the behavioural-diffing pipeline
(``configs/quickstart/pipeline.yaml``: base model, finetune, decoding, discovery, validation,
report), which skips and resumes its own stages; then dictionary learning and the concept
encyclopedia, each skipped with a message while its config does not exist. Later stages are
appended to ``STAGES``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

HELP = "run the quickstart on the embedded default (toy world, tiny GPT-2), skipping finished stages"


@dataclass(frozen=True)
class Stage:
    """One quickstart stage: the difflens arguments to run and the file that marks it done."""

    name: str
    argv: tuple[str, ...]
    done_when: str
    needs: str | None = None  # a config file; the stage is skipped with a message while it is absent


STAGES: tuple[Stage, ...] = (
    Stage("pipeline", ("pipeline", "--config", "configs/quickstart/pipeline.yaml"),
          "runs/quickstart/report_active/report.md"),
    Stage("sae", ("fit", "--config", "configs/quickstart/sae.yaml", "--ckpt_path", "last"),
          "runs/quickstart/sae/sae/sae_weights.safetensors", needs="configs/quickstart/sae.yaml"),
    Stage("encyclopedia", ("encyclopedia", "refine", "--config", "configs/quickstart/encyclopedia.yaml"),
          "runs/quickstart/encyclopedia/report.md", needs="configs/quickstart/encyclopedia.yaml"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="*", default=None, help="run only these stages")
    parser.add_argument("--force", action="store_true", help="rerun stages even when complete")
    parser.add_argument("--list", action="store_true", help="list the stages and whether each is done")


def run(args: argparse.Namespace) -> None:
    from cli.pipeline import run_stage_list
    from difflens.pipeline import PipelineStage

    stages = [PipelineStage(s.name, list(s.argv), s.done_when, optional_config=s.needs) for s in STAGES]
    run_stage_list(stages, args.only, args.force, args.list, "[quickstart]")
    if not args.list:
        print("[quickstart] finished. Report: runs/quickstart/report_active/report.md; outputs under runs/quickstart/; "
              "TensorBoard logs: `tensorboard --logdir runs`")
