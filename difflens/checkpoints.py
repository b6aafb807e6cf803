"""Loading Lightning checkpoints safely: ``torch.load(weights_only=True)`` always.

A checkpoint is a pickle; ``weights_only=True`` lets it hold tensors, containers and plain
values only, so loading one from elsewhere cannot run code. Whatever torch's default, every
checkpoint difflens loads goes through here (or through Lightning with ``weights_only=True``).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

from difflens.errors import ConfigError

# Lightning's own names for a checkpoint it finds itself.
SPECIAL_CKPT_PATHS = ("last", "best", "hpc", "registry")


def refused_message(path: str | Path, err: BaseException) -> str:
    """One line for a checkpoint that ``weights_only=True`` refuses."""
    first = next((line.strip() for line in str(err).splitlines() if line.strip().startswith("WeightsUnpickler")),
                 str(err).splitlines()[0] if str(err) else type(err).__name__)
    return (f"checkpoint {str(path)!r} holds objects that torch.load(weights_only=True) refuses ({first[:200]}); "
            f"difflens never unpickles code from a checkpoint: save it again with plain values (no Path, NumPy "
            f"scalar or class in hyperparameters), or load it only if you trust it and re-save its state_dict")


def load_checkpoint(path: str | Path, *, mmap: bool = False) -> dict:
    """The checkpoint at ``path``, loaded with ``weights_only=True`` on the CPU.

    Raises:
        ConfigError: the path is missing, not a file, not a PyTorch checkpoint, or refused.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"checkpoint not found: {str(path)!r}; give the path of a .ckpt file (e.g. "
                          f"<log dir>/checkpoints/last.ckpt)")
    if not path.is_file():
        raise ConfigError(f"checkpoint {str(path)!r} is a directory, not a .ckpt file; give the file inside it")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{str(path)!r} is not a PyTorch checkpoint (not a torch.save zip archive); give the "
                          f".ckpt file that Lightning's ModelCheckpoint wrote")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise ConfigError(refused_message(path, err)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ConfigError(f"checkpoint {str(path)!r} cannot be read ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:200] if str(err) else ''}); it is damaged or half-written: "
                          f"use an earlier checkpoint") from None


def check_checkpoint(path: str | Path | None) -> None:
    """Check a ``--ckpt_path`` before Lightning loads it (Lightning's special names pass)."""
    if path is None or str(path) in SPECIAL_CKPT_PATHS:
        return
    load_checkpoint(path, mmap=True)
