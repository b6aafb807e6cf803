"""Callbacks of a finetuning run: save the merged intervention, measure its shift."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from difflens.errors import ConfigError
from difflens.files import write_dir, write_json
from difflens.logs import log_scalars, tensorboard_writers

log = logging.getLogger(__name__)


def _scalar_metrics(trainer: pl.Trainer) -> dict:
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
               if isinstance(v, (torch.Tensor, float, int)) and torch.as_tensor(v).numel() == 1}
    metrics["global_step"] = trainer.global_step
    return metrics


class SaveMergedModel(pl.Callback):
    """At the end of fit, rank 0 writes the merged intervention (``pl_module.save_merged``) to
    ``output_dir``: a plain model directory that later stages load by path.

    An existing ``output_dir`` is never overwritten: the constructor refuses it, before any
    training. Should one appear during training, the model goes to a timestamped sibling.

    Args:
        output_dir: where the merged model directory goes (e.g. ``runs/quickstart/finetune/model``).
    """

    def __init__(self, output_dir: str):
        if Path(output_dir).exists():
            raise ConfigError(f"merged-model directory {output_dir!r} already exists and is kept; delete it "
                              f"or choose another SaveMergedModel output_dir")
        self.output_dir = output_dir

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        target = Path(self.output_dir)
        if target.exists():
            target = target.with_name(f"{target.name}.{time.strftime('%Y%m%d-%H%M%S')}")
            log.warning(f"{self.output_dir} appeared during training; writing the merged model to {target}")
        metrics = _scalar_metrics(trainer)

        def fill(tmp: Path) -> None:
            pl_module.save_merged(tmp)
            write_json(tmp / "training_metrics.json", metrics)

        write_dir(target, fill)
        log.info(f"saved merged model to {target}")


class GroundTruthShiftCallback(pl.Callback):
    """At the end of fit, rank 0 samples free texts from base and intervention and measures how
    far each toy-world ground truth's topics and styles moved (``difflens.groundtruth.shift``).

    For a LoRA model the base is the same model with its adapter disabled (for QLoRA: the
    quantised base, so the comparison isolates what the adapter adds); otherwise the base is
    loaded from ``pl_module.hparams.base_model``. The ground truths are those of the module's
    ``data`` (`CausalLMFinetuner` on a `GroundTruthDataModule`; none without it). Writes
    ``output_file`` (JSON) and logs each target's shares to TensorBoard under ``shift/``.

    Args:
        output_file: JSON report path (e.g. ``runs/quickstart/finetune/shift.json``).
        n_samples: texts per model.
        max_new_tokens: tokens per text.
        seed: sampling seed, the same for both models.
    """

    def __init__(self, output_file: str, n_samples: int = 200, max_new_tokens: int = 48, seed: int = 0):
        if n_samples < 1:
            raise ConfigError(f"GroundTruthShiftCallback n_samples must be >= 1, got {n_samples}")
        self.output_file = output_file
        self.n_samples = n_samples
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.report: dict | None = None

    def _sample(self, model, tokenizer) -> list[str]:
        from difflens.groundtruth.shift import sample_free_texts

        return sample_free_texts(model, tokenizer, self.n_samples, self.max_new_tokens, self.seed)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        from peft import PeftModel

        from difflens.groundtruth.shift import measure_shift
        from difflens.models import load_causal_lm

        model, tok = pl_module.model, pl_module.tokenizer
        tuned = self._sample(model, tok)
        if isinstance(model, PeftModel):
            with model.disable_adapter():
                base = self._sample(model, tok)
        else:
            base_model = load_causal_lm(pl_module.hparams.base_model, dtype="float32")
            base = self._sample(base_model.to(pl_module.device), tok)
        truths = pl_module.data.truths if pl_module.data is not None else []
        self.report = measure_shift(base, tuned, truths)
        self.report["examples"] = {"base": base[:10], "intervention": tuned[:10]}
        write_json(self.output_file, self.report)
        lines, scalars = [], {}
        for gt in self.report["ground_truths"]:
            for t in gt["targets"]:
                lines.append(f"{gt['id']}: {t['kind']} {t['name']} {t['base']:.3f} -> {t['intervention']:.3f}")
                scalars[f"shift/{gt['id']}/{t['name']}/base"] = t["base"]
                scalars[f"shift/{gt['id']}/{t['name']}/intervention"] = t["intervention"]
        log_scalars(trainer.loggers, scalars, trainer.global_step)
        for writer in tensorboard_writers(trainer.loggers):
            writer.add_text("shift", "\n\n".join(lines) or "(no toy-world targets)", trainer.global_step)
        log.info("ground-truth shift (share of samples, base -> intervention):\n  " + "\n  ".join(lines))
