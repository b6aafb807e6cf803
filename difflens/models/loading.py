"""Load any causal LM and its tokenizer by Hugging Face name or local path.

One entry point for every stage, so that the quickstart's tiny GPT-2 and a Llama on a GPU
node go through the same code: dtype, device map, optional bitsandbytes 4-/8-bit
quantisation and an optional peft adapter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal

import torch

from difflens.errors import ConfigError, ModelLoadError, SettingError

Quantization = Literal["4bit", "8bit"]


def _looks_local(name_or_path: str) -> bool:
    # A Hub id is "name" or "org/name"; anything else is meant as a path.
    return name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1


def _check_resolvable(name_or_path: str, what: str) -> None:
    """Fail early, in one line, for a local path that is missing or not a model directory."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{what} path {str(path)!r} is a file; pass the directory that holds config.json")
        if what == "model" and not (path / "config.json").exists():
            raise ModelLoadError(
                f"model directory {str(path)!r} has no config.json; pass a directory written by "
                f"save_pretrained (e.g. runs/quickstart/base_lm/model after `make quickstart`)")
        if not os.access(path, os.R_OK | os.X_OK):
            raise ModelLoadError(f"{what} directory {str(path)!r} is not readable: check its permissions")
        return
    if _looks_local(name_or_path):
        raise ModelLoadError(
            f"{what} path {str(path)!r} does not exist; check the path, or train the quickstart "
            f"base model first with `make quickstart`")


def _offline_hint(name_or_path: str, what: str, err: Exception) -> ModelLoadError:
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    how = ("HF_HUB_OFFLINE is set, so only the local cache is searched; download it once "
           "with network (`huggingface-cli download NAME`) or pass a local directory"
           if offline else "check the name on huggingface.co, your network, or pass a local directory")
    return ModelLoadError(f"cannot load {what} {name_or_path!r}: {how} "
                          f"({type(err).__name__}: {str(err).splitlines()[0]})")


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | str | None:
    """``"bfloat16"`` -> ``torch.bfloat16``; ``"auto"`` and None pass through."""
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise ConfigError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    return value


QUANTIZATIONS = (None, "4bit", "8bit")


def check_quantization(quantization: str | None, flag: str = "quantization") -> None:
    """Raise a `SettingError` naming ``flag`` unless ``quantization`` is '4bit', '8bit' or None.

    Constructors call this so that a bad value fails at config time, before any weights load.
    """
    if quantization not in QUANTIZATIONS:
        raise SettingError(flag, f"must be '4bit', '8bit' or null, got {quantization!r}", quantization)


def quantization_config(quantization: Quantization | None, compute_dtype: torch.dtype = torch.float32):
    """A transformers ``BitsAndBytesConfig`` for 4-bit (nf4, double quant) or 8-bit loading.

    Lightning's ``BitsandbytesPrecision`` quantises only on CUDA, so quantisation happens at
    load time through transformers, which works on CPU too.
    """
    check_quantization(quantization)
    if quantization is None:
        return None
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute_dtype)
    return BitsAndBytesConfig(load_in_8bit=True)


def disable_cpu_4bit_repacking(model: torch.nn.Module) -> int:
    """Keep bitsandbytes from repacking 4-bit weights the first time they run in eval mode.

    On AVX512-BF16 CPUs ``Linear4bit`` repacks its weight in place on the first eval forward,
    after which LoRA training fails with "a view of a leaf Variable that requires grad is being
    used in an in-place operation" (Lightning's sanity check triggers it). Returns how many
    layers were changed.
    """
    try:
        import bitsandbytes as bnb
    except ImportError:
        return 0
    n = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


def load_tokenizer(name_or_path: str, *, padding_side: str = "right", revision: str | None = None):
    """Load a tokenizer (at Hub ``revision`` if given); give it a pad token (its EOS) when it has none."""
    from transformers import AutoTokenizer

    _check_resolvable(name_or_path, "tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **({"revision": revision} if revision else {}))
    except (OSError, ValueError) as err:
        raise _offline_hint(name_or_path, "tokenizer", err) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_causal_lm(
    name_or_path: str,
    *,
    dtype: str | torch.dtype | None = "auto",
    device_map: str | dict | None = None,
    quantization: Quantization | None = None,
    adapter: str | None = None,
    adapter_trainable: bool = False,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> torch.nn.Module:
    """Load a causal LM by Hub name or local directory.

    Args:
        name_or_path: a Hub id (``meta-llama/Llama-3.2-1B``) or a directory written by
            ``save_pretrained``.
        dtype: ``"auto"`` (the checkpoint's dtype), a torch dtype or its name.
        device_map: passed to transformers (``"auto"`` shards over GPUs); None keeps CPU.
        quantization: ``"4bit"`` (nf4) or ``"8bit"`` through bitsandbytes, or None.
        adapter: directory of a peft adapter to apply on top.
        adapter_trainable: load the adapter with trainable weights (to continue training).
        trust_remote_code: allow custom modelling code from the Hub.
        revision: a Hub branch, tag or commit of ``name_or_path`` (None: the default branch).

    Returns:
        The model, in eval mode.

    Raises:
        ModelLoadError: the name or path cannot be resolved (offline, missing, not a model).
    """
    from transformers import AutoModelForCausalLM

    _check_resolvable(name_or_path, "model")
    torch_dtype = resolve_dtype(dtype)
    kwargs = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    if device_map is not None:
        kwargs["device_map"] = device_map
    if revision:
        kwargs["revision"] = revision
    if quantization is not None:
        compute = torch_dtype if isinstance(torch_dtype, torch.dtype) else torch.float32
        kwargs["quantization_config"] = quantization_config(quantization, compute)
    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as err:
        raise _offline_hint(name_or_path, "model", err) from err
    if quantization == "4bit":
        disable_cpu_4bit_repacking(model)
    if adapter is not None:
        from peft import PeftModel

        _check_resolvable(adapter, "adapter")
        try:
            model = PeftModel.from_pretrained(model, adapter, is_trainable=adapter_trainable)
        except (OSError, ValueError) as err:
            raise ModelLoadError(f"cannot load adapter {adapter!r}: {str(err).splitlines()[0]}") from err
    return model.eval()


@dataclass
class ModelSpec:
    """One model of a comparison, loaded the same way by every stage that loads it.

    Checked when constructed: a bad value is a `SettingError` naming its field, which the
    constructor or CLI that holds the spec puts under its key (``model.intervention.quantization``).

    Attributes:
        name_or_path: Hub id or directory written by ``save_pretrained``.
        adapter: a peft adapter directory applied on top (base + LoRA as the intervention).
        dtype: ``auto`` (the checkpoint's), ``bfloat16``, ``float16`` or ``float32``; null: the
            loading stage's default (`PairedDecoder` decodes in ``float32``, every other stage
            loads the checkpoint's own dtype).
        quantization: ``4bit``, ``8bit`` (bitsandbytes) or None.
        revision: Hub branch, tag or commit of ``name_or_path`` and of its tokenizer.
        tokenizer: a different tokenizer's Hub id or directory (None: ``name_or_path``'s).
        trust_remote_code: allow custom modelling code from the Hub.
    """

    name_or_path: str
    adapter: str | None = None
    dtype: str | None = None
    quantization: str | None = None
    revision: str | None = None
    tokenizer: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name_or_path, str) or not self.name_or_path:
            raise SettingError("name_or_path", "is required (a Hub id or a save_pretrained directory)",
                               self.name_or_path)
        check_quantization(self.quantization)
        if self.dtype not in (None, "auto") and not isinstance(getattr(torch, str(self.dtype), None), torch.dtype):
            raise SettingError("dtype", f"must be float32, bfloat16, float16, auto or null, got {self.dtype!r}",
                               self.dtype)

    @classmethod
    def at(cls, value: ModelSpec | Mapping, key: str) -> ModelSpec:
        """``value`` as a `ModelSpec`, a mapping of its fields built into one; errors name ``key``.

        Args:
            value: a spec, or a mapping such as ``{name_or_path: gpt2, adapter: lora/}``.
            key: where ``value`` sits in the config (``model.base``), for messages.

        Raises:
            ConfigError: ``value`` is not a spec or mapping, has an unknown field, or a bad value.
        """
        if isinstance(value, ModelSpec):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping with name_or_path (and adapter, dtype, quantization, "
                              f"revision, tokenizer, trust_remote_code), got {value!r}")
        unknown = sorted(set(value) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"{key}: unknown setting(s) {unknown}; known: {[f.name for f in fields(cls)]}")
        try:
            return cls(**{"name_or_path": None, **value})
        except SettingError as err:
            raise err.within(key) from None

    def with_default_dtype(self, dtype: str) -> ModelSpec:
        """This spec, with ``dtype`` in place of a null dtype (a stage's own default)."""
        return self if self.dtype is not None else replace(self, dtype=dtype)

    def load(self, device: torch.device | str | None = None) -> tuple[torch.nn.Module, object]:
        """``(model, tokenizer)``, the model in eval mode on ``device`` (None: CPU).

        A null ``dtype`` loads the checkpoint's own (``auto``). On a GPU the weights are loaded
        straight onto it (``device_map``), which is also where bitsandbytes quantises them; on
        CPU a quantised model stays where it was quantised.
        """
        device = torch.device(device) if device is not None else None
        device_map = {"": device} if device is not None and device.type == "cuda" else None
        model = load_causal_lm(self.name_or_path, dtype=self.dtype or "auto", device_map=device_map,
                               quantization=self.quantization, adapter=self.adapter,
                               trust_remote_code=self.trust_remote_code, revision=self.revision)
        if device is not None and device_map is None and self.quantization is None:
            model = model.to(device)
        tokenizer = load_tokenizer(self.tokenizer or self.name_or_path,
                                   revision=None if self.tokenizer else self.revision)
        return model.eval(), tokenizer

    def to_dict(self) -> dict:
        return asdict(self)
