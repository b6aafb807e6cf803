"""Per-layer SVD of what an intervention changed in the weights, and which layers changed most."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from difflens.errors import ModelLoadError
from difflens.weightdiff.spectrum import (
    effective_rank,
    energy_top_k,
    lowrank_singular_values,
    singular_values,
    stable_rank,
)
from difflens.weightdiff.weights import WeightReader, is_adapter_dir, read_lora_factors

# Singular values kept per layer in the summary (the plots use them too).
N_SINGULAR_VALUES = 64


@dataclass
class LayerDiff:
    """How one weight matrix changed.

    Attributes:
        name: the weight's name in the base model.
        shape: its shape.
        frobenius: ``‖ΔW‖_F``.
        relative_change: ``‖ΔW‖_F / ‖W‖_F`` (the ranking key).
        spectral_norm: ``σ_1(ΔW)``.
        effective_rank: Roy-Vetterli effective rank of ΔW.
        stable_rank: ``‖ΔW‖_F² / σ_1²``.
        energy_top_k: share of ``‖ΔW‖_F²`` in the top-k singular directions.
        singular_values: the largest singular values, descending.
    """

    name: str
    shape: list[int]
    frobenius: float
    relative_change: float
    spectral_norm: float
    effective_rank: float
    stable_rank: float
    energy_top_k: float
    singular_values: list[float] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.frobenius > 0


def layer_diff(name: str, base: torch.Tensor, sv: torch.Tensor, top_k: int) -> LayerDiff:
    """Statistics of one ΔW from its singular values and the base weight."""
    frob = float(sv.double().pow(2).sum().sqrt())
    base_norm = float(base.double().norm())
    return LayerDiff(
        name=name, shape=list(base.shape), frobenius=frob,
        relative_change=frob / base_norm if base_norm > 0 else float("inf") if frob > 0 else 0.0,
        spectral_norm=float(sv[0]) if len(sv) else 0.0, effective_rank=effective_rank(sv),
        stable_rank=stable_rank(sv), energy_top_k=energy_top_k(sv, top_k),
        singular_values=[float(s) for s in sv[:N_SINGULAR_VALUES]],
    )


def _zero(name: str, base: torch.Tensor) -> LayerDiff:
    return LayerDiff(name, list(base.shape), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, [])


def diff_models(base_dir: str | Path, tuned_dir: str | Path, top_k: int = 8) -> list[LayerDiff]:
    """ΔW of every 2-D weight present in both models with the same shape, ranked by relative change."""
    base, tuned = WeightReader(base_dir), WeightReader(tuned_dir)
    shared = [k for k in base.keys() if k in tuned]
    out = []
    for name in shared:
        w = base[name]
        if w.dim() != 2 or not w.is_floating_point():
            continue
        t = tuned[name]
        if t.shape != w.shape:
            continue
        delta = t.float() - w.float()
        out.append(layer_diff(name, w, singular_values(delta), top_k) if delta.any() else _zero(name, w))
    if not out:
        raise ModelLoadError(f"{base_dir} and {tuned_dir} share no 2-D weight of the same name and shape; "
                             f"are they the same architecture?")
    return rank_layers(out)


def diff_adapter(base_dir: str | Path, adapter_dir: str | Path, top_k: int = 8) -> list[LayerDiff]:
    """ΔW = scale · B A of every LoRA-adapted weight, from the factors (no merge, no dense SVD)."""
    base = WeightReader(base_dir)
    out = []
    for f in read_lora_factors(adapter_dir):
        if f.name not in base:
            raise ModelLoadError(f"the adapter updates {f.name!r}, which {base_dir} does not have; "
                                 f"is it the adapter's base model?")
        sv = lowrank_singular_values(f.b, f.a, f.scale)
        out.append(layer_diff(f.name, base[f.name], sv, top_k) if sv.any() else _zero(f.name, base[f.name]))
    return rank_layers(out)


def diff(base: str | Path, tuned: str | Path, top_k: int = 8) -> list[LayerDiff]:
    """`diff_adapter` when ``tuned`` is a peft adapter directory, else `diff_models`."""
    if not is_adapter_dir(tuned) and any(Path(tuned).glob("adapter_model.*")):
        raise ModelLoadError(f"{str(tuned)!r} holds adapter weights (adapter_model.*) but no adapter_config.json; "
                             f"copy the adapter's adapter_config.json there")
    return diff_adapter(base, tuned, top_k) if is_adapter_dir(tuned) else diff_models(base, tuned, top_k)


def rank_layers(layers: list[LayerDiff]) -> list[LayerDiff]:
    """Most changed first (relative change, then absolute), unchanged last, ties by name."""
    return sorted(layers, key=lambda d: (-d.relative_change, -d.frobenius, d.name))


def summary(layers: list[LayerDiff], base: str, tuned: str, top_k: int) -> dict:
    """The JSON summary: every changed layer ranked, and the names of unchanged ones."""
    changed = [d for d in layers if d.changed]
    return {
        "base": str(base), "tuned": str(tuned), "kind": "adapter" if is_adapter_dir(tuned) else "model",
        "top_k": top_k, "n_matrices": len(layers), "n_changed": len(changed),
        "ranking": [d.name for d in changed],
        "layers": [asdict(d) for d in changed],
        "unchanged": sorted(d.name for d in layers if not d.changed),
    }
