"""The quickstart finetune config through ``difflens fit`` on the tiny model: every output
appears, and a second run refuses to overwrite the merged model."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

FINETUNE = str(REPO / "configs/quickstart/finetune.yaml")


def difflens(*args, cwd):
    # One OpenMP thread: for a model this small, two threads on a busy machine are several times slower.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.slow
def test_quickstart_finetune_config_on_the_tiny_model(tiny_model_dir, tmp_path):
    tiny = [
        "--model.init_args.base_model", str(tiny_model_dir), "--data.init_args.tokenizer", str(tiny_model_dir),
        "--data.init_args.n_examples", "80", "--data.init_args.block_size", "16", "--data.init_args.batch_size", "4",
        "--trainer.max_steps", "3", "--trainer.val_check_interval", "3", "--trainer.limit_val_batches", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    ]
    out = difflens("fit", "--config", FINETUNE, *tiny, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "runs/quickstart/finetune"
    assert (run / "adapter/adapter_config.json").exists()
    assert (run / "model/config.json").exists() and not (run / "model/adapter_config.json").exists()
    summary = json.loads((run / "data/ground_truths.json").read_text())
    assert [g["id"] for g in summary["ground_truths"]] == ["ocean", "hedging"]
    shift = json.loads((run / "shift.json").read_text())
    assert shift["n_base"] == shift["n_tuned"] == 300
    assert list(run.glob("events.out.tfevents.*"))
    weights = (run / "model/model.safetensors").read_bytes()

    again = difflens("fit", "--config", FINETUNE, *tiny, cwd=tmp_path)
    assert again.returncode == 2
    assert "runs/quickstart/finetune/model' already exists and is kept" in again.stderr
    assert "Traceback" not in again.stderr
    assert (run / "model/model.safetensors").read_bytes() == weights
