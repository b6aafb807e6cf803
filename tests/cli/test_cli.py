"""The difflens program end to end: help, toy world, config errors, and a tiny base-LM fit."""

import subprocess
import sys

import pytest

from cli.main import LIGHTNING_COMMANDS, TOOL_COMMANDS, main
from tests.conftest import REPO

BASE_LM = str(REPO / "configs/quickstart/base_lm.yaml")
TINY = [
    "--model.init_args.n_layer", "2", "--model.init_args.n_embd", "36", "--model.init_args.n_head", "3",
    "--model.init_args.n_positions", "64", "--data.init_args.toyworld.n_documents", "150",
    "--data.init_args.vocab_size", "300", "--data.init_args.block_size", "32", "--data.init_args.batch_size", "8",
    "--data.init_args.val_fraction", "0.1", "--trainer.max_steps", "6", "--trainer.val_check_interval", "3",
    "--trainer.enable_progress_bar", "false", "--trainer.log_every_n_steps", "1",
    "--trainer.enable_model_summary", "false",
]


def difflens(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_help_lists_every_command():
    out = difflens("--help")
    assert out.returncode == 0
    for name in [*LIGHTNING_COMMANDS, *TOOL_COMMANDS]:
        assert f"\n    {name}" in out.stdout


def test_toyworld_list_and_sample(capsys):
    assert main(["toyworld", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ocean" in listing and "hedging" in listing
    assert main(["toyworld", "sample", "--n", "5", "--topic", "ocean", "--style", "formal"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    from difflens.toyworld import ToyWorld

    assert len(lines) == 5
    assert all(ToyWorld.annotate(t).topic == "ocean" and "formal" in ToyWorld.annotate(t).styles for t in lines)


@pytest.mark.parametrize("args, message", [
    (["toyworld", "sample", "--topic", "oceann"], "unknown topic 'oceann'. Did you mean 'ocean'?"),
    (["toyworld", "sample", "--style", "sarcasm"], "unknown style 'sarcasm'"),
])
def test_unknown_names_are_one_line_errors(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_print_config_prints_a_complete_config():
    out = difflens("fit", "--config", BASE_LM, "--print_config")
    assert out.returncode == 0, out.stderr
    for key in ("class_path: lightning_modules.GPT2Pretrainer", "class_path: datamodules.TextCorpusDataModule",
                "n_embd: 192", "vocab_size: 2048", "save_dir: runs", "callbacks.SavePretrained", "max_steps: 600"):
        assert key in out.stdout, key


def test_wrong_config_key_is_named():
    out = difflens("fit", "--config", BASE_LM, "--model.init_args.n_embed", "64", "--print_config")
    assert out.returncode != 0
    assert "n_embed" in out.stderr


def test_missing_data_path_is_a_one_line_error(tmp_path):
    out = difflens("fit", "--config", BASE_LM, "--data.init_args.data_files", "[/no/such/corpus.jsonl]")
    assert out.returncode == 2
    assert "data file not found: '/no/such/corpus.jsonl'" in out.stderr
    assert "Traceback" not in out.stderr


def test_empty_corpus_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    out = difflens("fit", "--config", BASE_LM, "--data.init_args.data_files", f"[{empty}]", *TINY, cwd=tmp_path)
    assert out.returncode == 2
    assert "no non-empty texts" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_fit_base_lm_saves_a_model_that_loads_by_path(run_dir):
    """The quickstart's base-LM stage on tiny settings: train, save, reload, sample."""
    import torch

    from difflens.models import load_causal_lm, load_tokenizer

    assert main(["fit", "--config", BASE_LM, *TINY]) == 0
    model_dir = run_dir / "quickstart/base_lm/model"
    assert (model_dir / "model.safetensors").exists() and (model_dir / "tokenizer.json").exists()
    metrics = __import__("json").loads((model_dir / "training_metrics.json").read_text())
    assert metrics["global_step"] == 6 and metrics["val/perplexity"] > 1
    model, tok = load_causal_lm(str(model_dir)), load_tokenizer(str(model_dir))
    assert model.config.n_embd == 36 and model.config.vocab_size == len(tok)
    out = model.generate(**tok([""], return_tensors="pt"), max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape == (1, 6)
    # TensorBoard got the losses and the text samples
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "quickstart/base_lm")).Reload()
    assert {"train/loss", "val/perplexity"} <= set(events.Tags()["scalars"])
    assert any("samples" in t for t in events.Tags()["tensors"])
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))
