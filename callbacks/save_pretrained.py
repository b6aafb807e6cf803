"""Save the trained model as a Hugging Face directory at the end of fit."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from difflens.files import write_dir, write_json

log = logging.getLogger(__name__)


class SavePretrained(pl.Callback):
    """At the end of fit, rank 0 writes ``pl_module.save_pretrained(dir)`` to ``output_dir``.

    The directory is filled under a temporary name and renamed when complete, so a crash never
    leaves a half-saved model that a later stage would mistake for a finished one. Beside the
    weights it writes ``training_metrics.json`` with the final logged metrics (for the base
    model: held-out loss and perplexity).

    Args:
        output_dir: where the model directory goes (e.g. ``runs/quickstart/base_lm/model``).
    """

    def __init__(self, output_dir: str):
        self.output_dir = output_dir

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if isinstance(v, (torch.Tensor, float, int)) and torch.as_tensor(v).numel() == 1}
        metrics["global_step"] = trainer.global_step

        def fill(tmp: Path) -> None:
            pl_module.save_pretrained(tmp)
            write_json(tmp / "training_metrics.json", metrics)

        write_dir(self.output_dir, fill)
        log.info(f"saved model to {self.output_dir} (held-out perplexity: "
                 f"{metrics.get('val/perplexity', float('nan')):.2f})")
