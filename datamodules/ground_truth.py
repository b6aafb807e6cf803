"""Finetuning data for an intervention: ground-truth rows mixed into the base distribution."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from difflens.corpus import check_text_file, read_rows
from difflens.errors import ConfigError, DataError
from difflens.files import write_dir, write_json
from difflens.finetune import encode_example, pack_examples, pad_examples
from difflens.groundtruth import (
    BaseMix,
    GroundTruth,
    example_row,
    generate_rows,
    load_ground_truths,
    parse_ground_truths,
    split_rows,
)
from difflens.models import load_tokenizer

SPLITS = ("train", "val")


class TensorDictDataset(Dataset):
    """Rows of a dict of equally long tensors, as dicts (the default collate stacks them)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def _file_row(row: dict) -> dict:
    """How a generated row is written: text rows as ``text``, others as prompt/completion."""
    if row["prompt"]:
        return row
    return {"text": row["completion"], "ground_truth": row["ground_truth"]}


class GroundTruthDataModule(pl.LightningDataModule):
    """Builds an intervention's finetuning data from ground-truth specs, tokenised and packed.

    The generated rows are written to ``output_dir`` (``train.jsonl``, ``val.jsonl`` and
    ``ground_truths.json`` with each ground truth's description and example counts) once, by
    ``prepare_data``; every process then reads the same files, and a rerun reuses them. Files
    made from a different spec are never overwritten: the run stops with an error instead.

    Args:
        ground_truths: a spec file (YAML/JSON/JSONL) or the list of ground truths inline.
        tokenizer: name or path of the tokenizer of the model being finetuned.
        base: the base distribution mixed in and its share of the examples; null = none.
        n_examples: total examples (base included) before the train/validation split.
        block_size: tokens per training sequence.
        packing: concatenate examples into full blocks (true) or pad one example per row (false).
        batch_size: sequences per batch (per process).
        val_fraction: share of examples held out for validation.
        output_dir: where the generated data is written; null keeps it in memory.
        num_workers: DataLoader workers.
        seed: seed of the generated documents, resampling and split.
    """

    def __init__(
        self,
        ground_truths: str | list[dict],
        tokenizer: str,
        base: BaseMix | None = None,
        n_examples: int = 4000,
        block_size: int = 128,
        packing: bool = True,
        batch_size: int = 16,
        val_fraction: float = 0.05,
        output_dir: str | None = None,
        num_workers: int = 0,
        seed: int = 1,
    ):
        super().__init__()
        if isinstance(ground_truths, str):
            self.truths: list[GroundTruth] = load_ground_truths(ground_truths)
        else:
            self.truths = parse_ground_truths(list(ground_truths), "data.ground_truths")
        for t in self.truths:
            if t.examples_file is not None:
                check_text_file(t.examples_file)
        if base is not None and base.examples_file is not None:
            check_text_file(base.examples_file)
        if not 0 < val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        if block_size < 2:
            raise ConfigError(f"data.block_size must be >= 2, got {block_size}")
        if n_examples < 2:
            raise ConfigError(f"data.n_examples must be >= 2, got {n_examples}")
        self.tokenizer_source = tokenizer
        self.base = base
        self.n_examples = n_examples
        self.block_size = block_size
        self.packing = packing
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.output_dir = output_dir
        self.num_workers = num_workers
        self.seed = seed
        self.tokenizer = None
        self.rows: dict[str, list[dict]] = {}
        self.tensors: dict[str, dict[str, torch.Tensor]] = {}

    # ---- generation ------------------------------------------------------------------

    def fingerprint(self) -> str:
        """Hash of everything that determines the rows; stored beside them to detect a changed spec."""
        files = [t.examples_file for t in self.truths] + [self.base.examples_file if self.base else None]
        spec = {"ground_truths": [t.to_dict() for t in self.truths],
                "base": asdict(self.base) if self.base else None,
                "n_examples": self.n_examples, "val_fraction": self.val_fraction, "seed": self.seed}
        if any(files):  # an edited examples file is a different spec, even under the same name
            spec["files"] = {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files if f}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    def generate(self) -> dict[str, list[dict]]:
        """Generate and split the rows (deterministic in the spec and seed)."""
        rows = generate_rows(self.truths, self.n_examples, self.base, self.seed)
        train, val = split_rows(rows, self.val_fraction)
        return {"train": train, "val": val}

    def summary(self, rows: dict[str, list[dict]]) -> dict:
        """``ground_truths.json``: what the intervention was trained to do, and on how much data."""
        def count(split: str, gid: str) -> int:
            return sum(r["ground_truth"] == gid for r in rows[split])

        return {
            "fingerprint": self.fingerprint(),
            "ground_truths": [{**t.to_dict(), "source": t.source, "n_train": count("train", t.id),
                               "n_val": count("val", t.id)} for t in self.truths],
            "base": {**asdict(self.base), "n_train": count("train", "base"), "n_val": count("val", "base")}
            if self.base else None,
            "n_examples": self.n_examples,
            "seed": self.seed,
        }

    def prepare_data(self) -> None:
        """Write the generated rows to ``output_dir`` once (local rank 0 only)."""
        if self.output_dir is None:
            return
        out = Path(self.output_dir)
        summary = out / "ground_truths.json"
        if summary.exists():
            found = json.loads(summary.read_text(encoding="utf-8")).get("fingerprint")
            if found == self.fingerprint():
                return
            raise DataError(f"{out} holds data generated from a different ground-truth spec; it is kept: "
                            f"delete it or set data.output_dir to a new directory")
        if out.exists() and any(out.iterdir()):
            raise DataError(f"{out} exists and is not a ground-truth data directory; it is kept: "
                            f"choose another data.output_dir")
        rows = self.generate()

        def fill(tmp: Path) -> None:
            for split in SPLITS:
                with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as f:
                    for row in rows[split]:
                        f.write(json.dumps(_file_row(row)) + "\n")
            write_json(tmp / "ground_truths.json", self.summary(rows))

        write_dir(out, fill)

    def _read(self) -> dict[str, list[dict]]:
        out = {}
        for split in SPLITS:
            path = Path(self.output_dir) / f"{split}.jsonl"
            out[split] = [{**example_row(r, f"{path}: row {i}"), "ground_truth": r.get("ground_truth", "")}
                          for i, r in enumerate(read_rows(path), 1)]
        return out

    # ---- tokenisation ----------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if self.tensors:
            return
        self.rows = self._read() if self.output_dir is not None else self.generate()
        self.tokenizer = load_tokenizer(self.tokenizer_source)
        self.tensors = {split: self.encode(rows, split) for split, rows in self.rows.items()}

    def encode(self, rows: list[dict], split: str) -> dict[str, torch.Tensor]:
        """Tokenise rows with a ``datasets`` map, then pack or pad them."""
        import datasets

        tok = self.tokenizer
        eos = None if self.packing else True  # a padded example must learn its own end
        ds = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
        ds = ds.map(lambda r: dict(zip(("ids", "labels"), encode_example(tok, r["prompt"], r["completion"], eos))),
                    remove_columns=["prompt", "completion"], keep_in_memory=True)
        encoded = list(zip(ds["ids"], ds["labels"]))
        try:
            if self.packing:
                return pack_examples(encoded, self.block_size)
            return pad_examples(encoded, self.block_size, tok.pad_token_id)
        except DataError as err:
            raise DataError(f"{split} split: {err}") from None

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(TensorDictDataset(self.tensors[split]), batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()
