"""CausalLMFinetuner on the tiny GPT-2: every mode trains, adapters reload with the same logits,
LoRA checkpoints hold only LoRA weights, merging is exact, bad input is a clear error."""

import json

import pytest
import pytorch_lightning as pl
import torch

from callbacks import SaveMergedModel
from datamodules import GroundTruthDataModule
from difflens.errors import ConfigError
from difflens.finetune import LoraSpec
from difflens.models import load_causal_lm
from lightning_modules import CausalLMFinetuner

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


TRUTHS = [{"id": "ocean", "description": "The model talks about the ocean", "toyworld": {"topics": {"ocean": 1}}}]


def data(tiny_model_dir, **kw):
    args = dict(ground_truths=TRUTHS, tokenizer=str(tiny_model_dir), n_examples=40, block_size=16, batch_size=4,
                val_fraction=0.2)
    return GroundTruthDataModule(**{**args, **kw})


def fit(tiny_model_dir, steps=3, callbacks=(), ckpt_path=None, trainer_kw=None, **model_kw):
    torch.manual_seed(0)
    ground_truth_data = data(tiny_model_dir)
    model = CausalLMFinetuner(base_model=str(tiny_model_dir), lr=2e-2, warmup_steps=1, data=ground_truth_data,
                              **model_kw)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=1, num_sanity_val_steps=1,
                         val_check_interval=steps, callbacks=list(callbacks),
                         **({"enable_checkpointing": False} | (trainer_kw or {})))
    trainer.fit(model, datamodule=ground_truth_data, ckpt_path=ckpt_path)
    return model, trainer


@torch.no_grad()
def logits(model, seed=1):
    x = torch.randint(0, 300, (2, 11), generator=torch.Generator().manual_seed(seed))
    return model.eval()(input_ids=x).logits


MODES = [  # (method, quantization)
    ("full", None),
    ("lora", None),
    ("lora", "8bit"),
    ("lora", "4bit"),
]


@pytest.mark.parametrize("method, quantization", MODES)
def test_each_mode_trains_and_its_save_reloads_with_the_same_logits(tiny_model_dir, tmp_path, method, quantization):
    before = logits(load_causal_lm(str(tiny_model_dir), dtype="float32"))
    model, trainer = fit(tiny_model_dir, method=method, quantization=quantization, lora=LoraSpec(r=4))
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert torch.isfinite(trainer.callback_metrics["val/perplexity"])
    trained = logits(model.model)
    if quantization is None:  # a quantised base gives other logits even before training
        assert not torch.allclose(trained, before, atol=1e-4), "training changed nothing"
    model.save_pretrained(tmp_path / "saved")
    if method == "lora":
        assert (tmp_path / "saved/adapter_config.json").exists() and not (tmp_path / "saved/config.json").exists()
        reloaded = load_causal_lm(str(tiny_model_dir), dtype="float32", quantization=quantization,
                                  adapter=str(tmp_path / "saved"))
    else:
        reloaded = load_causal_lm(str(tmp_path / "saved"), dtype="float32")
    torch.testing.assert_close(logits(reloaded), trained, rtol=0, atol=1e-5)


def test_lora_checkpoint_holds_only_lora_weights_and_resumes(tiny_model_dir, tmp_path):
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, filename="last", save_top_k=-1)
    model, _ = fit(tiny_model_dir, steps=2, callbacks=[ckpt], trainer_kw={"enable_checkpointing": True})
    state = torch.load(tmp_path / "last.ckpt", weights_only=True)["state_dict"]
    assert state and all("lora_A" in k or "lora_B" in k for k in state)
    assert set(state) == set(model.trainable_state_dict())
    _resumed, trainer = fit(tiny_model_dir, steps=3, ckpt_path=str(tmp_path / "last.ckpt"))
    assert trainer.global_step == 3


def test_merged_model_equals_the_adapter_model(tiny_model_dir, run_dir):
    out = run_dir / "merged"
    model, _ = fit(tiny_model_dir, callbacks=[SaveMergedModel(str(out))])
    merged = load_causal_lm(str(out), dtype="float32")
    assert not hasattr(merged, "peft_config")
    torch.testing.assert_close(logits(merged), logits(model.model), rtol=0, atol=1e-5)
    assert json.loads((out / "training_metrics.json").read_text())["global_step"] == 3


def test_existing_merged_directory_is_refused_and_kept(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="already exists and is kept"):
        SaveMergedModel(str(out))
    assert (out / "config.json").read_text() == "{}"


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "full", "quantization": "4bit"}, "quantised weights cannot be trained directly"),
    ({"method": "qlora"}, "model.method must be 'full' or 'lora'"),
    ({"quantization": "3bit"}, "model.quantization must be"),
    ({"lr": 0}, "model.lr must be > 0"),
])
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CausalLMFinetuner(base_model="runs/none", **kwargs)


def test_lora_targets_matching_nothing_fail_before_training(tiny_model_dir):
    with pytest.raises(ConfigError, match="matches no module"):
        fit(tiny_model_dir, lora=LoraSpec(target_modules=["q_proj"]))


class RecordRank(pl.Callback):
    def __init__(self, out_dir):
        self.out_dir, self.seen = out_dir, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.extend(batch["input_ids"][:, :6].tolist())

    def on_fit_end(self, trainer, pl_module):
        lora = pl_module.trainable_state_dict()
        with open(f"{self.out_dir}/rank{trainer.global_rank}.json", "w") as f:
            json.dump({"seen": self.seen, "world": trainer.world_size,
                       "lora": {k: v.double().sum().item() for k, v in lora.items()}}, f)


def test_two_process_ddp_lora_shards_data_and_keeps_adapters_equal(tiny_model_dir, tmp_path):
    ground_truth_data = data(tiny_model_dir, n_examples=80, output_dir=str(tmp_path / "data"))
    model = CausalLMFinetuner(base_model=str(tiny_model_dir), lr=2e-2, warmup_steps=1, lora=LoraSpec(r=4),
                              data=ground_truth_data)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", max_steps=3, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=1, num_sanity_val_steps=0, callbacks=[RecordRank(tmp_path)])
    trainer.fit(model, datamodule=ground_truth_data)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["ground_truths.json", "train.jsonl", "val.jsonl"]
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 12
    assert not {tuple(s) for s in ranks[0]["seen"]} & {tuple(s) for s in ranks[1]["seen"]}
    assert ranks[0]["lora"].keys() == ranks[1]["lora"].keys() and ranks[0]["lora"]
    b_sums = [v for k, v in ranks[0]["lora"].items() if "lora_B" in k]
    assert any(abs(v) > 0 for v in b_sums), "LoRA B stayed at its zero init"
    for k, v in ranks[0]["lora"].items():
        assert abs(v - ranks[1]["lora"][k]) <= 1e-6 * max(1.0, abs(v)), k
