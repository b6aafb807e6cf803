"""Write a capture stage to one HDF5 file: per-rank shards merged on rank 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from difflens.encyclopedia.store import SiteArrays, StageHeader, concept_statistics, write_stage
from difflens.logs import log_scalars


class EncyclopediaStageWriter(BasePredictionWriter):
    """Streams each rank's pooled activations to a shard, then rank 0 writes the stage file.

    Every batch is appended to ``.<name>.shards/rank<r>-of-<w>.h5`` beside the output (float32,
    so nothing accumulates in memory). After a barrier at the end of the predict epoch, rank 0
    reads the shards, orders samples by sample id (so the file does not depend on the number of
    processes), checks that every context was captured exactly once, and writes the stage with
    `difflens.encyclopedia.store.write_stage` (temporary file, then rename). Shards are removed
    once the stage file is complete.

    Expects `ConceptCapture` as the module, with the `ConceptContextDataModule` of the
    contexts it captures as its ``data``.

    Args:
        output: the stage file to write (``runs/.../stage1.h5``).
        keep_samples: store every sample (default: for stage >= 1; stage 0 keeps means only).
    """

    def __init__(self, output: str, keep_samples: bool | None = None):
        super().__init__(write_interval="batch")
        self.output = Path(output)
        self.keep_samples = keep_samples
        self._shard = None

    @property
    def shard_dir(self) -> Path:
        return self.output.parent / f".{self.output.name}.shards"

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import h5py

        # Everything goes to disk; the predict loop must not also hold every batch in memory.
        trainer.predict_loop.return_predictions = False

        self.shard_dir.mkdir(parents=True, exist_ok=True)
        path = self.shard_dir / f"rank{trainer.global_rank}-of-{trainer.world_size}.h5"
        path.unlink(missing_ok=True)
        self._shard = h5py.File(path, "w")
        self._shard.create_dataset("sample_id", shape=(0,), maxshape=(None,), dtype=np.int64)
        for site in pl_module.sites:
            self._shard.create_dataset(site, shape=(0, pl_module.hidden_size), maxshape=(None, pl_module.hidden_size),
                                       dtype=np.float32, chunks=(256, pl_module.hidden_size))

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        ids = prediction["sample_id"].numpy()
        n0 = self._shard["sample_id"].shape[0]
        self._shard["sample_id"].resize((n0 + len(ids),))
        self._shard["sample_id"][n0:] = ids
        for site, values in prediction["features"].items():
            ds = self._shard[site]
            ds.resize((n0 + len(ids), ds.shape[1]))
            ds[n0:] = values.float().numpy()

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._shard.close()
        self._shard = None
        trainer.strategy.barrier("encyclopedia_shards_written")
        if trainer.is_global_zero:
            self.merge(pl_module.data, pl_module, trainer.world_size)
            self._log_scalars(trainer, n_samples=len(pl_module.data.contexts))
        trainer.strategy.barrier("encyclopedia_stage_written")

    def _log_scalars(self, trainer: pl.Trainer, n_samples: int) -> None:
        """What the stage holds, against its stage number: samples, concepts captured and the
        mean activation norm per site."""
        if not trainer.loggers:
            return
        from difflens.encyclopedia.store import EncyclopediaStage

        stage = EncyclopediaStage(self.output)
        try:
            scalars = {"capture/samples": n_samples,
                       "capture/concepts_captured": int(stage.captured().sum()),
                       "capture/concepts": len(stage.header.concept_names)}
            for site in stage.sites:
                captured = stage.captured(site)
                norms = np.linalg.norm(stage.means(site)[captured], axis=-1)
                scalars[f"capture/mean_norm/{site}"] = float(norms.mean()) if len(norms) else 0.0
            log_scalars(trainer.loggers, scalars, stage.header.stage)
        finally:
            stage.close()

    def merge(self, datamodule, pl_module, world_size: int) -> Path:
        """Rank 0: merge the shards into the stage file and remove them."""
        import h5py

        shards = [h5py.File(self.shard_dir / f"rank{r}-of-{world_size}.h5", "r") for r in range(world_size)]
        try:
            ids = np.concatenate([s["sample_id"][()] for s in shards])
            order = np.argsort(ids, kind="stable")
            n = len(datamodule.contexts)
            if not np.array_equal(ids[order], np.arange(n)):
                raise RuntimeError(f"captured sample ids do not cover 0..{n - 1} exactly once "
                                   f"({len(ids)} ids); was a repeated sampler used?")
            contexts = datamodule.contexts
            concept_index = np.asarray([c.concept_index for c in contexts], dtype=np.int64)
            keep = self.keep_samples if self.keep_samples is not None else datamodule.stage >= 1
            header = StageHeader(
                model_name=str(pl_module.model_name), stage=int(datamodule.stage), contexts=datamodule.contexts_kind,
                samples_per_concept=int(datamodule.samples_per_concept), layers=list(pl_module.resolved_layers),
                poolings=list(pl_module.poolings), hidden_size=int(pl_module.hidden_size),
                concept_names=datamodule.concept_names, categories=datamodule.categories,
                concept_category=datamodule.concept_category)

            def sites():
                for site in pl_module.sites:
                    x = np.concatenate([s[site][()] for s in shards])[order]  # (N, H)
                    mean, var, count = concept_statistics(x, concept_index, len(header.concept_names))
                    layer, pooling = site.split(".", 1)
                    yield SiteArrays(site, int(layer[len("layer"):]), pooling, mean, var, count, x if keep else None)

            write_stage(self.output, header, sites(),
                        concept_index=concept_index if keep else None,
                        contexts=[c.text for c in contexts] if keep else None,
                        groups=np.asarray([c.group for c in contexts]) if keep else None)
        finally:
            for s in shards:
                s.close()
        shutil.rmtree(self.shard_dir, ignore_errors=True)
        return self.output
