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


class SettingError(ConfigError):
    """A `ConfigError` about one setting of a config object that can sit anywhere in a config
    (a `ModelSpec` is ``model.base`` in one file and ``data.intervention`` in another).

    The object itself knows only its own field names; whoever knows where it sits names the
    full key with `within`.

    Args:
        setting: the field's name (``quantization``).
        problem: the rest of the sentence (``must be '4bit', '8bit' or null, got '3bit'``).
        value: the value refused, so that the key holding it can be found in a parsed config.
    """

    def __init__(self, setting: str, problem: str, value: object = None):
        super().__init__(f"{setting} {problem}")
        self.setting, self.problem, self.value = setting, problem, value

    def within(self, prefix: str) -> ConfigError:
        """The same error with its key under ``prefix`` (``model.intervention``)."""
        return ConfigError(f"{prefix}.{self.setting} {self.problem}")


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
