"""Find modules by name, with errors that list the names that do exist."""

from __future__ import annotations

import difflib

import torch

from difflens.errors import ConfigError


def get_module(model: torch.nn.Module, name: str) -> torch.nn.Module:
    """Return ``model.get_submodule(name)``; on a miss, list the closest module names.

    Raises:
        ConfigError: no module has that name (the message shows close names).
    """
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
        hint = f"; close names: {', '.join(close)}" if close else ""
        layers = [n for n in names if n.count(".") <= 2][:12]
        raise ConfigError(
            f"no module named {name!r} in {type(model).__name__}{hint}. "
            f"Some module names: {', '.join(layers)}"
        ) from None
