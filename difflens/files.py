"""Writing files so that a crash never leaves a half-written result under the final name."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` when the block succeeds.

    The temporary lives in the same directory, so the final rename is atomic on POSIX. On an
    exception the temporary is removed and ``path`` is untouched. The result gets the mode an
    ordinary ``open``/``mkdir`` would give under the umask (0644/0755 under umask 022). An existing directory at
    ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    make_dir(path.parent)
    if path.exists() and path.is_dir() != directory:
        from difflens.errors import DataError

        want, found = ("directory", "file") if directory else ("file", "directory")
        raise DataError(f"{str(path)!r} is a {found}, but a {want} is written there; move it away or choose "
                        f"another output path")
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        # mkstemp/mkdtemp make 0600/0700 whatever the umask; a shared run directory must be
        # readable as the user's umask allows, like any file they write.
        os.chmod(tmp, (0o777 if directory else 0o666) & ~current_umask())
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


def make_dir(path: str | Path) -> Path:
    """``mkdir -p`` whose failure (a file in the way, no permission) is a one-line `DataError`."""
    from difflens.errors import DataError

    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), path)
        raise DataError(f"cannot create directory {str(path)!r}: {str(blocker)!r} is a file; move it away or "
                        f"choose another output directory") from None
    except PermissionError as err:
        raise DataError(f"cannot create directory {str(path)!r}: {err.strerror}") from None
    return path


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
        raw = yaml.safe_load(read_utf8(path)) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return raw


def utf8_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for each line of a UTF-8 text file, newline kept.

    Raises:
        DataError: a line is not valid UTF-8 (named by file and line number).
    """
    from difflens.errors import DataError

    with Path(path).open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{lineno}: not valid UTF-8 (byte {err.start}); re-save the file as UTF-8 "
                                f"or delete that line") from None


def read_utf8(path: str | Path) -> str:
    """The whole text of a UTF-8 file; an invalid byte is a `DataError` naming file and line."""
    from difflens.errors import DataError

    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path}:{lineno}: not valid UTF-8 (byte {err.start}); re-save the file as UTF-8 "
                        f"or delete that line") from None
