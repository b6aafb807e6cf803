"""Activations of a frozen causal LM at named modules, with the tokens they came from.

* `hook_site` parses ``"transformer.h.2"`` (the module's output, e.g. the residual stream after
  block 2) or ``"transformer.h.2.mlp:input"`` (its input, e.g. the MLP input of a transcoder);
  ``"layer.2"`` and ``"layer.2.mlp:input"`` name the same sites in any architecture
  (`difflens.models.layers`).
* `ActivationHarvester` runs the model over token batches and returns, for every real token
  (not padding, not BOS at position 0), the activation(s), the token id, the document and
  position, and a context window of token ids around it.
* `MixingBuffer` shuffles activations across documents before they are served.
* `splice_losses` measures next-token loss with a module's output replaced (SAE spliced in).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from difflens.errors import DataError
from difflens.models import get_module
from difflens.models.layers import resolve_layer_name

CONTEXT_BEFORE = 12  # tokens of left context kept beside each activation
CONTEXT_AFTER = 3
PAD_CONTEXT = -1  # context slot outside the document


def hook_site(model: torch.nn.Module, spec: str) -> tuple[torch.nn.Module, str]:
    """Resolve ``"name"`` or ``"name:input"`` / ``"name:output"`` to (module, which side).

    ``name`` is a module name or ``layer.N[.sub]`` (`difflens.models.layers`).

    Raises:
        ConfigError: no module has that name (the message lists close names).
    """
    name, _, side = resolve_layer_name(model, spec).partition(":")
    side = side or "output"
    if side not in ("input", "output"):
        from difflens.errors import ConfigError

        raise ConfigError(f"hook {spec!r}: the part after ':' must be 'input' or 'output'")
    return get_module(model, name), side


@contextmanager
def capture(model: torch.nn.Module, specs: list[str]):
    """Within the block, ``store[spec]`` holds the last activation seen at each hook site."""
    store: dict[str, torch.Tensor] = {}
    handles = []
    for spec in specs:
        module, side = hook_site(model, spec)
        if side == "input":
            handles.append(module.register_forward_pre_hook(
                lambda mod, args, kwargs, spec=spec: store.__setitem__(spec, args[0] if args else
                                                                     next(iter(kwargs.values()))),
                with_kwargs=True))
        else:
            handles.append(module.register_forward_hook(
                lambda mod, args, out, spec=spec: store.__setitem__(spec, out[0] if isinstance(out, tuple) else out)))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


@contextmanager
def replace_output(model: torch.nn.Module, spec: str, fn):
    """Within the block, the output of module ``spec`` (``(B, T, d)``) is replaced by ``fn(it)``;
    with ``spec`` = ``"name:input"`` the module's input is replaced instead."""
    module, side = hook_site(model, spec)
    if side == "input":
        handle = module.register_forward_pre_hook(lambda mod, args: (fn(args[0]), *args[1:]))
    else:
        def hook(mod, args, out):
            if isinstance(out, tuple):
                return (fn(out[0]), *out[1:])
            return fn(out)
        handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def context_windows(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """For every position, its token ids from ``-CONTEXT_BEFORE`` to ``+CONTEXT_AFTER``.

    Returns:
        ``(B, T, W)`` with ``W = CONTEXT_BEFORE + 1 + CONTEXT_AFTER``; slots outside the text are
        ``PAD_CONTEXT``; the activating token is at index ``CONTEXT_BEFORE``.
    """
    ids = input_ids.masked_fill(attention_mask == 0, PAD_CONTEXT)
    padded = torch.nn.functional.pad(ids, (CONTEXT_BEFORE, CONTEXT_AFTER), value=PAD_CONTEXT)  # (B, T + W - 1)
    return padded.unfold(1, CONTEXT_BEFORE + 1 + CONTEXT_AFTER, 1)  # (B, T, W)


@dataclass
class ActivationHarvester:
    """Run a frozen LM and collect activations at ``hook`` (and ``hook_out`` for transcoders).

    Attributes:
        model: a causal LM in eval mode.
        hook: site of the input activations (``name`` or ``name:input``).
        hook_out: site of the target activations (transcoders), or None.
        skip_bos: drop position 0 where it holds the model's BOS token (``config.bos_token_id``:
            its activation is an outlier that would dominate the dictionary). A tokenizer that
            adds no BOS (Qwen's) starts a text with a real token, which is kept.
    """

    model: torch.nn.Module
    hook: str
    hook_out: str | None = None
    skip_bos: bool = True

    def __post_init__(self) -> None:
        hook_site(self.model, self.hook)  # fail now, with close names, on a typo
        if self.hook_out:
            hook_site(self.model, self.hook_out)

    @torch.no_grad()
    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 doc_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of the real tokens of a batch ``(B, T)``.

        Returns:
            ``x`` (N, d_in), optionally ``y`` (N, d_out), ``token`` (N,), ``doc`` (N,),
            ``pos`` (N,), ``context`` (N, W), with N the number of kept tokens.
        """
        specs = [self.hook] + ([self.hook_out] if self.hook_out else [])
        with capture(self.model, specs) as store:
            self.model(input_ids=input_ids, attention_mask=attention_mask)
        keep = attention_mask.bool().clone()  # (B, T)
        bos = getattr(getattr(self.model, "config", None), "bos_token_id", None)
        if self.skip_bos:
            keep[:, 0] &= input_ids[:, 0] != bos if bos is not None else False
        rows, pos = keep.nonzero(as_tuple=True)  # (N,), (N,)
        out = {
            "x": store[self.hook][rows, pos].float(),  # (N, d_in)
            "token": input_ids[rows, pos],
            "doc": doc_ids[rows],
            "pos": pos,
            "context": context_windows(input_ids, attention_mask)[rows, pos],  # (N, W)
        }
        if self.hook_out:
            out["y"] = store[self.hook_out][rows, pos].float()  # (N, d_out)
        return out


class MixingBuffer:
    """Shuffle activations from many documents before serving them in fixed-size batches.

    Args:
        capacity: activations held before half of them are served; larger mixes better.
        batch_size: activations per served batch.
        generator: random generator (seeded per epoch and rank for reproducibility).
    """

    def __init__(self, capacity: int, batch_size: int, generator: torch.Generator):
        self.capacity = max(capacity, batch_size)
        self.batch_size = batch_size
        self.generator = generator
        self.parts: list[dict[str, torch.Tensor]] = []
        self.size = 0

    def add(self, batch: dict[str, torch.Tensor]) -> None:
        self.parts.append(batch)
        self.size += len(batch["x"])

    @property
    def full(self) -> bool:
        return self.size >= self.capacity

    def drain(self, keep_fraction: float = 0.5):
        """Shuffle everything held; yield batches until ``keep_fraction`` of capacity is left."""
        merged = {k: torch.cat([p[k] for p in self.parts]) for k in self.parts[0]}
        order = torch.randperm(self.size, generator=self.generator)
        merged = {k: v[order] for k, v in merged.items()}
        keep = int(self.capacity * keep_fraction)
        start = 0
        while self.size - start - self.batch_size >= keep:
            yield {k: v[start:start + self.batch_size] for k, v in merged.items()}
            start += self.batch_size
        self.parts = [{k: v[start:] for k, v in merged.items()}] if start < self.size else []
        self.size -= start


def check_finite(x: torch.Tensor, where: str) -> None:
    """Raise `DataError` naming ``where`` (step and batch) if ``x`` holds NaN or infinity."""
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).any(-1).nonzero().flatten()[:5].tolist()
        raise DataError(f"non-finite activations at {where} (rows {bad}); check the model's dtype "
                        f"(float16 overflows) or the hook site; checkpoints written so far are kept")


@torch.no_grad()
def splice_losses(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  hook: str, replace, hook_out: str | None = None,
                  skip_bos: bool = True) -> dict[str, torch.Tensor]:
    """Next-token loss clean, with the dictionary spliced in, and with the site zero-ablated.

    For an SAE the output at ``hook`` is replaced by ``replace(x)``; for a transcoder the output
    at ``hook_out`` is replaced by ``replace(activation at hook)``. With ``skip_bos`` position 0
    keeps its clean activation, as the dictionary never saw BOS in training.

    Returns:
        ``clean``, ``spliced``, ``zero`` losses (scalars), averaged over real tokens.
    """
    labels = input_ids.masked_fill(attention_mask == 0, -100)

    def loss() -> torch.Tensor:
        return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss

    def keep_bos(original: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        new = new.to(original.dtype)
        if skip_bos:
            new = torch.cat([original[:, :1], new[:, 1:]], dim=1)  # (B, T, d)
        return new

    clean = loss()
    target = hook_out or hook
    if hook_out:
        with (capture(model, [hook]) as store,
              replace_output(model, target, lambda out: keep_bos(out, replace(store[hook])))):
            spliced = loss()
    else:
        with replace_output(model, target, lambda a: keep_bos(a, replace(a))):
            spliced = loss()
    with replace_output(model, target, lambda a: keep_bos(a, torch.zeros_like(a))):
        zero = loss()
    return {"clean": clean, "spliced": spliced, "zero": zero}
