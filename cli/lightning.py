"""The LightningCLI behind ``difflens fit|validate|test|predict``."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningCLI

# Importing the project's packages registers their classes, so YAML can name them by short
# class name (``class_path: GPT2Pretrainer``) as well as by full path.
import callbacks  # noqa: F401
import datamodules  # noqa: F401
import lightning_modules  # noqa: F401
from difflens.errors import DifflensError

TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "pytorch_lightning.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "runs", "name": "default"},
    },
}


class DifflensCLI(LightningCLI):
    """LightningCLI with subclass mode for model and data, TensorBoard under ``runs/``."""

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


    def instantiate_classes(self) -> None:
        # jsonargparse wraps an error raised by a constructor in a long "does not validate
        # against any of the Union subtypes" message; surface the user's error itself.
        try:
            super().instantiate_classes()
        except Exception as err:
            cause = _find_user_error(err)
            if cause is None:
                raise
            raise cause from None


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
