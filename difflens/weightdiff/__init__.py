"""Weight-difference analysis: per-layer SVD of ΔW (or of B·A for an unmerged LoRA)."""

from difflens.weightdiff.analysis import LayerDiff, diff, diff_adapter, diff_models, rank_layers, summary
from difflens.weightdiff.report import write_report
from difflens.weightdiff.spectrum import (
    effective_rank,
    energy_top_k,
    lowrank_singular_values,
    singular_values,
    stable_rank,
)
from difflens.weightdiff.weights import LoraFactors, WeightReader, is_adapter_dir, read_lora_factors

__all__ = [
    "LayerDiff", "LoraFactors", "WeightReader", "diff", "diff_adapter", "diff_models", "effective_rank",
    "energy_top_k", "is_adapter_dir", "lowrank_singular_values", "rank_layers", "read_lora_factors",
    "singular_values", "stable_rank", "summary", "write_report",
]
