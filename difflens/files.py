"""Writing files so that a crash never leaves a half-written result under the final name."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` when the block succeeds.

    The temporary lives in the same directory, so the final rename is atomic on POSIX. On an
    exception the temporary is removed and ``path`` is untouched. An existing directory at
    ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory and path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj, **kwargs) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, **kwargs) + "\n", encoding="utf-8")


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_dir(path: str | Path, fill: Callable[[Path], None]) -> None:
    """Create directory ``path`` by calling ``fill(tmp_dir)`` and renaming when it returns."""
    with atomic_path(path, directory=True) as tmp:
        fill(tmp)


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict:
    """Read a YAML file that must hold a mapping; one-line errors for a missing or bad file."""
    import yaml

    from difflens.errors import ConfigError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {str(path)!r}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return raw
