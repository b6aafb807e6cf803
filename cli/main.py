"""The ``difflens`` program: Lightning loops plus the project's own subcommands.

``difflens fit|validate|test|predict`` go to the LightningCLI; every other subcommand is a
module in ``cli/`` listed in ``TOOL_COMMANDS`` that defines ``HELP``, ``add_arguments(parser)``
and ``run(args)``. Modules are imported only when their command runs, so ``difflens --help``
is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from difflens.errors import ConfigError, DifflensError
from difflens.logs import configure_logging

# name -> module; add a line here to add a subcommand.
TOOL_COMMANDS = {
    "toyworld": "cli.toyworld",
    "quickstart": "cli.quickstart",
    "assistant": "cli.assistant",
    "weightdiff": "cli.weightdiff",
    "discover": "cli.discover",
    "validate-null": "cli.validate_null",
    "encyclopedia": "cli.encyclopedia",
    "pipeline": "cli.pipeline",
    "audit": "cli.audit",
    "samples": "cli.samples",
}

LIGHTNING_COMMANDS = {
    "fit": "train a model (base LM, finetune, SAE, interpreter)",
    "validate": "run one validation epoch",
    "test": "run the test loop (hypothesis validation)",
    "predict": "run the predict loop (decoding, sampling, concept capture)",
}


def _tool_help(module_name: str) -> str:
    # Read HELP without importing heavy dependencies: tool modules import them inside run().
    return importlib.import_module(module_name).HELP


class OneLineArgumentParser(argparse.ArgumentParser):
    """An argument error is one line naming the fix, not a usage block before it."""

    def error(self, message: str):
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="difflens",
        description="What did an intervention change in a language model? Training and evaluation "
        "for behavioural diffing, dictionary learning and concept encyclopedias.",
        epilog="Lightning commands take --config FILE.yaml, --print_config and --help, and so do discover, "
        "pipeline, audit and encyclopedia refine; e.g. "
        "`difflens fit --config configs/quickstart/base_lm.yaml --print_config`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in LIGHTNING_COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    for name, module in TOOL_COMMANDS.items():
        tool = sub.add_parser(name, help=_tool_help(module), description=_tool_help(module))
        tool.set_defaults(_module=module)
    return parser


def _add_tool_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    module = importlib.import_module(TOOL_COMMANDS[command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    module.add_arguments(sub.choices[command])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    configure_logging()
    try:
        if argv and argv[0] in LIGHTNING_COMMANDS:
            from cli.lightning import run_lightning

            run_lightning(argv)
            return 0
        parser = build_parser()
        if argv and argv[0] in TOOL_COMMANDS:
            _add_tool_arguments(parser, argv[0])
        args = parser.parse_args(argv)
        importlib.import_module(args._module).run(args)
        return 0
    except DifflensError as err:
        print(f"difflens: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
