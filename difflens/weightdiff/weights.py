"""Read weights tensor by tensor from a model or adapter directory, without building the model.

Streaming from safetensors keeps memory at a few matrices, so two 7B checkpoints can be
compared on a laptop. ``pytorch_model*.bin`` files are read whole as a fallback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from difflens.errors import ModelLoadError


class WeightReader:
    """Tensors of a Hugging Face model directory by name.

    Args:
        directory: a directory written by ``save_pretrained`` (``*.safetensors`` or ``*.bin``).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).expanduser()
        if self.directory.is_file():
            raise ModelLoadError(f"{str(self.directory)!r} is a file; give the model (or adapter) directory that "
                                 f"holds it")
        if not self.directory.is_dir():
            raise ModelLoadError(f"weights directory {str(self.directory)!r} does not exist")
        self._where: dict[str, Path] = {}
        self._bin: dict[str, torch.Tensor] = {}
        files = sorted(self.directory.glob("*.safetensors"))
        if files:
            from safetensors import safe_open

            for f in files:
                with safe_open(str(f), "pt") as handle:
                    for key in handle.keys():
                        self._where[key] = f
        else:
            for f in sorted(self.directory.glob("*.bin")):
                self._bin.update(torch.load(f, map_location="cpu", weights_only=True))
        if not self._where and not self._bin:
            raise ModelLoadError(f"{str(self.directory)!r} holds no *.safetensors or *.bin weights; pass a "
                                 f"directory written by save_pretrained")

    def keys(self) -> list[str]:
        return list(self._where) or list(self._bin)

    def __contains__(self, key: str) -> bool:
        return key in self._where or key in self._bin

    def __getitem__(self, key: str) -> torch.Tensor:
        if key in self._bin:
            return self._bin[key]
        from safetensors import safe_open

        with safe_open(str(self._where[key]), "pt") as handle:
            return handle.get_tensor(key)


def is_adapter_dir(path: str | Path) -> bool:
    """A peft adapter directory (``adapter_config.json``) rather than a full model."""
    return (Path(path) / "adapter_config.json").is_file()


@dataclass
class LoraFactors:
    """One LoRA update ``ΔW = scale · B A`` (transposed when ``fan_in_fan_out``)."""

    name: str  # the base weight it updates, e.g. "transformer.h.0.attn.c_attn.weight"
    a: torch.Tensor  # (r, in)
    b: torch.Tensor  # (out, r)
    scale: float
    fan_in_fan_out: bool

    def delta(self) -> torch.Tensor:
        """The dense ΔW in the base weight's layout."""
        d = self.scale * (self.b.float() @ self.a.float())  # (out, in)
        return d.T if self.fan_in_fan_out else d


def _pattern_value(patterns: dict, module: str, default):
    for key, value in (patterns or {}).items():
        if re.search(rf"(^|\.){key}$", module):
            return value
    return default


def read_lora_factors(adapter_dir: str | Path) -> Iterator[LoraFactors]:
    """The LoRA updates stored in a peft adapter directory, one per adapted module."""
    adapter_dir = Path(adapter_dir)
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    reader = WeightReader(adapter_dir)
    for key in sorted(k for k in reader.keys() if ".lora_A." in k):
        module = key.split(".lora_A.")[0]
        b_key = key.replace(".lora_A.", ".lora_B.")
        if b_key not in reader:
            continue
        a, b = reader[key], reader[b_key]
        base_module = module.removeprefix("base_model.model.")
        r = a.shape[0]
        alpha = _pattern_value(config.get("alpha_pattern"), base_module, config.get("lora_alpha", r))
        scale = alpha / (r ** 0.5 if config.get("use_rslora") else r)
        yield LoraFactors(f"{base_module}.weight", a, b, scale, bool(config.get("fan_in_fan_out", False)))
