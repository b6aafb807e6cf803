"""What each DDP rank of a decoding run wrote, for the tests that compare 2 processes with 1."""

import json
from pathlib import Path

import pytorch_lightning as pl

from callbacks import DecodedTextWriter


class RecordRank(pl.Callback):
    """Each rank notes how many texts it wrote, in `written_per_rank`'s file."""

    def on_predict_end(self, trainer, pl_module):
        writer = next(c for c in trainer.callbacks if isinstance(c, DecodedTextWriter))
        out = writer.output_dir.parent / f"rank{trainer.global_rank}-of-{trainer.world_size}.json"
        out.write_text(json.dumps(writer.n_written))


def written_per_rank(directory: Path, world_size: int) -> list[int]:
    """The texts each rank of a ``world_size``-process run under ``directory`` wrote."""
    return [json.loads((directory / f"rank{r}-of-{world_size}.json").read_text()) for r in range(world_size)]
