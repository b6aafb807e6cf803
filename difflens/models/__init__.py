"""Loading causal LMs and tokenizers, training tokenizers, and finding modules by name."""

from difflens.models.hooks import get_module
from difflens.models.layers import block_index, decoder_blocks, resolve_layer_name
from difflens.models.loading import (
    ModelSpec,
    check_quantization,
    disable_cpu_4bit_repacking,
    load_causal_lm,
    load_tokenizer,
    quantization_config,
    resolve_dtype,
)
from difflens.models.tokenizer import train_bpe_tokenizer

__all__ = [
    "ModelSpec",
    "block_index", "check_quantization", "decoder_blocks", "disable_cpu_4bit_repacking", "get_module",
    "load_causal_lm", "load_tokenizer",
    "quantization_config", "resolve_dtype", "resolve_layer_name", "train_bpe_tokenizer",
]
