"""A killed SAE fit resumes mid-epoch from its last checkpoint with the activation stream
fast-forwarded, and ends with the weights of an uninterrupted run."""

import pytest
import pytorch_lightning as pl
import torch

from datamodules import ActivationDataModule
from difflens.corpus import ToyWorldCorpus
from difflens.sae import SAESpec
from lightning_modules import SparseDictionaryModule

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

MAX_STEPS = 20
CHECKPOINT_EVERY = 4


class Crash(pl.Callback):
    """Stands for kill -9: the run dies after ``step`` steps, past its last checkpoint."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            raise RuntimeError("killed")


def parts(tiny_model_dir, out):
    dm = ActivationDataModule(model=str(tiny_model_dir), hook_name="transformer.h.1",
                              toyworld=ToyWorldCorpus(n_documents=60, seed=5), context_length=32,
                              lm_batch_size=16, batch_size=128, buffer_size=256, val_texts=4, val_batch_size=4)
    model = SparseDictionaryModule(SAESpec(architecture="topk", d_sae=72, k=4, dead_tokens=300), init_sample_size=256,
                                   output_dir=str(out / "sae"), data=dm)
    return dm, model


def fit(out, dm, model, callbacks=(), ckpt_path=None):
    torch.manual_seed(0)  # the same initialisation in every run; a resume overwrites it anyway
    trainer = pl.Trainer(accelerator="cpu", max_steps=MAX_STEPS, max_epochs=-1, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, default_root_dir=str(out), callbacks=list(callbacks))
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return trainer


@pytest.mark.parametrize("crash_at, resumed_from", [(10, 8), (18, 16)])
def test_killed_fit_resumes_mid_epoch_to_the_uninterrupted_weights(tiny_model_dir, tmp_path, capsys, crash_at,
                                                                  resumed_from):
    dm, straight = parts(tiny_model_dir, tmp_path / "straight")
    fit(tmp_path / "straight", dm, straight)
    # Epochs of 13 batches: step 8 is mid-epoch 0 (the rest of epoch 0, then epoch 1, follow),
    # step 16 is mid-epoch 1.
    assert dm.batches_per_epoch == 13

    dm1, first = parts(tiny_model_dir, tmp_path / "first")
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True, save_top_k=-1,
                                               every_n_train_steps=CHECKPOINT_EVERY)
    with pytest.raises(RuntimeError, match="killed"):
        fit(tmp_path / "first", dm1, first, [checkpoints, Crash(step=crash_at)])
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert last["global_step"] == resumed_from

    dm2, resumed = parts(tiny_model_dir, tmp_path / "resumed")
    capsys.readouterr()
    fit(tmp_path / "resumed", dm2, resumed, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    skipped = resumed_from % dm.batches_per_epoch
    assert f"replaying the activation stream past the {skipped} batches" in capsys.readouterr().out
    for (name, a), b in zip(straight.sae.state_dict().items(), resumed.sae.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=0, msg=name)
    assert (straight.sae.W_dec - first.sae.W_dec).abs().max() > 1e-4  # the crash really stopped early
