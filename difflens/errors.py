"""User-facing errors.

A `DifflensError` is a mistake in the user's input (a path, a name, a config value) that the
user can fix. Its message says what is wrong and how to fix it; the CLI prints it on one line
instead of a traceback. Bugs stay ordinary exceptions.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DifflensError(Exception):
    """An error in the user's input, with a message that says how to fix it."""


class ConfigError(DifflensError, ValueError):
    """A config value is invalid (unknown name, out-of-range number)."""


class DataError(DifflensError, ValueError):
    """Input data is missing, empty or malformed."""


class ModelLoadError(DifflensError, OSError):
    """A model or tokenizer cannot be loaded from the given name or path."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> ConfigError:
    """Build the error for a name that is not one of ``known``, suggesting the closest ones."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}.")


class IncompleteWorkError(DifflensError):
    """Work that could not be done (an endpoint down, replies that cannot be read); what was
    done is kept, nothing is marked finished, and a rerun does only what is missing."""
