"""Where a run's messages and numbers go: `logging` for messages, every Lightning logger for
scalars, and TensorBoard's writer only for what has no logger-neutral call (text, histograms).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence

PACKAGES = ("difflens", "callbacks", "lightning_modules", "datamodules", "cli")


class _StdoutHandler(logging.StreamHandler):
    """A stream handler on whatever ``sys.stdout`` is when a message is written (a test's
    capture, a redirected stream), not on the stream it was created with."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(level: int = logging.INFO) -> None:
    """Show the project's messages on stdout, one line each (Lightning's own go to stderr
    through its handler). Calling it again changes nothing."""
    for name in PACKAGES:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
            handler = _StdoutHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)


def log_scalars(loggers: Sequence, metrics: Mapping[str, float], step: int) -> None:
    """``metrics`` at ``step`` to every Lightning logger (TensorBoard, CSV, W&B, ...)."""
    for logger in loggers:
        logger.log_metrics(dict(metrics), step=step)
        logger.save()
    for writer in tensorboard_writers(loggers):
        writer.flush()  # in TensorBoard now, not at the writer's next periodic flush


def tensorboard_writers(loggers: Sequence) -> list:
    """The ``SummaryWriter`` of each `TensorBoardLogger` among ``loggers``."""
    from pytorch_lightning.loggers import TensorBoardLogger

    return [logger.experiment for logger in loggers if isinstance(logger, TensorBoardLogger)]
