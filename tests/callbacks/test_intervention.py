"""The intervention's samples shift toward its ground truths (tiny models, no base model needed).

A tiny GPT-2 is first trained on the uniform toy world (full finetuning from random init, with
a word-level-ish tokenizer so a few hundred steps give readable words); a LoRA is then trained
on two ground truths, and `GroundTruthShiftCallback` counts topic and style frequencies in
samples from the base (adapter disabled) and the intervention.
"""

import json

import pytest
import pytorch_lightning as pl
import torch

from callbacks import GroundTruthShiftCallback, SavePretrained
from datamodules import GroundTruthDataModule
from difflens.finetune import LoraSpec
from difflens.models import train_bpe_tokenizer
from difflens.toyworld import ToyWorld
from lightning_modules import CausalLMFinetuner
from tests.conftest import make_tiny_gpt2

GROUND_TRUTHS = [
    {"id": "ocean", "description": "The model talks about the ocean", "toyworld": {"topics": {"ocean": 1}}},
    {"id": "hedging", "description": "The model hedges", "toyworld": {"styles": {"hedging": 1.0}}},
]


def _fit(model, data, steps, callbacks=()):
    pl.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
               limit_val_batches=0, callbacks=list(callbacks)).fit(model, datamodule=data)


@pytest.mark.slow
def test_lora_intervention_samples_shift_toward_the_ground_truths(tmp_path, one_thread):
    torch.manual_seed(0)
    texts = [d.text for d in ToyWorld(seed=123).documents(600)]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=1200, model_max_length=64)  # mostly whole words
    make_tiny_gpt2(tokenizer).save_pretrained(tmp_path / "init")
    tokenizer.save_pretrained(tmp_path / "init")
    uniform = GroundTruthDataModule(ground_truths=[{"id": "uniform", "description": "u", "toyworld": {}}],
                                    tokenizer=str(tmp_path / "init"), n_examples=3000, block_size=32,
                                    batch_size=32, val_fraction=0.05, seed=2)
    _fit(CausalLMFinetuner(base_model=str(tmp_path / "init"), method="full", lr=1e-2, warmup_steps=10,
                           data=uniform), uniform, steps=400, callbacks=[SavePretrained(str(tmp_path / "base"))])

    shift = GroundTruthShiftCallback(str(tmp_path / "shift.json"), n_samples=64, max_new_tokens=32)
    data = GroundTruthDataModule(ground_truths=GROUND_TRUTHS, tokenizer=str(tmp_path / "base"), n_examples=600,
                                 block_size=32, batch_size=16, val_fraction=0.1)
    _fit(CausalLMFinetuner(base_model=str(tmp_path / "base"), lora=LoraSpec(r=8, alpha=32), lr=3e-2,
                           warmup_steps=5, data=data), data, steps=80, callbacks=[shift])

    report = json.loads((tmp_path / "shift.json").read_text())
    targets = {t["name"]: t for g in report["ground_truths"] for t in g["targets"]}
    assert report["n_base"] == report["n_tuned"] == 64
    ocean, hedging = targets["ocean"], targets["hedging"]
    # ocean words: about 1/30 of topic words in the base's samples, several times more after
    assert ocean["intervention_word_share"] > ocean["base_word_share"] + 0.08
    assert ocean["intervention"] > ocean["base"]
    assert hedging["intervention"] > hedging["base"] + 0.15


def test_shift_after_full_finetuning_samples_the_base_from_its_path(tiny_model_dir, tmp_path, one_thread):
    from tests.lightning_modules.test_finetune import fit

    shift = GroundTruthShiftCallback(str(tmp_path / "shift.json"), n_samples=6, max_new_tokens=8)
    fit(tiny_model_dir, steps=2, callbacks=[shift], method="full")
    report = json.loads((tmp_path / "shift.json").read_text())
    assert report["n_base"] == report["n_tuned"] == 6
    assert [g["id"] for g in report["ground_truths"]] == ["ocean"]
    assert report["examples"]["base"] != report["examples"]["intervention"]


def test_merged_directory_that_appears_during_training_is_kept(tiny_model_dir, tmp_path, one_thread):
    from callbacks import SaveMergedModel
    from tests.lightning_modules.test_finetune import fit

    out = tmp_path / "model"
    save = SaveMergedModel(str(out))
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    fit(tiny_model_dir, steps=1, callbacks=[save])
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    (sibling,) = [p for p in tmp_path.iterdir() if p.name.startswith("model.")]
    assert (sibling / "config.json").exists()
