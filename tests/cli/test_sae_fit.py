"""`difflens fit` with the SAE configs, shrunk to the tiny GPT-2: trains, validates with the
dictionary spliced in, writes the SAELens files and the sample report."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

SHRINK = [
    "--data.init_args.toyworld.n_documents", "120", "--data.init_args.context_length", "32",
    "--data.init_args.batch_size", "128", "--data.init_args.buffer_size", "512", "--data.init_args.val_texts", "8",
    "--data.init_args.num_threads", "1", "--data.init_args.cache_dir", "null",
    "--model.init_args.sae.expansion_factor", "2", "--model.init_args.sae.k", "4",
    "--model.init_args.init_sample_size", "256",
    "--trainer.max_steps", "6", "--trainer.val_check_interval", "3", "--trainer.limit_val_batches", "1",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
]


@pytest.mark.slow
@pytest.mark.parametrize("config,hook", [
    ("configs/quickstart/sae.yaml", "transformer.h.1"),
    ("configs/sae/transcoder.yaml", "transformer.h.1.mlp:input"),
])
def test_fit_sae_config_on_the_tiny_model(config, hook, tiny_model_dir, run_dir):
    out = run_dir / "out"
    args = [sys.executable, "-m", "cli", "fit", "--config", str(REPO / config), *SHRINK,
            "--data.init_args.model", str(tiny_model_dir), "--data.init_args.hook_name", hook,
            "--model.init_args.output_dir", str(out / "sae"),
            "--trainer.logger.init_args.save_dir", str(run_dir)]
    if "transcoder" in config:
        args += ["--data.init_args.hook_name_out", "transformer.h.1.mlp"]
    # the callback list comes from the YAML; point its output into the temporary directory
    callbacks = json.dumps([{"class_path": "ActivationSampleCallback",
                             "init_args": {"output_dir": str(out / "samples"), "every_n_steps": 1}}])
    args += ["--trainer.callbacks", callbacks]
    result = subprocess.run(args, cwd=run_dir.parent, capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    cfg = json.loads((out / "sae" / "cfg.json").read_text())
    assert cfg["d_in"] == 36 and cfg["d_sae"] == 72
    assert cfg["architecture"] == ("topk_transcoder" if "transcoder" in config else "jumprelu")
    assert (out / "sae" / "sae_weights.safetensors").exists()
    report = (out / "samples" / "interpretability_report.md").read_text()
    assert "## Most active features" in report and "**" in report
    events = list(run_dir.rglob("events.out.tfevents.*"))
    assert events
