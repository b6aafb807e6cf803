"""Finetune any causal LM on ground-truth data: full, LoRA, or QLoRA (4-/8-bit bitsandbytes)."""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
import torch
from torchmetrics import MeanMetric

from datamodules.ground_truth import GroundTruthDataModule
from difflens.errors import ConfigError
from difflens.finetune import IGNORE_INDEX, LoraSpec, apply_lora, merge_adapter
from difflens.models import check_quantization, load_causal_lm, load_tokenizer


class CausalLMFinetuner(pl.LightningModule):
    """Next-token finetuning of a causal LM loaded by name or path through ``difflens.models``.

    ``method: lora`` trains only LoRA weights (checkpoints then hold only those);
    ``quantization: 4bit|8bit`` loads the frozen base with bitsandbytes (QLoRA). The model is
    loaded in ``configure_model``, so constructing this class is cheap.

    Args:
        base_model: Hub name or directory of the model to finetune.
        method: ``full`` (every weight) or ``lora``.
        quantization: ``4bit`` (nf4) or ``8bit`` for the frozen base (needs ``method: lora``), or null.
        lora: LoRA hyperparameters (rank, alpha, dropout, target modules).
        dtype: dtype of the unquantised weights (``float32``, ``bfloat16``, ``auto``).
        tokenizer: tokenizer name or path; null uses ``data``'s, else ``base_model``'s.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay on matrices.
        warmup_steps: linear warm-up before the cosine decay to ``min_lr_ratio · lr``.
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        data: the ground-truth data it is finetuned on, whose tokenizer it uses and whose
            ground truths `GroundTruthShiftCallback` measures (the CLI passes the data module
            given under ``data:``).
    """

    def __init__(
        self,
        base_model: str,
        method: Literal["full", "lora"] = "lora",
        quantization: Literal["4bit", "8bit"] | None = None,
        lora: LoraSpec | None = None,
        dtype: str = "float32",
        tokenizer: str | None = None,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 20,
        min_lr_ratio: float = 0.1,
        data: GroundTruthDataModule | None = None,
    ):
        super().__init__()
        if method not in ("full", "lora"):
            raise ConfigError(f"model.method must be 'full' or 'lora', got {method!r}")
        check_quantization(quantization, "model.quantization")
        if quantization is not None and method == "full":
            raise ConfigError("quantised weights cannot be trained directly: set model.method: lora "
                              "(QLoRA) or model.quantization: null")
        if lr <= 0:
            raise ConfigError(f"model.lr must be > 0, got {lr}")
        self.lora_spec = (lora or LoraSpec()) if method == "lora" else None
        # A dataclass in hparams would break weights_only checkpoint loading: store a dict.
        self.save_hyperparameters(ignore=["lora", "data"])
        self.hparams["lora"] = asdict(self.lora_spec) if self.lora_spec else None
        # LoRA checkpoints hold only the trainable weights; the base comes from base_model.
        self.strict_loading = method == "full"
        self.data = data
        self.model = None
        self.tokenizer = None
        self.val_loss = MeanMetric()

    # ---- model -----------------------------------------------------------------------

    def configure_model(self) -> None:
        if self.model is not None:
            return
        hp = self.hparams
        if hp.tokenizer is None and self.data is not None:
            self.tokenizer = self.data.tokenizer  # loaded in its setup, which runs first
        else:
            self.tokenizer = load_tokenizer(hp.tokenizer or hp.base_model)
        model = load_causal_lm(hp.base_model, dtype=hp.dtype, quantization=hp.quantization).train()
        if hp.quantization is not None:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        if self.lora_spec is not None:
            model = apply_lora(model, self.lora_spec)
        self.model = model

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The trainable tensors under their checkpoint names (``model.…lora_A.default.weight``)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    # ---- steps -----------------------------------------------------------------------

    def model_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean next-token loss over completion tokens, and how many tokens it averages."""
        loss = self.model(**batch).loss
        n_tokens = (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
        return loss, n_tokens

    def training_step(self, batch, batch_idx):
        loss, _ = self.model_step(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/perplexity", torch.exp(loss.detach()))
        return loss

    def validation_step(self, batch, batch_idx):
        loss, n_tokens = self.model_step(batch)
        self.val_loss.update(loss, weight=n_tokens)

    def on_validation_epoch_end(self) -> None:
        loss = self.val_loss.compute()  # synchronised over processes by torchmetrics
        self.val_loss.reset()
        self.log_dict({"val/loss": loss, "val/perplexity": torch.exp(loss)}, prog_bar=True)
        self.log("hp_metric", loss)  # TensorBoard's hparams view: the final validation loss

    test_step = validation_step
    on_test_epoch_end = on_validation_epoch_end

    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=hp.lr)
        total = max(self.trainer.estimated_stepping_batches, hp.warmup_steps + 1)

        def schedule(step: int) -> float:
            if step < hp.warmup_steps:
                return (step + 1) / hp.warmup_steps
            progress = min(1.0, (step - hp.warmup_steps) / max(1, total - hp.warmup_steps))
            return hp.min_lr_ratio + (1 - hp.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- checkpoints and saving ------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.lora_spec is not None:
            keep = set(self.trainable_state_dict())
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}

    def save_pretrained(self, directory: str | Path) -> None:
        """LoRA: the adapter (``adapter_config.json`` + weights); full: the whole model. Plus the tokenizer."""
        self.model.save_pretrained(str(directory))
        self.tokenizer.save_pretrained(str(directory))

    def save_merged(self, directory: str | Path) -> None:
        """A plain model directory loadable by path: for LoRA, the adapter folded into an
        unquantised copy of the base model."""
        if self.lora_spec is None:
            self.save_pretrained(directory)
            return
        with tempfile.TemporaryDirectory() as adapter_dir:
            self.model.save_pretrained(adapter_dir)
            merged = merge_adapter(self.hparams.base_model, adapter_dir,
                                   dtype="float32" if self.hparams.quantization else self.hparams.dtype)
        merged.save_pretrained(str(directory))
        self.tokenizer.save_pretrained(str(directory))
