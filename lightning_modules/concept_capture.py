"""Capture pooled activations of concept contexts as a predict loop."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from datamodules.encyclopedia import ConceptContextDataModule
from difflens.encyclopedia.pooling import capture_batch, check_poolings, resolve_layers
from difflens.encyclopedia.store import site_name
from difflens.errors import ConfigError
from difflens.models.layers import decoder_blocks


class ConceptCapture(pl.LightningModule):
    """Runs a causal LM over concept contexts and pools hidden states at chosen layers.

    Each batch is one forward pass without the LM head; every (layer, pooling) pair is a
    *site* of the stage file. The model is loaded in ``configure_model``, once per process.

    Args:
        model_name: Hugging Face id or local directory of the causal LM.
        layers: residual stream after these blocks (0 = the first block, -1 = the last block's
            output before the final norm), as an SAE's ``layer.N`` hook reads it.
        poolings: any of ``span_mean`` (default: mean over the concept's own tokens),
            ``span_last`` (its last token) and ``context_mean`` (every token but BOS).
        dtype: model dtype (``float32``, ``bfloat16``, ``auto``).
        quantization: ``4bit``/``8bit`` through bitsandbytes, or null.
        num_threads: torch CPU threads (0 = leave as is); on a shared machine 1 can be faster.
        data: the contexts being captured, whose concept tables `EncyclopediaStageWriter`
            records beside the activations (the CLI passes the data module given under
            ``data:``). A module that captures several stages, loading its LM once, is given
            each stage's data module before its predict run.
    """

    def __init__(self, model_name: str, layers: list[int] | None = None, poolings: list[str] | None = None,
                 dtype: str = "float32", quantization: str | None = None, num_threads: int = 0,
                 data: ConceptContextDataModule | None = None):
        super().__init__()
        self.model_name = model_name
        self.layers = list(layers) if layers is not None else [-1]
        if not self.layers:
            raise ConfigError("model.layers must name at least one layer")
        self.poolings = check_poolings(poolings or ["span_mean"])
        self.dtype_name = dtype
        self.quantization = quantization
        self.num_threads = num_threads
        self.data = data
        self.model = None
        self.resolved_layers: list[int] | None = None
        self.hidden_size: int | None = None

    def configure_model(self) -> None:
        if self.model is not None:
            return
        from difflens.models import load_causal_lm

        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        self.model = load_causal_lm(self.model_name, dtype=self.dtype_name, quantization=self.quantization)
        for p in self.model.parameters():
            p.requires_grad_(False)
        config = self.model.config
        _, n_blocks = decoder_blocks(self.model)
        self.resolved_layers = resolve_layers(self.layers, n_blocks)
        self.hidden_size = getattr(config, "hidden_size", None) or config.n_embd

    @property
    def sites(self) -> list[str]:
        return [site_name(layer, p) for layer in self.resolved_layers for p in self.poolings]

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> dict:
        pooled = capture_batch(self.model, batch, self.resolved_layers, self.poolings)
        return {"sample_id": batch["sample_id"].cpu(), "concept_index": batch["concept_index"].cpu(),
                "features": {site_name(layer, p): v.cpu() for (layer, p), v in pooled.items()}}
