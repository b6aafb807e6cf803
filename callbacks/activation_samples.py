"""Keep every latent's top-activating contexts during dictionary training, and report them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from difflens.activations import CONTEXT_AFTER, CONTEXT_BEFORE
from difflens.logs import tensorboard_writers
from difflens.sae.report import feature_card, feature_record, write_reports
from difflens.sae.samples import TopActivations

log = logging.getLogger(__name__)


class ActivationSampleCallback(pl.Callback):
    """Every ``every_n_steps`` training steps, fold the batch's sparse codes into a per-latent
    top-``k`` store (`difflens.sae.samples.TopActivations`, vectorised); at the end of fit, merge
    the stores of all DDP ranks and write ``collection_summary.json``,
    ``feature_XXXXX_samples.json`` and ``interpretability_report.md`` on rank 0, and log a few
    feature cards to TensorBoard text. The store is saved in checkpoints, so a resumed run
    keeps its samples.

    Needs a module that keeps the step's sparse codes in ``last_codes`` and its data module in
    ``data`` (`SparseDictionaryModule`), whose batches hold ``token``, ``doc``, ``pos`` and
    ``context`` and whose tokenizer decodes them (as `ActivationDataModule` serves).

    Args:
        output_dir: directory of the summary, the sample files and the report.
        every_n_steps: collect on every N-th training step (1 = every step).
        k: samples kept per feature.
        threshold: activations at or below it are not samples.
        n_features: features that get a sample file and a place in the report.
        n_examples: examples per feature in the markdown report.
        n_cards: feature cards logged to TensorBoard text.
    """

    def __init__(self, output_dir: str, every_n_steps: int = 10, k: int = 20, threshold: float = 0.0,
                 n_features: int = 50, n_examples: int = 5, n_cards: int = 5):
        from difflens.errors import ConfigError

        if every_n_steps < 1 or k < 1:
            raise ConfigError("ActivationSampleCallback: every_n_steps and k must be >= 1")
        self.output_dir = output_dir
        self.every_n_steps = every_n_steps
        self.k = k
        self.threshold = threshold
        self.n_features = n_features
        self.n_examples = n_examples
        self.n_cards = n_cards
        self.store: TopActivations | None = None
        self._loaded_state: dict | None = None
        # from ``setup``: ``state_dict`` is called without them and merges the ranks' stores
        self._trainer: pl.Trainer | None = None
        self._module: pl.LightningModule | None = None

    def _ensure_store(self, pl_module) -> TopActivations:
        if self.store is None:
            if self._loaded_state is not None:
                self.store = TopActivations.from_state_dict(self._loaded_state)
                self._loaded_state = None
            else:
                self.store = TopActivations(pl_module.sae.d_sae, self.k, CONTEXT_BEFORE + 1 + CONTEXT_AFTER,
                                            self.threshold)
        return self.store

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        codes = pl_module.last_codes
        if codes is None or (trainer.global_step - 1) % self.every_n_steps:
            return
        self._ensure_store(pl_module).update(codes, batch["token"], batch["doc"], batch["pos"], batch["context"])

    # ----- DDP merge ----------------------------------------------------------------------
    def _merge_ranks(self, trainer, pl_module) -> None:
        """Make rank 0's store the merge of every rank's; other ranks start again empty.

        Every store has the same tensor shapes, so gathering is safe; the invariant "the run's
        samples = merge of all ranks' stores" holds before and after.
        """
        store = self._ensure_store(pl_module)
        if trainer.world_size == 1:
            return
        states = [None] * trainer.world_size
        torch.distributed.all_gather_object(states, store.state_dict())
        if trainer.is_global_zero:
            merged = TopActivations.from_state_dict(states[0])
            for state in states[1:]:
                merged.merge(TopActivations.from_state_dict(state))
            self.store = merged
        else:
            self.store = TopActivations(store.d_sae, store.k, store.window, store.threshold)

    # ----- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict:
        if self._trainer is not None and self._trainer.world_size > 1:
            self._merge_ranks(self._trainer, self._module)
        return {"store": None if self.store is None else self.store.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.store = None
        self._loaded_state = state_dict.get("store")

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._trainer, self._module = trainer, pl_module

    def on_train_start(self, trainer, pl_module) -> None:
        if self._loaded_state is not None and trainer.global_rank != 0:
            self._loaded_state = None  # rank 0 carries the merged samples of the checkpoint

    # ----- reports ------------------------------------------------------------------------
    def on_fit_end(self, trainer, pl_module) -> None:
        if pl_module.sae is None:
            return
        self._merge_ranks(trainer, pl_module)
        if not trainer.is_global_zero:
            return
        tokenizer = pl_module.data.tokenizer

        def decode(ids: list[int]) -> str:
            return tokenizer.decode(ids)

        sae_cfg = pl_module.sae.cfg
        meta = {"architecture": sae_cfg.architecture, "hook_name": sae_cfg.hook_name,
                "model_name": sae_cfg.model_name, "sae_dir": _absolute(pl_module.hparams.get("output_dir")),
                "global_step": trainer.global_step}
        top = write_reports(self.store, self.output_dir, decode, self.n_features, self.n_examples, meta)
        for writer in tensorboard_writers(trainer.loggers):
            for i in top[: self.n_cards]:
                writer.add_text(f"features/{i:05d}", feature_card(feature_record(self.store, i, decode)),
                                trainer.global_step)
        log.info(f"wrote the activation-sample report to {Path(self.output_dir) / 'interpretability_report.md'}")


def _absolute(path: str | None) -> str | None:
    # The summary is read from other directories (`difflens samples similar`): no relative path.
    return None if path is None else str(Path(path).resolve())
