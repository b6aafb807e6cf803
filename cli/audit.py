"""``difflens audit --config FILE``: what did an intervention change in your model?

Decodes both models on a prompt bank (active sampling or exhaustive), proposes hypotheses about
the differences, validates them on held-out texts with SAFFRON, and writes ``report.md``: the
quickstart pipeline without its toy-world base model and finetune (`difflens.audit`). Stages are
written as ordinary configs under ``<output_dir>/configs`` and run by the pipeline runner, so a
finished stage is skipped and a killed one resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "audit two models you have (Hub names, directories, base + peft adapter): decode, discover, validate, report"

CONFIG_GLOBS = ("configs/audit/*.yaml",)


def load_config(path: str | Path, overrides: dict | None = None):
    """Parse an audit YAML into an `AuditConfig` (checks names and values, loads no model)."""
    from difflens.audit import AuditConfig
    from difflens.config import read_config

    return read_config(AuditConfig, path, overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cli.config_flags import add_config_arguments
    from difflens.audit import AuditConfig

    add_config_arguments(parser, AuditConfig, "audit YAML (e.g. configs/audit/llama31_8b_lora.yaml)")
    parser.add_argument("--decoding", choices=("active", "exhaustive"), help="override: the decoding mode")
    parser.add_argument("--output-dir", help="override: the run directory")
    parser.add_argument("--only", nargs="*", default=None, help="run only these stages")
    parser.add_argument("--force", action="store_true", help="rerun stages even when complete")
    parser.add_argument("--list", action="store_true", help="write the stage configs, list the stages, run nothing")


def run(args: argparse.Namespace) -> None:
    import yaml

    from cli.config_flags import print_config
    from cli.pipeline import run_stages
    from difflens.audit import describe, render_audit
    from difflens.files import write_json, write_text
    from difflens.report import write_report

    overrides = {"decoding": args.decoding, "output_dir": args.output_dir}
    config = load_config(args.config, {k: v for k, v in overrides.items() if v is not None})
    if args.print_config:
        print_config(config)
        return
    configs, pipeline = render_audit(config)
    for stem, stage_config in configs.items():
        write_text(Path(config.output_dir, "configs", f"{stem}.yaml"),
                   f"# written by `difflens audit --config {args.config}`; rerun that to regenerate\n"
                   + yaml.safe_dump(stage_config, sort_keys=False))
    write_json(Path(config.output_dir, "audit.json"), describe(config))
    timings = run_stages(pipeline, args.only, args.force, args.list)
    if args.list:
        return
    report = write_report(pipeline, timings)
    print(f"[audit] report: {report}\n[audit] TensorBoard: tensorboard --logdir {pipeline.tensorboard}")
