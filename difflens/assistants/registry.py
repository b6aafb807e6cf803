"""Build an assistant by backend name: ``build_assistant("offline")``, ``build_assistant("openai",
model=..., base_url=...)``. Backends are imported only when built, so naming one never loads
another's dependencies."""

from __future__ import annotations

import importlib

from difflens.assistants.base import Assistant
from difflens.errors import ConfigError, unknown_name

# backend name -> "module:class"; add a line here to add a backend.
BACKENDS: dict[str, str] = {
    "offline": "difflens.assistants.offline:OfflineAssistant",
    "openai": "difflens.assistants.openai_compatible:OpenAICompatibleAssistant",
    "local": "difflens.assistants.local:LocalChatAssistant",
}


def build_assistant(backend: str = "offline", **kwargs) -> Assistant:
    """The assistant of ``backend`` built with ``kwargs`` (the backend class's arguments).

    Raises:
        ConfigError: unknown backend, or an argument the backend does not take.
    """
    if backend not in BACKENDS:
        raise unknown_name("assistant backend", backend, BACKENDS)
    module_name, class_name = BACKENDS[backend].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls(**kwargs)
    except TypeError as err:
        if "argument" not in str(err):
            raise
        raise ConfigError(f"assistant backend {backend!r}: {err}; "
                          f"see `help({cls.__name__})` for its arguments") from None


def load_assistant_config(path) -> Assistant:
    """Build the assistant a YAML file describes: ``backend:`` plus the backend's arguments.

    Raises:
        DataError: the file is missing or is not a mapping.
        ConfigError: unknown backend or argument.
    """
    from pathlib import Path

    import yaml

    from difflens.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"assistant config not found: {str(path)!r}")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec, dict):
        raise DataError(f"{path}: an assistant config is a mapping with 'backend' and its arguments")
    return build_assistant(**spec)
