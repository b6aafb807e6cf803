"""The stage writer: a stage written by 2 DDP processes equals the one written by 1."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from callbacks import EncyclopediaStageWriter
from datamodules import ConceptContextDataModule
from datamodules.encyclopedia import ConceptSource
from difflens.encyclopedia import EncyclopediaStage
from difflens.encyclopedia.pooling import capture_batch, encode_contexts
from difflens.encyclopedia.store import site_name
from lightning_modules import ConceptCapture


def capture(model_dir, out, devices, contexts="templates", stage=1, n=3, batch_size=5, logger=False):
    data = ConceptContextDataModule(str(model_dir), ConceptSource(topics=["ocean", "chess"]), stage=stage,
                                    contexts=contexts, samples_per_concept=n, batch_size=batch_size)
    module = ConceptCapture(str(model_dir), layers=[0, -1], poolings=["span_mean", "span_last", "context_mean"],
                            data=data)
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp_fork" if devices > 1 else "auto",
                         logger=logger, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[EncyclopediaStageWriter(str(out))])
    returned = trainer.predict(module, datamodule=data)  # the writer turns return_predictions off
    assert returned is None
    return EncyclopediaStage(out)


def test_two_processes_write_the_same_stage_as_one(tiny_model_dir, tmp_path):
    torch.set_num_threads(1)
    # 60 contexts in batches of 7: the ranks get different numbers of batches
    one = capture(tiny_model_dir, tmp_path / "one.h5", 1, batch_size=7)
    two = capture(tiny_model_dir, tmp_path / "two.h5", 2, batch_size=7)
    assert not (tmp_path / ".two.h5.shards").exists()
    h1, h2 = one.header, two.header
    assert (h1.concept_names, h1.categories, h1.layers, h1.poolings, h1.stage) == \
        (h2.concept_names, h2.categories, h2.layers, h2.poolings, h2.stage)
    assert h1.layers == [0, 1] and len(h1.concept_names) == 20 and one.n_samples == two.n_samples == 60
    assert one.sample_contexts() == two.sample_contexts()
    np.testing.assert_array_equal(one.sample_concepts(), two.sample_concepts())
    np.testing.assert_array_equal(one.sample_groups(), two.sample_groups())
    for site in one.sites:
        np.testing.assert_allclose(one.samples(site), two.samples(site), atol=1e-3, rtol=1e-3)
        np.testing.assert_allclose(one.means(site), two.means(site), atol=1e-3, rtol=1e-3)
        np.testing.assert_array_equal(one.counts(site), two.counts(site))


def test_stage_zero_keeps_means_only(tiny_model_dir, tmp_path):
    stage = capture(tiny_model_dir, tmp_path / "stage0.h5", 1, contexts="bare", stage=0, n=1)
    assert stage.n_samples == 0 and not stage.has_samples
    assert stage.counts().tolist() == [1] * 20
    x, _y, _, contexts = stage.features(stage.sites)
    assert x.shape == (20, 6, 36) and contexts[0] == "wave"
    assert np.abs(stage.means("layer1.span_mean")).sum(axis=1).min() > 0


def test_capture_logs_what_the_stage_holds(tiny_model_dir, tmp_path):
    from pytorch_lightning.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(str(tmp_path), name="capture", version=0)
    stage = capture(tiny_model_dir, tmp_path / "stage1.h5", 1, logger=logger)
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    value = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert value["capture/samples"] == [(1, 60)] and value["capture/concepts_captured"] == [(1, 20)]
    norm = np.linalg.norm(stage.means("layer1.span_mean"), axis=-1).mean()
    assert value["capture/mean_norm/layer1.span_mean"][0][1] == pytest.approx(norm, rel=1e-4)


def test_length_ordered_batches_capture_what_one_context_at_a_time_does(tiny_model_dir, tmp_path):
    torch.set_num_threads(1)
    stage = capture(tiny_model_dir, tmp_path / "stage1.h5", 1, batch_size=8)
    data = ConceptContextDataModule(str(tiny_model_dir), ConceptSource(topics=["ocean", "chess"]), stage=1,
                                    contexts="templates", samples_per_concept=3, batch_size=8)
    data.setup()
    batches = list(data.predict_dataloader())
    lengths = torch.cat([b["attention_mask"].sum(dim=1) for b in batches])
    assert (lengths[1:] >= lengths[:-1]).all()  # batches pad only where the length steps up
    ids = torch.cat([b["sample_id"] for b in batches]).tolist()
    assert sorted(ids) == list(range(len(data.contexts))) and ids != sorted(ids)
    module = ConceptCapture(str(tiny_model_dir), layers=[0, -1], poolings=["span_mean", "span_last", "context_mean"])
    module.configure_model()
    for i, c in enumerate(data.contexts):
        alone = capture_batch(module.model, encode_contexts(data.tokenizer, [c.text], [c.span], data.max_length),
                              module.resolved_layers, module.poolings)
        for (layer, pooling), value in alone.items():
            # the stage stores float16: equal to within its rounding
            np.testing.assert_allclose(stage.samples(site_name(layer, pooling))[i], value[0].numpy(),
                                       rtol=2e-3, atol=1e-3)
