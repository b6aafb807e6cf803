"""Train a small GPT-2 from scratch: the embedded base model of the offline default."""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from torchmetrics import MeanMetric

from datamodules.corpus import TextCorpusDataModule
from difflens.errors import ConfigError


class GPT2Pretrainer(pl.LightningModule):
    """A GPT-2 built from config and trained with next-token loss on a packed corpus.

    The vocabulary size comes from ``data``'s tokenizer at ``configure_model`` time, so the
    tokenizer can be trained in the same run.

    Args:
        n_layer: transformer blocks.
        n_embd: residual-stream width.
        n_head: attention heads (must divide ``n_embd``).
        n_positions: maximum sequence length.
        dropout: dropout on residual, attention and embeddings.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay on matrices.
        warmup_steps: linear warm-up before the cosine decay.
        data: the corpus, whose tokenizer (trained or loaded in its ``setup``) the model is
            built for and saved with (the CLI passes the data module given under ``data:``).
    """

    def __init__(
        self,
        n_layer: int = 4,
        n_embd: int = 192,
        n_head: int = 6,
        n_positions: int = 256,
        dropout: float = 0.0,
        lr: float = 3e-3,
        weight_decay: float = 0.1,
        warmup_steps: int = 50,
        data: TextCorpusDataModule | None = None,
    ):
        super().__init__()
        if n_embd % n_head:
            raise ConfigError(f"model.n_head={n_head} must divide model.n_embd={n_embd}")
        self.save_hyperparameters(ignore=["data"])
        self.data = data
        self.model = None
        self.tokenizer = None
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()

    def configure_model(self) -> None:
        if self.model is not None:
            return
        from transformers import GPT2Config, GPT2LMHeadModel

        if self.data is None:
            raise ConfigError("GPT2Pretrainer needs data: the TextCorpusDataModule whose tokenizer it is built for")
        self.tokenizer = self.data.tokenizer
        hp = self.hparams
        config = GPT2Config(
            vocab_size=len(self.tokenizer), n_positions=hp.n_positions, n_embd=hp.n_embd,
            n_layer=hp.n_layer, n_head=hp.n_head, resid_pdrop=hp.dropout, embd_pdrop=hp.dropout,
            attn_pdrop=hp.dropout, bos_token_id=self.tokenizer.bos_token_id,
            eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id,
        )
        self.model = GPT2LMHeadModel(config)

    def model_step(self, batch) -> torch.Tensor:
        (input_ids,) = batch  # (B, T)
        return self.model(input_ids=input_ids, labels=input_ids).loss

    def training_step(self, batch, batch_idx):
        loss = self.model_step(batch)
        self.train_loss(loss)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self.model_step(batch)
        self.val_loss.update(loss, weight=batch[0].shape[0])

    def on_validation_epoch_end(self) -> None:
        loss = self.val_loss.compute()
        self.val_loss.reset()
        self.log_dict({"val/loss": loss, "val/perplexity": torch.exp(loss)}, prog_bar=True, sync_dist=False)
        self.log("hp_metric", loss, sync_dist=False)  # TensorBoard's hparams view: the final validation loss

    test_step = validation_step
    on_test_epoch_end = on_validation_epoch_end

    def configure_optimizers(self):
        hp = self.hparams
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=hp.lr, betas=(0.9, 0.95),
        )
        total = max(self.trainer.estimated_stepping_batches, hp.warmup_steps + 1)

        def schedule(step: int) -> float:
            if step < hp.warmup_steps:
                return (step + 1) / hp.warmup_steps
            progress = (step - hp.warmup_steps) / max(1, total - hp.warmup_steps)
            return 0.1 + 0.45 * (1 + math.cos(math.pi * min(progress, 1.0)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def save_pretrained(self, directory: str | Path) -> None:
        """Write config, safetensors weights and tokenizer, loadable with ``load_causal_lm``."""
        self.model.save_pretrained(str(directory))
        self.tokenizer.save_pretrained(str(directory))
