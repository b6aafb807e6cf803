"""LoRA for any causal LM: per-architecture target modules, checked before peft sees them.

LoRA (Hu et al. 2021) freezes ``W`` (out x in) and learns ``ΔW = (alpha / r) · B A`` with
``B`` (out x r) zero-initialised and ``A`` (r x in), so training starts at the base model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from difflens.errors import ConfigError

# Attention and MLP projections per `config.model_type`; other architectures use peft's
# "all-linear" (every linear layer but the output head).
DEFAULT_TARGET_MODULES: dict[str, list[str]] = {
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mixtral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma3_text": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gptj": ["q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"],
    "bloom": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "falcon": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}


@dataclass
class LoraSpec:
    """LoRA hyperparameters.

    Attributes:
        r: rank of ``B A``.
        alpha: scale numerator; the update is ``(alpha / r) · B A``.
        dropout: dropout on the LoRA input.
        target_modules: module-name suffixes (``["c_attn", "c_fc"]``), a regex matched against
            full names, or None for the architecture's default.
        fan_in_fan_out: the targeted layers store ``W`` as (in, out), like GPT-2's ``Conv1D``;
            None detects it.
    """

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] | str | None = None
    fan_in_fan_out: bool | None = None

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ConfigError(f"model.lora.r must be >= 1, got {self.r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.lora.dropout must be in [0, 1), got {self.dropout}")
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ConfigError("model.lora.target_modules is empty; name some modules or leave it null")


def default_target_modules(model: torch.nn.Module) -> list[str] | str:
    """The LoRA targets for ``model``'s architecture, or ``"all-linear"`` when unknown."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return DEFAULT_TARGET_MODULES.get(model_type, "all-linear")


def matching_modules(model: torch.nn.Module, target_modules: list[str] | str) -> list[str]:
    """Names of the modules ``target_modules`` selects, by peft's rule.

    A list matches a module whose name equals an entry or ends with ``"." + entry``; a string
    is a regex that must match the whole name; ``"all-linear"`` is every linear layer (also
    quantised and ``Conv1D`` ones) except the output embedding.
    """
    names = [n for n, _ in model.named_modules() if n]
    if target_modules == "all-linear":
        return [n for n, m in model.named_modules() if n and _is_linear(m) and not n.endswith("lm_head")]
    if isinstance(target_modules, str):
        pattern = re.compile(target_modules)
        return [n for n in names if pattern.fullmatch(n)]
    return [n for n in names if any(n == t or n.endswith("." + t) for t in target_modules)]


def _is_linear(module: torch.nn.Module) -> bool:
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, (torch.nn.Linear, Conv1D)):
        return True
    try:
        import bitsandbytes as bnb
    except ImportError:
        return False
    return isinstance(module, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt))


def apply_lora(model: torch.nn.Module, spec: LoraSpec):
    """Wrap ``model`` in a peft LoRA model; only the LoRA weights are trainable.

    Raises:
        ConfigError: ``target_modules`` matches no module, or matches a module LoRA cannot wrap.
    """
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    targets = spec.target_modules if spec.target_modules is not None else default_target_modules(model)
    matched = matching_modules(model, targets)
    if not matched:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if n and _is_linear(m)})
        raise ConfigError(f"model.lora.target_modules={targets!r} matches no module of "
                          f"{type(model).__name__}; its linear layers are named {linear}")
    fan_in_fan_out = spec.fan_in_fan_out
    if fan_in_fan_out is None:
        fan_in_fan_out = any(isinstance(model.get_submodule(n), Conv1D) for n in matched)
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=targets,
                        fan_in_fan_out=fan_in_fan_out, bias="none", task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ConfigError(f"model.lora.target_modules={targets!r}: {str(err).splitlines()[0]}") from None


def merge_adapter(base: str, adapter_dir: str, dtype: str = "float32") -> torch.nn.Module:
    """Load ``base`` unquantised, apply the adapter and fold ``B A`` into the weights.

    Merging from a fresh unquantised load (rather than the training model) gives a plain model
    loadable by path for every mode, QLoRA included.
    """
    from difflens.models import load_causal_lm

    return load_causal_lm(base, dtype=dtype, adapter=adapter_dir).merge_and_unload()
