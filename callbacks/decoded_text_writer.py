"""Stream decoded texts to per-rank shards, merge them on rank 0, and resume from them."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from difflens.errors import ConfigError, DataError
from difflens.files import write_json
from difflens.records import MODELS, DecodedText, write_records

TEXTS = "texts.jsonl"
META = "decode_meta.json"
SHARDS = "shards"

log = logging.getLogger(__name__)


def read_shard(path: Path) -> list[DecodedText]:
    """Records of a shard; a torn last line (a run killed mid-write) is ignored, any other bad line is an error."""
    return _shard_records(path.read_bytes(), path)


def _shard_records(data: bytes, path: Path, first_line: int = 1) -> list[DecodedText]:
    """`read_shard` of the part ``data`` of the shard ``path`` that starts at line ``first_line``."""
    records = []
    lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, first_line):
        if not raw.strip():
            continue
        try:
            records.append(DecodedText(**json.loads(raw.decode("utf-8"))))
        except (ValueError, TypeError) as err:  # malformed JSON or UTF-8, a wrong field (DataError)
            if lineno == first_line + len(lines) - 1:  # no newline after it: the write was cut short
                break
            raise DataError(f"{path}:{lineno}: not a DecodedText record ({err}); delete the shard to redo it") from None
    return records


def parquet_schema():
    """The Arrow schema of ``texts.parquet``, fixed rather than inferred per file: a run whose
    ``log_ratio`` is all null and one with floats then concatenate (``datasets``, pyarrow)."""
    import pyarrow as pa

    return pa.schema([("text_id", pa.string()), ("prompt_id", pa.string()), ("model", pa.string()),
                      ("seed", pa.int64()), ("prompt", pa.string()), ("text", pa.string()),
                      ("n_tokens", pa.int64()), ("source", pa.string()), ("log_ratio", pa.float64()),
                      ("pair_id", pa.string())])


def repair_shard(path: Path) -> None:
    """Cut a torn last line so that appending starts on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def collect(output_dir: Path) -> dict[str, DecodedText]:
    """Every record under ``output_dir`` (merged file and shards) by text id, first one kept."""
    return WrittenTexts(output_dir).update()


class WrittenTexts:
    """`collect` kept up to date: the merged file and the shards are read once, and each
    `update` then reads only the lines the shards gained since the one before, so that active
    sampling's rounds do not read every text written so far again each round.

    The writer only appends whole lines to a shard (cutting a torn last line first), so the
    records are those `collect` would give; a torn last line is read again on the next update.

    Args:
        output_dir: the directory `DecodedTextWriter` writes.
    """

    def __init__(self, output_dir: Path):
        self.output_dir = Path(output_dir)
        self.records: dict[str, DecodedText] | None = None  # by text id, first one kept
        self._read: dict[Path, tuple[int, int]] = {}  # shard -> (bytes, lines) of whole lines read

    def update(self) -> dict[str, DecodedText]:
        """Every record under ``output_dir`` by text id (the same dict, grown, on every call)."""
        from difflens.records import iter_records

        if self.records is None:
            self.records = {}
            if (self.output_dir / TEXTS).exists():
                for record in iter_records(self.output_dir / TEXTS, DecodedText):
                    self.records.setdefault(record.text_id, record)
        for path in sorted((self.output_dir / SHARDS).glob("rank*.jsonl")):
            start, lines = self._read.get(path, (0, 0))
            with path.open("rb") as f:
                f.seek(start)
                data = f.read()
            for record in _shard_records(data, path, lines + 1):
                self.records.setdefault(record.text_id, record)
            whole = data.rfind(b"\n") + 1
            self._read[path] = (start + whole, lines + data.count(b"\n", 0, whole))
        return self.records


def finished_keys(records: dict[str, DecodedText]) -> set[str]:
    """Job keys (``<prompt_id>/<sample>``) whose texts exist for both models."""
    sides: dict[str, set[str]] = {}
    for text_id, record in records.items():
        sides.setdefault(text_id.split("/", 1)[1], set()).add(record.model)
    return {key for key, models in sides.items() if models == set(MODELS)}


def _reading_order(record: DecodedText) -> tuple:
    """Source, then prompt number as a number (``free:2`` before ``free:10``), sample, model."""
    source, _, index = record.prompt_id.rpartition(":")
    sample = record.text_id.rsplit("/", 1)[-1]
    number = (0, int(index), "") if index.isdigit() else (1, 0, index)
    return (source, *number, int(sample) if sample.isdigit() else 0, record.model)


class DecodedTextWriter(BasePredictionWriter):
    """Writes `PairedDecoder` outputs as `DecodedText` JSONL, safely and resumably.

    In a predict loop, each rank appends every batch to ``shards/rank<r>.jsonl`` (flushed and
    synced, so a killed run keeps every finished batch). Around the loop, the decoding loops
    (`cli.decoding.decode`, `cli.decoding.sample_actively`) call it explicitly:
    `check_settings` refuses to add texts decoded with other models or sampling settings than
    those in ``decode_meta.json``, `written` says which jobs a rerun can skip, and `merge`
    (rank 0, once every rank has finished) writes ``texts.jsonl`` (and ``texts.parquet`` if
    asked), sorted by text id, from the shards and earlier output, and removes the shards.
    The loops run the predict loop with ``return_predictions=False``: the texts are on disk,
    not in memory.

    Args:
        output_dir: the run directory of this stage (e.g. ``runs/quickstart/decode``).
        parquet: also write ``texts.parquet`` (needs pyarrow).
    """

    def __init__(self, output_dir: str, parquet: bool = False):
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.parquet = parquet
        self._shard = None
        self.n_written = 0

    def check_settings(self, settings: dict) -> None:
        """Record the run's ``settings`` in a new output directory, or check them against those recorded.

        Args:
            settings: ``{"models": ..., "sampling": ..., "seed": ...}`` of this run.

        Raises:
            ConfigError: ``output_dir`` is a file, or holds texts decoded with other settings.
            DataError: ``decode_meta.json`` is damaged.
        """
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise ConfigError(f"DecodedTextWriter output_dir {str(self.output_dir)!r} is a file, not a "
                              f"directory; give a directory (it is created if missing)")
        meta_path = self.output_dir / META
        if not meta_path.exists():
            write_json(meta_path, settings)
            return
        try:
            old = json.loads(meta_path.read_bytes().decode("utf-8"))
            if not isinstance(old, dict):
                raise ValueError(f"a JSON {type(old).__name__}, not an object")
        except ValueError as err:
            raise DataError(f"{meta_path} is damaged ({str(err)[:120]}); it records how the texts in "
                            f"{self.output_dir} were decoded: restore it, or decode into a new "
                            f"output_dir") from None
        for key in ("models", "sampling", "seed"):
            if old.get(key) != settings[key]:
                raise ConfigError(
                    f"{self.output_dir} holds texts decoded with {key}={old.get(key)}, this run has "
                    f"{key}={settings[key]}; use another output_dir or delete that one")

    def written(self, keys: set[str]) -> set[str]:
        """The job keys (``<prompt_id>/<sample>``) among ``keys`` whose texts are written for both models."""
        return finished_keys(collect(self.output_dir)) & keys

    def _open_shard(self, rank: int):
        shard = self.output_dir / SHARDS / f"rank{rank}.jsonl"
        shard.parent.mkdir(parents=True, exist_ok=True)
        repair_shard(shard)
        return shard.open("a", encoding="utf-8")

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        if self._shard is None:
            self._shard = self._open_shard(trainer.global_rank)
        # one write per batch: a batch is on disk whole, or (killed mid-write) as a torn last line
        self._shard.write("".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in prediction))
        self._shard.flush()
        os.fsync(self._shard.fileno())
        self.n_written += len(prediction)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None

    def merge(self) -> list[DecodedText]:
        """Merge shards and earlier output into ``texts.jsonl``; returns the merged records."""
        records = sorted(collect(self.output_dir).values(), key=_reading_order)
        write_records(self.output_dir / TEXTS, records)
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            from difflens.files import atomic_path

            with atomic_path(self.output_dir / "texts.parquet") as tmp:
                pq.write_table(pa.Table.from_pylist([asdict(r) for r in records], schema=parquet_schema()), tmp)
        for shard in (self.output_dir / SHARDS).glob("rank*.jsonl"):
            shard.unlink()
        log.info(f"[decode] {len(records)} texts in {self.output_dir / TEXTS}")
        return records
