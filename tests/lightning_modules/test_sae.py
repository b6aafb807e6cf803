"""SparseDictionaryModule with the sample callback: planted features are recovered and their
top samples are the planted tokens; NaN activations stop with the step and batch named."""

import json

import pytest
import pytorch_lightning as pl
import torch

from callbacks import ActivationSampleCallback
from difflens.activations import CONTEXT_AFTER, CONTEXT_BEFORE
from difflens.errors import DataError
from difflens.sae import SAESpec
from lightning_modules import SparseDictionaryModule

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


D, VOCAB, PLANTED = 24, 40, 6  # tokens 0..5 each write their own direction


class WordTokenizer:
    def decode(self, ids):
        return " ".join(f"w{i}" for i in ids)


class PlantedFeatures(pl.LightningDataModule):
    """Activations that are sums of known directions: token t < PLANTED adds direction t with a
    random magnitude; every token adds two of 16 background directions at lower magnitude."""

    hook_name, hook_name_out, model_name = "synthetic", None, "planted"

    def __init__(self, batches=150, batch_size=256, nan_at=None, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.directions = torch.nn.functional.normalize(torch.randn(PLANTED + 16, D, generator=g), dim=1)
        self.batches, self.batch_size, self.nan_at, self.seed = batches, batch_size, nan_at, seed
        self.tokenizer = WordTokenizer()

    def make(self, i):
        g = torch.Generator().manual_seed(self.seed * 7919 + i)
        B = self.batch_size
        token = torch.randint(0, VOCAB, (B,), generator=g)
        x = torch.zeros(B, D)
        planted = token < PLANTED
        x[planted] += self.directions[token[planted]] * (1 + 2 * torch.rand(int(planted.sum()), 1, generator=g))
        background = torch.randint(PLANTED, PLANTED + 16, (B, 2), generator=g)
        x += (self.directions[background] * 0.5 * torch.rand(B, 2, 1, generator=g)).sum(1)
        x += 0.01 * torch.randn(B, D, generator=g)
        if self.nan_at == i:
            x[3, 5] = float("nan")
        context = torch.full((B, CONTEXT_BEFORE + 1 + CONTEXT_AFTER), -1)
        context[:, CONTEXT_BEFORE] = token
        return {"x": x, "token": token, "doc": torch.arange(B) + i * B, "pos": torch.ones(B, dtype=torch.long),
                "context": context}

    def sample_activations(self, n):
        return self.make(10_000)

    def train_dataloader(self):
        return torch.utils.data.DataLoader([self.make(i) for i in range(self.batches)], batch_size=None)


def fit(tmp_path, datamodule, architecture="topk", **trainer_kw):
    model = SparseDictionaryModule(SAESpec(architecture=architecture, d_sae=32, k=3, dead_tokens=2000), lr=1e-2,
                                   warmup_steps=5, output_dir=str(tmp_path / "sae"), data=datamodule)
    samples = ActivationSampleCallback(str(tmp_path / "samples"), every_n_steps=1, k=10, n_features=32)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[samples], **trainer_kw)
    trainer.fit(model, datamodule=datamodule)
    return model, samples


@pytest.mark.parametrize("architecture", ["topk", "batchtopk"])
def test_planted_features_are_recovered_with_their_tokens(tmp_path, architecture):
    torch.manual_seed(0)
    dm = PlantedFeatures()
    model, _ = fit(tmp_path, dm, architecture)
    W = torch.nn.functional.normalize(model.sae.W_dec.detach(), dim=1)  # (d_sae, D)
    cosine = W @ dm.directions[:PLANTED].T  # (d_sae, PLANTED)
    best_cos, best_feature = cosine.max(0)
    assert (best_cos > 0.9).all(), best_cos
    summary = json.loads((tmp_path / "samples" / "collection_summary.json").read_text())
    for t in range(PLANTED):
        f = int(best_feature[t])
        record = json.loads((tmp_path / "samples" / f"feature_{f:05d}_samples.json").read_text())
        assert [s["token"] for s in record["samples"]] == [t] * 10, (t, f)
        assert record["samples"][0]["token_str"] == f"w{t}"
        assert f in summary["feature_files"]
    report = (tmp_path / "samples" / "interpretability_report.md").read_text()
    assert "**w0**" in report or "**w1**" in report
    assert {p.name for p in (tmp_path / "sae").iterdir()} == {"cfg.json", "sae_weights.safetensors"}


def test_nan_activations_stop_with_step_and_batch(tmp_path):
    with pytest.raises(DataError, match=r"non-finite activations at step 4, batch 4 \(rows \[3\]\)"):
        fit(tmp_path, PlantedFeatures(batches=8, nan_at=4))
