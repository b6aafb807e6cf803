"""Finetuning on ground-truth data: example encoding, LoRA targets, adapter merging."""

from difflens.finetune.examples import IGNORE_INDEX, encode_example, pack_examples, pad_examples
from difflens.finetune.lora import (
    DEFAULT_TARGET_MODULES,
    LoraSpec,
    apply_lora,
    default_target_modules,
    matching_modules,
    merge_adapter,
)

__all__ = [
    "DEFAULT_TARGET_MODULES", "IGNORE_INDEX", "LoraSpec", "apply_lora", "default_target_modules",
    "encode_example", "matching_modules", "merge_adapter", "pack_examples", "pad_examples",
]
