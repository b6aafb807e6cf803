"""`difflens predict` for active sampling through the real command line, with plain ``ddp``.

Plain ``ddp`` re-executes the command line, so the 2-process run goes in a subprocess; there
every process runs the round loop, and the plan of each round travels by broadcast between two
predict loops (under ``ddp_fork``, tested in tests/lightning_modules/test_active_sampling.py,
only the launching process plans). The 1-process run goes in-process. Both embed with the
offline MiniLM, as the quickstart does.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, make_tiny_gpt2


def write_config(path, out, base, intervention, devices, strategy):
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": devices, "strategy": strategy, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False,
                    "callbacks": [{"class_path": "DecodedTextWriter", "init_args": {"output_dir": str(out)}}]},
        "model": {"class_path": "ActiveSampler", "init_args": {
            "base": {"name_or_path": str(base)}, "intervention": {"name_or_path": str(intervention)}, "num_threads": 1,
            "active": {"budget": 40, "round_size": 10, "n_clusters": 3, "areas_per_round": 2, "representatives": 4,
                       "embedding_cache": str(path.parent / "embedding_cache")},
            "assistant": {"backend": "offline"}}},
        # batches of 4: the seed round is 8 batches, each later round 3, so both ranks decode in every round
        "data": {"class_path": "ActivePromptDataModule",
                 "init_args": {"free": 20, "toyworld": {"n": 10, "words": 2}, "batch_size": 4, "max_new_tokens": 12}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_two_ddp_processes_sample_the_same_rounds_and_texts_as_one(tmp_path, tiny_model_dir, tokenizer, monkeypatch):
    from cli.main import main

    monkeypatch.chdir(tmp_path)  # LightningCLI saves the run's config.yaml in the working directory

    other = tmp_path / "other"
    make_tiny_gpt2(tokenizer, seed=3).save_pretrained(other)
    tokenizer.save_pretrained(other)
    one, two = tmp_path / "one", tmp_path / "two"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    ddp = write_config(tmp_path / "ddp.yaml", two, tiny_model_dir, other, 2, "ddp")
    run = subprocess.run([sys.executable, "-m", "cli", "predict", "--config", str(ddp)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in run.stdout + run.stderr  # the second process did join
    assert main(["predict", "--config", str(write_config(tmp_path / "one.yaml", one, tiny_model_dir, other, 1,
                                                         "auto"))]) == 0

    def plans(out):
        return {p.name: json.loads(p.read_text()) for p in sorted((out / "active").glob("*.json"))}

    assert list(plans(one)) == ["round_001.json", "round_002.json", "summary.json"]
    assert plans(two) == plans(one)
    assert (two / "texts.jsonl").read_text() == (one / "texts.jsonl").read_text()
    assert len((one / "texts.jsonl").read_text().splitlines()) == 80
    assert not list((two / "shards").glob("*.jsonl"))
