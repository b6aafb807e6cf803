"""What each DDP rank of a decoding run wrote, for the tests that compare 2 processes with 1."""

import json
from pathlib import Path

import pytorch_lightning as pl

from callbacks import DecodedTextWriter


class RecordRank(pl.Callback):
    """Each rank notes how many texts it wrote in each predict loop (active sampling runs one per
    round, in processes forked afresh under ddp_fork), in `written_per_rank`'s file."""

    def __init__(self, writer: DecodedTextWriter):
        self.writer = writer
        self._before = 0

    def on_predict_start(self, trainer, pl_module):
        self._before = self.writer.n_written

    def on_predict_end(self, trainer, pl_module):
        out = self.writer.output_dir.parent / f"rank{trainer.global_rank}-of-{trainer.world_size}.jsonl"
        with out.open("a") as f:
            f.write(json.dumps(self.writer.n_written - self._before) + "\n")


def written_per_rank(directory: Path, world_size: int) -> list[int]:
    """The texts each rank of a ``world_size``-process run under ``directory`` wrote; the notes
    are removed, so that the next run under ``directory`` starts from none."""
    written = []
    for rank in range(world_size):
        path = directory / f"rank{rank}-of-{world_size}.jsonl"
        written.append(sum(json.loads(line) for line in path.read_text().splitlines()))
        path.unlink()
    return written
