"""Train a sparse autoencoder or transcoder on activations served by `ActivationDataModule`."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from pathlib import Path

import pytorch_lightning as pl
import torch
from torchmetrics import MeanMetric

from datamodules.activations import ActivationDataModule
from difflens.activations import check_finite, splice_losses
from difflens.errors import ConfigError
from difflens.logs import tensorboard_writers
from difflens.sae import SAESpec, build_sae, load_sae
from difflens.sae.metrics import FeatureDensity, fraction_of_variance_unexplained

log = logging.getLogger(__name__)

DEFAULT_SAE = SAESpec()  # frozen, so one shared default instance is safe


class SparseDictionaryModule(pl.LightningModule):
    """A dictionary from `difflens.sae` trained on the activations ``data`` serves.

    ``d_in`` (and ``d_out``) come from a sample of ``data``'s activations at ``configure_model``;
    normalisation scales and the geometric-median decoder bias are estimated there from the
    same sample. After every optimiser step the decoder rows are renormalised (their parallel
    gradient having been removed before it). Validation measures reconstruction with the
    inference rule and the LM loss with the dictionary spliced into the model.

    Under DDP, gradients are all-reduced as usual; the dead-latent counters and the BatchTopK
    threshold are buffers, which DDP broadcasts from rank 0 before every forward, so they follow
    rank 0's batches (a sample of the same distribution).

    Args:
        sae: the dictionary: architecture, size, sparsity and loss settings (`SAESpec`); its
            widths, hook names and model name come from ``data``.
        b_dec_init: ``geometric_median`` (of a sample of targets) or ``zeros``.
        init_sample_size: activations used for the normalisation and ``b_dec`` estimates.
        lr: Adam learning rate; None scales ``2e-4`` by ``(d_sae / 16384) ** -0.5`` (Gao et al.).
        warmup_steps: linear learning-rate warm-up.
        sae_path: start from a saved dictionary (its ``d_in`` must match the activations);
            ``sae`` is then not used.
        output_dir: where ``cfg.json`` + ``sae_weights.safetensors`` go at the end of fit.
        histogram_every_n_steps: log the feature-density histogram this often.
        data: the activations: the dictionary's sizes and initial statistics come from their
            sample, and validation splices the dictionary into their LM at their hooks (the
            CLI passes the data module given under ``data:``).
    """

    def __init__(
        self,
        sae: SAESpec = DEFAULT_SAE,
        b_dec_init: str = "geometric_median",
        init_sample_size: int = 4096,
        lr: float | None = None,
        warmup_steps: int = 20,
        sae_path: str | None = None,
        output_dir: str | None = None,
        histogram_every_n_steps: int = 100,
        data: ActivationDataModule | None = None,
    ):
        super().__init__()
        if b_dec_init not in ("geometric_median", "zeros"):
            raise ConfigError(f"model.b_dec_init must be 'geometric_median' or 'zeros', got {b_dec_init!r}")
        for name, value, low in (("init_sample_size", init_sample_size, 1), ("warmup_steps", warmup_steps, 0),
                                 ("histogram_every_n_steps", histogram_every_n_steps, 1)):
            if value < low:
                raise ConfigError(f"model.{name} must be >= {low}, got {value}")
        if lr is not None and not (math.isfinite(lr) and lr > 0):
            raise ConfigError(f"model.lr must be > 0 (or null for the size-scaled default), got {lr}")
        # load_from_checkpoint passes back the dict stored below
        self.sae_spec = SAESpec(**sae) if isinstance(sae, dict) else sae
        # A dataclass in hparams would break weights_only checkpoint loading: store a dict.
        self.save_hyperparameters(ignore=["sae", "data"])
        self.hparams["sae"] = asdict(self.sae_spec)
        self.data = data
        self.sae = None
        self.val_metrics = torch.nn.ModuleDict({name: MeanMetric() for name in
                                                ("mse", "fvu", "l0", "ce_clean", "ce_spliced", "ce_zero")})
        self.density: FeatureDensity | None = None
        self.last_codes = None

    # ----- model --------------------------------------------------------------------------
    def configure_model(self) -> None:
        if self.sae is not None:
            return
        if self.data is None:
            raise ConfigError("SparseDictionaryModule needs data: the ActivationDataModule whose activations it learns")
        sample = self.data.sample_activations(self.hparams.init_sample_size)
        x, y = sample["x"], sample.get("y")
        if self.hparams.sae_path:
            self.sae = load_sae(self.hparams.sae_path, d_in=x.shape[-1])
        else:
            data = self.data
            cfg = self.sae_spec.to_config(x.shape[-1], None if y is None else y.shape[-1], hook_name=data.hook_name,
                                          hook_name_out=data.hook_name_out or "", model_name=data.model_name)
            self.sae = build_sae(cfg)
            self.sae.estimate_normalization(x, y)
            if self.hparams.b_dec_init == "geometric_median":
                self.sae.init_b_dec_geometric_median(x if y is None else y)
        self.density = FeatureDensity(self.sae.d_sae)

    # ----- training -----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        where = f"step {self.global_step}, batch {batch_idx}"
        check_finite(batch["x"], where)
        if "y" in batch:
            check_finite(batch["y"], where)
        out = self.sae(batch["x"], batch.get("y"))
        target = batch.get("y", batch["x"]) * self.sae.output_scale
        codes = out.codes
        l0 = (codes.values > 0).sum() / codes.n_rows
        self.density.update(codes)
        log = {f"train/{k}": v for k, v in out.terms.items()}
        log.update({"train/loss": out.loss.detach(), "train/l0": l0,
                    "train/fvu": fraction_of_variance_unexplained(out.recon.detach(), target),
                    "train/dead_fraction": self.sae.dead_mask.float().mean()})
        self.log_dict(log, prog_bar=False)
        self.log("loss", out.loss.detach(), prog_bar=True, logger=False)
        # for ActivationSampleCallback; kept off the returned dict, which Lightning walks and copies
        self.last_codes = type(codes)(codes.values.detach(), codes.rows, codes.cols, codes.n_rows, codes.d_sae)
        return out.loss

    def on_before_optimizer_step(self, optimizer) -> None:
        self.sae.remove_parallel_decoder_grad()

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        # Here, not in on_train_batch_end: callbacks (ModelCheckpoint) run their
        # on_train_batch_end first, and a checkpoint must hold the constrained decoder that
        # the next step starts from, or a resumed run diverges from an uninterrupted one.
        self.sae.normalize_decoder()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        every = self.hparams.histogram_every_n_steps
        if every and self.global_step % every == 0:
            self._log_density()

    def _log_density(self) -> None:
        density = self.density.compute()
        self.density.reset()
        for writer in tensorboard_writers(self.loggers):
            writer.add_histogram("train/log10_feature_density", torch.log10(density + 1e-10), self.global_step)

    # ----- validation ---------------------------------------------------------------------
    def validation_step(self, batch, batch_idx):
        data = self.data
        input_ids, mask, docs = batch
        acts = data.harvester(input_ids, mask, docs)
        check_finite(acts["x"], f"validation batch {batch_idx}")
        target = acts.get("y", acts["x"])
        codes = self.sae.encode_sparse(acts["x"])
        recon = self.sae.decode_sparse(codes)
        n = len(target)
        self.val_metrics["mse"].update((recon - target).pow(2).sum(-1).mean(), n)
        self.val_metrics["fvu"].update(fraction_of_variance_unexplained(recon, target), n)
        self.val_metrics["l0"].update((codes.values > 0).sum() / max(codes.n_rows, 1), n)
        losses = splice_losses(data.lm, input_ids, mask, data.hook_name, self.sae.reconstruct, data.hook_name_out)
        for name, value in losses.items():
            self.val_metrics[f"ce_{name}"].update(value, n)

    def on_validation_epoch_end(self) -> None:
        values = {name: metric.compute() for name, metric in self.val_metrics.items()}
        for metric in self.val_metrics.values():
            metric.reset()
        clean, spliced, zero = values["ce_clean"], values["ce_spliced"], values["ce_zero"]
        self.log_dict({
            "val/mse": values["mse"], "val/fvu": values["fvu"], "val/l0": values["l0"],
            "val/ce_loss_clean": clean, "val/ce_loss_spliced": spliced, "val/ce_loss_zero_ablated": zero,
            "val/delta_lm_loss": spliced - clean,
            "val/ce_loss_recovered": (zero - spliced) / (zero - clean).clamp_min(1e-8),
            "val/dead_fraction": self.sae.dead_mask.float().mean(),
        }, prog_bar=True)
        self.log("hp_metric", values["fvu"])  # TensorBoard's hparams view: the fraction of variance unexplained

    # ----- optimisation and files ---------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        lr = hp.lr or 2e-4 / math.sqrt(self.sae.d_sae / 16384)
        optimizer = torch.optim.Adam(self.sae.parameters(), lr=lr, betas=(0.9, 0.999))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / max(1, hp.warmup_steps)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_fit_end(self) -> None:
        if self.hparams.output_dir and self.trainer.is_global_zero:
            path = self.sae.save(self.hparams.output_dir)
            log.info(f"saved the dictionary to {path} (cfg.json + sae_weights.safetensors)")

    def save_sae(self, directory: str | Path) -> Path:
        """Write ``cfg.json`` + ``sae_weights.safetensors`` (SAELens's layout)."""
        return self.sae.save(directory)
