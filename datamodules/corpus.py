"""A text corpus for language-model training: tokenised, packed into fixed-length blocks."""

from __future__ import annotations

import random
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from difflens.corpus import ToyWorldCorpus, check_text_file, read_texts
from difflens.errors import ConfigError, DataError
from difflens.models import load_tokenizer, train_bpe_tokenizer


def pack_blocks(token_lists: list[list[int]], block_size: int) -> torch.Tensor:
    """Concatenate token lists and cut them into ``(N, block_size)`` blocks, dropping the tail.

    Each list already starts with BOS, so documents stay delimited inside a block.
    """
    stream = [t for tokens in token_lists for t in tokens]
    n = len(stream) // block_size
    return torch.tensor(stream[: n * block_size], dtype=torch.long).view(n, block_size)  # (N, T)


class TextCorpusDataModule(pl.LightningDataModule):
    """Texts from the toy world or local files, with a tokenizer trained on them or given.

    The tokenizer is trained on the training split only (deterministically, so every DDP rank
    builds the same one) unless ``tokenizer`` names an existing one.

    Args:
        toyworld: a toy-world corpus spec; used when ``data_files`` is not given.
        data_files: local ``.jsonl``/``.json``/``.csv``/``.parquet``/``.txt`` files.
        text_field: the column that holds the text in ``data_files``.
        tokenizer: path or name of an existing tokenizer; None trains a byte-level BPE one.
        vocab_size: vocabulary size of a trained tokenizer.
        block_size: tokens per training sequence.
        batch_size: sequences per batch (per process).
        val_fraction: share of documents held out for validation.
        num_workers: DataLoader workers.
        seed: seed of the train/validation split.
    """

    def __init__(
        self,
        toyworld: ToyWorldCorpus | None = None,
        data_files: list[str] | None = None,
        text_field: str = "text",
        tokenizer: str | None = None,
        vocab_size: int = 2048,
        block_size: int = 128,
        batch_size: int = 32,
        val_fraction: float = 0.05,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        if data_files:
            for path in data_files:
                check_text_file(path)
        if not 0 < val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        if block_size < 2:
            raise ConfigError(f"data.block_size must be >= 2, got {block_size}")
        self.toyworld = toyworld if toyworld is not None or data_files else ToyWorldCorpus()
        self.data_files = data_files
        self.text_field = text_field
        self.tokenizer_source = tokenizer
        self.vocab_size = vocab_size
        self.block_size = block_size
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.num_workers = num_workers
        self.seed = seed
        self.tokenizer = None
        self.train_texts: list[str] = []
        self.val_texts: list[str] = []
        self.train_blocks: torch.Tensor | None = None
        self.val_blocks: torch.Tensor | None = None

    def texts(self) -> list[str]:
        if self.data_files:
            return [t for path in self.data_files for t in read_texts(path, self.text_field)]
        return self.toyworld.texts()

    def setup(self, stage: str | None = None) -> None:
        if self.train_blocks is not None:
            return
        texts = self.texts()
        if len(texts) < 2:
            raise DataError(f"the corpus has {len(texts)} document(s); need at least 2 to hold some out")
        order = list(range(len(texts)))
        random.Random(self.seed).shuffle(order)
        n_val = max(1, round(self.val_fraction * len(texts)))
        self.val_texts = [texts[i] for i in order[:n_val]]
        self.train_texts = [texts[i] for i in order[n_val:]]
        if self.tokenizer_source is not None:
            self.tokenizer = load_tokenizer(self.tokenizer_source)
        else:
            self.tokenizer = train_bpe_tokenizer(self.train_texts, self.vocab_size)
        self.train_blocks = self._blocks(self.train_texts, "training")
        self.val_blocks = self._blocks(self.val_texts, "validation")

    def _blocks(self, texts: list[str], split: str) -> torch.Tensor:
        ids = self.tokenizer(texts, add_special_tokens=True)["input_ids"]
        blocks = pack_blocks(ids, self.block_size)
        if len(blocks) == 0:
            raise DataError(f"the {split} split has fewer than block_size={self.block_size} tokens; "
                            f"add text or lower data.block_size")
        return blocks

    def _loader(self, blocks: torch.Tensor, shuffle: bool) -> DataLoader:
        return DataLoader(TensorDataset(blocks), batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_blocks, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_blocks, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def save_tokenizer(self, directory: str | Path) -> None:
        self.tokenizer.save_pretrained(str(directory))
