"""One layer convention for every stage: ``layer N`` is the residual stream after decoder block N.

Blocks count from 0 and negative numbers count from the end, so ``layer.-1`` is the output of the
last block, *before* the final norm (``hidden_states[-1]`` of transformers is after it, which is
why no stage reads hidden states by index). This is TransformerLens' and SAELens'
``blocks.N.hook_resid_post``; for N below the last block it equals ``hidden_states[N + 1]``.

Where a stage takes a module name (SAE and transcoder hooks, activation harvesting), ``layer.N``
may stand for the block's module name whatever the architecture calls it (``transformer.h.N``,
``model.layers.N``, ``gpt_neox.layers.N``), with a sub-module and a side after it:
``layer.3.mlp:input`` is the MLP input of block 3. The encyclopedia's ``layers: [N, ...]`` are the
same numbers, and weightdiff's layer of a weight is the N in its block's name.
"""

from __future__ import annotations

import re

import torch

from difflens.errors import ConfigError

LAYER_PREFIX = "layer."
_LAYER_SPEC = re.compile(r"^layer\.(-?\d+)((?:\.[^:]+)?)((?::\w+)?)$")


def decoder_blocks(model: torch.nn.Module) -> tuple[str, int]:
    """The module name of the decoder blocks' list and how many blocks it holds.

    The shallowest ``ModuleList`` with one entry per hidden layer in the model's config, so a
    peft wrapper's extra prefix (``base_model.model.``) comes with it.

    Raises:
        ConfigError: no module list of that length (a model without a config, or an
            architecture whose blocks are not one list).
    """
    config = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n and n:
            return name, n
    raise ConfigError(f"cannot find the decoder blocks of {type(model).__name__} (a list of "
                      f"{n} modules); name the hook by its module name instead of 'layer.N'")


def block_index(layer: int, n_blocks: int) -> int:
    """``layer`` (negative counts from the end) as a block index in ``[0, n_blocks)``.

    Raises:
        ConfigError: out of range for this model.
    """
    index = layer + n_blocks if layer < 0 else layer
    if not 0 <= index < n_blocks:
        raise ConfigError(f"layer {layer} is out of range: the model has blocks 0..{n_blocks - 1} "
                          f"(-1 = the last); change the layer")
    return index


def resolve_layer_name(model: torch.nn.Module, spec: str) -> str:
    """``"layer.N[.sub][:side]"`` as the model's own module name; any other spec unchanged.

    ``resolve_layer_name(llama, "layer.-1.mlp:input") == "model.layers.1.mlp:input"`` for a
    2-block Llama.

    Raises:
        ConfigError: N is out of range, or the model's blocks cannot be found.
    """
    match = _LAYER_SPEC.match(spec)
    if not match:
        return spec
    blocks, n = decoder_blocks(model)
    index = block_index(int(match.group(1)), n)
    return f"{blocks}.{index}{match.group(2)}{match.group(3)}"
