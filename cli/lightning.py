"""The LightningCLI behind ``difflens fit|validate|test|predict``."""

from __future__ import annotations

import pickle
import re

import pytorch_lightning as pl
from jsonargparse import ArgumentError
from pytorch_lightning.cli import LightningCLI

# Importing the project's packages registers their classes, so YAML can name them by short
# class name (``class_path: GPT2Pretrainer``) as well as by full path.
import callbacks  # noqa: F401
import datamodules  # noqa: F401
import lightning_modules  # noqa: F401
from difflens.checkpoints import check_checkpoint, refused_message
from difflens.config import locate_setting
from difflens.errors import ConfigError, DifflensError

TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "pytorch_lightning.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "runs", "name": "default"},
    },
}


class DifflensCLI(LightningCLI):
    """LightningCLI with subclass mode for model and data, TensorBoard under ``runs/``.

    A LightningModule that needs more of its data module than batches (sizes known after its
    ``setup``, the tokenizer it trains, the plan it judges) declares a ``data`` argument, and
    the data module given under ``data:`` is passed to it once instantiated.
    """

    def __init__(self, args=None, run: bool = True, **kwargs):
        super().__init__(
            model_class=pl.LightningModule,
            datamodule_class=pl.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults=TRAINER_DEFAULTS,
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,
            args=args,
            run=run,
            auto_configure_optimizers=False,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser) -> None:
        # Skipped for a module without a ``data`` argument.
        parser.link_arguments("data", "model.init_args.data", apply_on="instantiate")

    def parse_arguments(self, parser, args) -> None:
        # A bad config is one line naming the key, not jsonargparse's usage dump before it.
        _raise_instead_of_exit(parser)
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:
            raise ConfigError(_one_line(str(err), self._subcommand_name(args))) from None
        # A missing or unreadable checkpoint is found before anything is built or logged.
        subcommand = self.config.get("subcommand")
        if subcommand is not None:
            check_checkpoint(self.config[subcommand].get("ckpt_path"))

    @staticmethod
    def _subcommand_name(args) -> str:
        import sys

        argv = sys.argv[1:] if args is None else list(args)
        return argv[0] if argv and not argv[0].startswith("-") else "fit"

    def _run_subcommand(self, subcommand: str) -> None:
        config = self.config_init[subcommand]
        # Resume and evaluation load checkpoints with weights_only=True, whatever torch's default.
        if "weights_only" in config and config.get("weights_only") is None:
            config["weights_only"] = True
        ckpt_path = config.get("ckpt_path")
        try:
            super()._run_subcommand(subcommand)
        except pickle.UnpicklingError as err:
            raise ConfigError(refused_message(ckpt_path, err)) from None

    def predict(self, model: pl.LightningModule, datamodule: pl.LightningDataModule | None = None, **predict_args):
        """``difflens predict``: decoding and active sampling run their own loop around the predict loop."""
        from cli.decoding import predict

        return predict(self.trainer, model, datamodule, **predict_args)

    def instantiate_classes(self) -> None:
        # jsonargparse wraps an error raised by a constructor in a long "does not validate
        # against any of the Union subtypes" message; surface the user's error itself.
        try:
            super().instantiate_classes()
        except Exception as err:
            cause = _find_user_error(err)
            if cause is None:
                raise
            raise locate_setting(cause, self._parsed_settings()) from None

    def _parsed_settings(self) -> dict:
        """The parsed config of the subcommand being run (of the whole CLI without one)."""
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        return config.as_dict()


def _raise_instead_of_exit(parser) -> None:
    parser.exit_on_error = False
    subcommands = getattr(parser, "_subcommands_action", None)
    for sub in (subcommands._name_parser_map.values() if subcommands else ()):
        _raise_instead_of_exit(sub)


# jsonargparse's explanation lines that say nothing the user can act on.
_NOISE = re.compile(r"^(- )?(Does not validate against any of the Union subtypes|Subtypes:|Errors:|Given value type:|"
                    r"Given value:|Expected a <class 'NoneType'>)")


def _one_line(message: str, subcommand: str) -> str:
    parts = [line.strip() for line in message.splitlines() if line.strip() and not _NOISE.match(line.strip())]
    text = " ".join(p.lstrip("- ") for p in parts)
    text = re.sub(r"Expected a <class '(\w+)'>", r"expected \1", text)
    if text.startswith("Unexpected config:"):
        text = ("the config file must be a YAML mapping of settings (trainer:, model:, data:), not "
                + text[len("Unexpected config:"):].strip())
    return f"{text} (see `difflens {subcommand} --help`)"


def _find_user_error(err: BaseException | None) -> DifflensError | None:
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, DifflensError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def run_lightning(argv: list[str]) -> None:
    import sys

    # LightningCLI warns when given args that equal the command line; let it read them itself.
    DifflensCLI(args=None if argv == sys.argv[1:] else argv)
