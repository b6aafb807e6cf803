"""TensorBoard's hparams view gets a real ``hp_metric`` for each stage (Lightning's default is
-1): the SAE's final FVU, validation's number of discoveries."""

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def scalars(log_dir) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_sae_hp_metric_is_the_final_fvu(tiny_model_dir, tmp_path):
    from datamodules import ActivationDataModule
    from difflens.corpus import ToyWorldCorpus
    from difflens.sae import SAESpec
    from lightning_modules import SparseDictionaryModule

    torch.manual_seed(0)
    dm = ActivationDataModule(model=str(tiny_model_dir), hook_name="transformer.h.1",
                              toyworld=ToyWorldCorpus(n_documents=60, seed=5), context_length=32,
                              lm_batch_size=16, batch_size=128, buffer_size=256, val_texts=4, val_batch_size=4)
    model = SparseDictionaryModule(SAESpec(architecture="topk", d_sae=72, k=4), init_sample_size=256, data=dm)
    logger = TensorBoardLogger(str(tmp_path), name="sae", version=0)
    pl.Trainer(accelerator="cpu", max_steps=4, val_check_interval=2, limit_val_batches=1, logger=logger,
               enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
               num_sanity_val_steps=0).fit(model, datamodule=dm)
    values = scalars(logger.log_dir)
    assert values["hp_metric"][-1] == pytest.approx(values["val/fvu"][-1]) and values["hp_metric"][-1] != -1


def test_validation_hp_metric_is_the_number_of_discoveries(tmp_path):
    from tests.validation_data import validate_toy_inputs

    logger = TensorBoardLogger(str(tmp_path), name="validate", version=0)
    saffron = validate_toy_inputs(tmp_path, logger)
    found = sum(r["rejected"] for r in saffron.rows)
    assert found >= 1 and scalars(logger.log_dir)["hp_metric"][-1] == found
