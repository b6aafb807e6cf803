"""One registry of sparse-dictionary architectures, keyed by name (as SAELens does)."""

from __future__ import annotations

from pathlib import Path

from difflens.errors import unknown_name

SAE_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make ``cls`` buildable by its ``architecture`` name."""
    SAE_REGISTRY[cls.architecture] = cls
    return cls


def sae_class(architecture: str) -> type:
    """The class registered as ``architecture``.

    Raises:
        ConfigError: no architecture has that name (the message lists them).
    """
    import difflens.sae  # noqa: F401  (importing the package registers every architecture)

    if architecture not in SAE_REGISTRY:
        raise unknown_name("SAE architecture", architecture, SAE_REGISTRY)
    return SAE_REGISTRY[architecture]


def build_sae(cfg):
    """A freshly initialised dictionary of ``cfg.architecture``."""
    return sae_class(cfg.architecture)(cfg)


def load_sae(directory: str | Path, d_in: int | None = None):
    """Load a dictionary saved by ``SparseDictionary.save``, by SAELens, or by sparsify.

    Args:
        directory: holds ``cfg.json`` and ``sae_weights.safetensors`` (difflens, SAELens) or
            ``cfg.json`` and ``sae.safetensors`` (sparsify, one directory per hook).
        d_in: if given, the width of the activations it will read; a mismatch is an error.

    Raises:
        DataError: files are missing, or ``d_in`` differs from the saved dictionary's.
        ConfigError: a SAELens or sparsify setting that cannot be applied exactly.
    """
    from safetensors.torch import load_file

    from difflens.errors import DataError
    from difflens.sae import interop
    from difflens.sae.base import CFG_FILE, WEIGHTS_FILE, config_from_saelens, read_sae_cfg

    directory = Path(directory)
    if (directory / interop.SPARSIFY_WEIGHTS).is_file() and not (directory / WEIGHTS_FILE).exists():
        if not (directory / CFG_FILE).is_file():
            raise DataError(f"no {CFG_FILE} in {str(directory)!r} beside {interop.SPARSIFY_WEIGHTS}")
        raw_state = load_file(str(directory / interop.SPARSIFY_WEIGHTS))
        cfg = interop.sparsify_config(interop.read_cfg(directory / CFG_FILE), raw_state, directory)
        state = interop.sparsify_state(raw_state)
    else:
        raw = read_sae_cfg(directory)
        state = load_file(str(directory / WEIGHTS_FILE))
        if "difflens" in (raw.get("metadata") or {}):
            cfg = config_from_saelens(raw)
        else:
            cfg = interop.saelens_config(raw, directory)
            state = interop.fold_saelens_state(raw, state)
    if d_in is not None and d_in != cfg.d_in:
        raise DataError(f"the SAE in {str(directory)!r} has d_in={cfg.d_in} but the activations have width "
                        f"{d_in}: use an SAE trained on this model and hook ({cfg.hook_name or 'unknown hook'})")
    sae = build_sae(cfg)
    sae.load_inference_state(state)
    return sae.eval()
