"""``--config`` and ``--print_config`` for the commands that read a config dataclass.

As with the Lightning commands, ``--print_config`` prints every setting the command would run
with (the file's, the defaults, and the override flags given) as YAML that ``--config`` reads
back, and runs nothing. ``--help`` lists the file's keys with their field docstrings.
"""

from __future__ import annotations

import argparse
import sys


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type, what: str) -> None:
    """Add ``--config`` (``what`` says which YAML) and ``--print_config`` to ``parser``, and the
    keys of ``config_class`` to its ``--help``."""
    from difflens.config import config_keys_help

    parser.add_argument("--config", required=True, help=what)
    parser.add_argument("--print_config", action="store_true",
                        help="print the settings as YAML (the file's, defaults and overrides) and exit")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "keys of the config file (nested settings as dotted names):\n" + config_keys_help(config_class)


def print_config(config) -> None:
    """Write ``config`` to stdout as YAML that ``--config`` reads back."""
    from difflens.config import config_yaml

    sys.stdout.write(config_yaml(config))
