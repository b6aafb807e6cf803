"""ConceptInterpreter: fits, tests on both tasks, and reloads from its checkpoint."""

import numpy as np
import pytorch_lightning as pl
import torch

from datamodules.encyclopedia import EncyclopediaDataModule
from lightning_modules import ConceptInterpreter
from tests.datamodules.test_encyclopedia import write


def test_fit_test_and_reload(tmp_path):
    torch.set_num_threads(1)
    s1 = str(write(tmp_path / "s1.h5", 1, 6))
    heldout = str(write(tmp_path / "heldout.h5", 1, 3, seed=1))
    dm = EncyclopediaDataModule([s1], eval_named=heldout, eval_described=heldout, val_fraction=0.2, batch_size=8)
    model = ConceptInterpreter(d_model=16, n_heads=2, n_layers=1, lr=3e-3, category_weight=0.5,
                               similarity_weight=0.5, data=dm)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=100, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    named = model.test_results["named"]["metrics"]
    # the concepts are separable clusters (offset = concept index): far above chance (1/6)
    assert named["top1"] > 0.6 and named["n"] == 18
    assert set(named) >= {"top5", "category_top1", "ece", "confidence_auroc"}
    ckpt = tmp_path / "interp.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = ConceptInterpreter.load_from_checkpoint(ckpt, weights_only=False)
    x = dm.data["named"]["x"]
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-6)
    saved = torch.load(ckpt, weights_only=False)
    assert saved["encyclopedia"]["concept_names"] == [f"c{i}" for i in range(6)]
    # the similarity head ranks any names, including ones never trained on
    ranked = loaded.rank_names(x[:4], ["c0", "c3", "a brand new concept"])
    assert ranked.shape == (4, 3) and np.all(np.abs(ranked) <= 1 + 1e-5)
