"""Dictionaries saved by other tools: SAELens (``cfg.json`` + ``sae_weights.safetensors``) and
EleutherAI sparsify (``cfg.json`` + ``sae.safetensors``, one directory per hook).

Each foreign setting is either applied exactly, by folding it into difflens's raw-space
weights, or refused with an error that names it. The folds, with SAELens's inference maths
(``sae_lens/saes/sae.py``, ``topk_sae.py``): ``hidden_pre = (x - a b_dec) W_enc + b_enc``,
times ``‖W_dec,i‖`` per latent when ``rescale_acts_by_decoder_norm``; the activation (ReLU,
TopK then ReLU, JumpReLU against ``threshold``) acts on that; ``x̂ = (f / ‖W_dec,i‖) W_dec +
b_dec``. difflens always computes ``(x - b_dec) W_enc + b_enc`` for an SAE, so

* ``apply_b_dec_to_input = false`` becomes ``b_enc ← b_enc + b_dec W_enc``;
* ``rescale_acts_by_decoder_norm`` becomes ``W_enc[:, i] ← n_i W_enc[:, i]``,
  ``b_enc,i ← n_i b_enc,i`` and ``W_dec[i] ← W_dec[i] / n_i``, with ``n_i = ‖W_dec,i‖``; the
  latent activations are then SAELens's exactly, thresholds unchanged;
* ``normalize_activations = expected_average_only_in`` is the identity at inference in
  SAELens (the factor is folded into the weights when training ends), so it is here too.

``constant_norm_rescale`` and ``layer_norm`` normalise each input by its own norm or
statistics (and SAELens's decode reuses those of the last encode): no fixed weights do that,
so they are refused, as are ``hook_z`` reshaping and architectures difflens does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from difflens.errors import ConfigError, DataError
from difflens.sae.config import SAEConfig

SPARSIFY_WEIGHTS = "sae.safetensors"

SAELENS_ARCHITECTURES = {"standard": "relu_l1", "topk": "topk", "jumprelu": "jumprelu",
                         "transcoder": "relu_l1", "jumprelu_transcoder": "jumprelu"}
_SUPPORTED_NORMALIZATIONS = ("none", "expected_average_only_in")


def _refuse(directory, setting: str, value, why: str) -> ConfigError:
    return ConfigError(f"{directory}/cfg.json: {setting}={value!r} cannot be applied exactly ({why}); difflens "
                       f"refuses it rather than load the SAE with other maths")


def saelens_config(cfg: dict, directory: str | Path = ".") -> SAEConfig:
    """A difflens `SAEConfig` for a SAELens ``cfg.json`` (any version 6 settings).

    Raises:
        ConfigError: a setting that cannot be applied exactly (named in the message).
    """
    arch = cfg.get("architecture", "standard")
    if arch not in SAELENS_ARCHITECTURES:
        raise ConfigError(f"{directory}/cfg.json: SAELens architecture {arch!r} is not one difflens can load "
                          f"(it loads {', '.join(SAELENS_ARCHITECTURES)})")
    normalize = cfg.get("normalize_activations", "none")
    if isinstance(normalize, bool):  # SAELens < 3 wrote a flag
        normalize = "expected_average_only_in" if normalize else "none"
    if normalize not in _SUPPORTED_NORMALIZATIONS:
        raise _refuse(directory, "normalize_activations", normalize,
                      "it normalises each input by its own statistics, which no fixed weights reproduce")
    if cfg.get("reshape_activations", "none") != "none":
        raise _refuse(directory, "reshape_activations", cfg["reshape_activations"],
                      "difflens hooks whole module outputs, not attention heads")
    if cfg.get("finetuning_scaling_factor"):
        raise _refuse(directory, "finetuning_scaling_factor", True, "a per-latent scale difflens does not have")
    transcoder = "transcoder" in arch
    if transcoder and cfg.get("apply_b_dec_to_input", False):
        raise _refuse(directory, "apply_b_dec_to_input", True, "a transcoder's decoder bias is in another space")
    meta = cfg.get("metadata") or {}
    dtype = str(cfg.get("dtype", "float32")).removeprefix("torch.")
    try:
        return SAEConfig(architecture=SAELENS_ARCHITECTURES[arch], d_in=int(cfg["d_in"]), d_sae=int(cfg["d_sae"]),
                         d_out=int(cfg.get("d_out", cfg["d_in"])), transcoder=transcoder,
                         k=int(cfg.get("k", 1)) if arch == "topk" else min(32, int(cfg["d_sae"])),
                         hook_name=meta.get("hook_name") or cfg.get("hook_name") or "",
                         hook_name_out=meta.get("hook_name_out") or cfg.get("hook_name_out") or "",
                         model_name=meta.get("model_name") or cfg.get("model_name") or "",
                         dtype=dtype if dtype in ("float32", "float64", "float16", "bfloat16") else "float32")
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{directory}/cfg.json: not a SAELens config ({type(err).__name__}: {err})") from None


@torch.no_grad()
def fold_saelens_state(cfg: dict, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SAELens weights turned into difflens's raw-space weights with the same encode and decode."""
    W_enc, b_enc = state["W_enc"].double(), state["b_enc"].double()  # (d_in, d_sae), (d_sae,)
    W_dec, b_dec = state["W_dec"].double(), state["b_dec"].double()  # (d_sae, d_out), (d_out,)
    transcoder = "transcoder" in cfg.get("architecture", "standard")
    if not transcoder and not cfg.get("apply_b_dec_to_input", True):
        b_enc = b_enc + b_dec @ W_enc  # difflens subtracts b_dec before W_enc; add it back
    if cfg.get("rescale_acts_by_decoder_norm", False):
        norms = W_dec.norm(dim=-1)  # (d_sae,)
        W_enc, b_enc, W_dec = W_enc * norms, b_enc * norms, W_dec / norms[:, None]  # norms[:, None]: (d_sae, 1)
    dtype = state["W_enc"].dtype
    out = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec}
    out = {k: v.to(dtype).contiguous() for k, v in out.items()}
    if "threshold" in state:
        out["threshold"] = state["threshold"].clone()
    return out


def sparsify_config(cfg: dict, state: dict[str, torch.Tensor], directory: str | Path = ".") -> SAEConfig:
    """A difflens TopK `SAEConfig` for an EleutherAI sparsify directory.

    Raises:
        ConfigError: a skip connection or an activation other than TopK.
    """
    if cfg.get("skip_connection") or "W_skip" in state:
        raise _refuse(directory, "skip_connection", True, "difflens dictionaries have no skip term")
    if cfg.get("activation", "topk") != "topk":
        raise _refuse(directory, "activation", cfg["activation"], "difflens reads sparsify's TopK coders only")
    try:
        d_sae, d_in = state["encoder.weight"].shape
        d_out = state["W_dec"].shape[1]
        return SAEConfig(architecture="topk", d_in=int(d_in), d_sae=int(d_sae), d_out=int(d_out),
                         transcoder=bool(cfg.get("transcode", False)), k=int(cfg["k"]),
                         hook_name=str(cfg.get("hook_name") or Path(directory).name))
    except (KeyError, ValueError) as err:
        raise DataError(f"{directory}: not a sparsify dictionary ({type(err).__name__}: {err}); it needs "
                        f"cfg.json with k and {SPARSIFY_WEIGHTS} with encoder.weight and W_dec") from None


def sparsify_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """sparsify's ``nn.Linear`` encoder, ``(d_sae, d_in)``, as difflens's ``W_enc`` ``(d_in, d_sae)``."""
    return {"W_enc": state["encoder.weight"].t().contiguous(), "b_enc": state["encoder.bias"].clone(),
            "W_dec": state["W_dec"].contiguous(), "b_dec": state["b_dec"].clone()}


def read_cfg(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(cfg, dict):
        raise DataError(f"{path}: expected a JSON object")
    return cfg
