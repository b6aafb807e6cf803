"""The sample callback end to end on the tiny GPT-2: resume keeps identical state, DDP merges
the ranks' samples, and `difflens samples` reads the run."""

import json

import pytest
import pytorch_lightning as pl
import torch

from callbacks import ActivationSampleCallback
from cli.main import main
from datamodules import ActivationDataModule
from difflens.corpus import ToyWorldCorpus
from difflens.sae import SAESpec
from lightning_modules import SparseDictionaryModule

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def parts(tiny_model_dir, out, architecture="batchtopk"):
    dm = ActivationDataModule(model=str(tiny_model_dir), hook_name="transformer.h.1",
                              toyworld=ToyWorldCorpus(n_documents=80, seed=5), context_length=32,
                              lm_batch_size=16, batch_size=128, buffer_size=512, val_texts=8, val_batch_size=4)
    model = SparseDictionaryModule(SAESpec(architecture=architecture, d_sae=72, k=4, dead_tokens=300),
                                   init_sample_size=256, output_dir=str(out / "sae"), data=dm)
    samples = ActivationSampleCallback(str(out / "samples"), every_n_steps=1, k=5, n_features=10)
    return dm, model, samples


def trainer(out, callbacks, max_epochs, **kw):
    return pl.Trainer(accelerator="cpu", max_epochs=max_epochs, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=1,
                      callbacks=callbacks, default_root_dir=str(out), **kw)


@pytest.mark.slow
def test_resume_from_checkpoint_continues_with_identical_state(tiny_model_dir, tmp_path):
    torch.manual_seed(0)
    dm, model, samples = parts(tiny_model_dir, tmp_path / "straight")
    trainer(tmp_path / "straight", [samples], 2, enable_checkpointing=False).fit(model, datamodule=dm)

    torch.manual_seed(0)
    dm1, model1, samples1 = parts(tiny_model_dir, tmp_path / "first")
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True)
    trainer(tmp_path / "first", [samples1, ckpt], 1).fit(model1, datamodule=dm1)
    torch.manual_seed(123)  # resuming must not depend on the global seed
    dm2, model2, samples2 = parts(tiny_model_dir, tmp_path / "resumed")
    trainer(tmp_path / "resumed", [samples2], 2, enable_checkpointing=False).fit(
        model2, datamodule=dm2, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))

    for (name, a), b in zip(model.sae.state_dict().items(), model2.sae.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    for name in ("values", "doc", "pos", "count", "hist", "tokens_seen"):
        assert torch.equal(getattr(samples.store, name), getattr(samples2.store, name)), name
    assert int(samples2.store.tokens_seen) == 2 * dm.batches_per_epoch * 128


class RecordRank(pl.Callback):
    def __init__(self, out):
        self.out = out

    def on_fit_end(self, trainer, pl_module):
        checksum = sum(float(p.double().sum()) for p in pl_module.sae.parameters())
        docs = sorted(trainer.datamodule.train_docs)
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps({"checksum": checksum, "docs": docs}))


@pytest.mark.slow
def test_ddp_ranks_read_different_shards_and_samples_merge(tiny_model_dir, tmp_path):
    dm, model, samples = parts(tiny_model_dir, tmp_path, architecture="topk")
    trainer(tmp_path, [samples, RecordRank(tmp_path)], 1, devices=2, strategy="ddp_fork",
            enable_checkpointing=False).fit(model, datamodule=dm)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert not set(ranks[0]["docs"]) & set(ranks[1]["docs"])
    assert abs(ranks[0]["checksum"] - ranks[1]["checksum"]) < 1e-6 * abs(ranks[0]["checksum"])
    summary = json.loads((tmp_path / "samples" / "collection_summary.json").read_text())
    sample_docs = set()
    for f in summary["feature_files"]:
        record = json.loads((tmp_path / "samples" / f"feature_{f:05d}_samples.json").read_text())
        sample_docs |= {s["doc"] for s in record["samples"]}
    # the merged report holds samples from both ranks' documents
    assert sample_docs & set(ranks[0]["docs"]) and sample_docs & set(ranks[1]["docs"])
    assert summary["tokens_seen"] == 2 * 128 * summary["global_step"]


@pytest.mark.slow
def test_samples_cli_reads_a_run(tiny_model_dir, tmp_path, capsys):
    dm, model, samples = parts(tiny_model_dir, tmp_path)
    trainer(tmp_path, [samples], 1, enable_checkpointing=False).fit(model, datamodule=dm)
    capsys.readouterr()
    out = tmp_path / "samples"
    assert main(["samples", "report", str(out)]) == 0
    assert "# Interpretability report" in capsys.readouterr().out
    summary = json.loads((out / "collection_summary.json").read_text())
    a, b = summary["feature_files"][:2]
    assert main(["samples", "feature", str(out), str(a)]) == 0
    assert f"feature {a}: fired on" in capsys.readouterr().out
    assert (out / f"feature_{a:05d}_hist.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["samples", "compare", str(out), str(a), str(b)]) == 0
    assert f"feature {b}" in capsys.readouterr().out
    assert main(["samples", "similar", str(out), str(a), "-n", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and "cos" in lines[1]
    missing = next(i for i in range(72) if i not in summary["feature_files"])
    assert main(["samples", "feature", str(out), str(missing)]) == 2
    assert "has no sample file" in capsys.readouterr().err
