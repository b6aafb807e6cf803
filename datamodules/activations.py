"""Activations of a frozen causal LM, served in shuffled batches for dictionary learning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from difflens.activations import ActivationHarvester, MixingBuffer
from difflens.corpus import ToyWorldCorpus, check_text_file, read_texts
from difflens.errors import ConfigError, DataError

DEFAULT_MODEL = "runs/quickstart/base_lm/model"

log = logging.getLogger(__name__)


class _Stream(IterableDataset):
    """One epoch of activation batches from this rank's shard (batch_size=None loader)."""

    def __init__(self, dm: ActivationDataModule):
        self.dm = dm

    def __len__(self) -> int:
        return self.dm.batches_per_epoch

    def __iter__(self):
        return self.dm.iterate_train()


class ActivationDataModule(pl.LightningDataModule):
    """Run a frozen causal LM over texts and serve its activations at hooked modules.

    Every real token (not padding, not the BOS at position 0) yields one row: the activation
    ``x`` at ``hook_name`` (and ``y`` at ``hook_name_out`` for a transcoder), its token id,
    document index, position and a window of surrounding token ids, so callbacks can show
    contexts. Rows pass through a mixing buffer so that batches mix many documents. Under DDP
    rank ``r`` of ``w`` reads documents ``r, r + w, ...`` and every rank serves the same number
    of batches.

    Args:
        model: causal LM name or directory (loaded with ``difflens.models.load_causal_lm``).
        hook_name: module whose output is the input (``transformer.h.2`` is the residual stream
            after block 2); ``name:input`` takes the module's input instead.
        hook_name_out: module whose output is the transcoder's target, or None for an SAE.
        toyworld: toy-world corpus, used when ``data_files`` is not given.
        data_files: local ``.jsonl``/``.json``/``.csv``/``.parquet``/``.txt`` files of texts.
        text_field: the column that holds the text in ``data_files``.
        context_length: tokens per text at most (longer texts are truncated).
        lm_batch_size: texts per forward pass of the LM.
        batch_size: activations per training batch.
        buffer_size: activations in the mixing buffer.
        val_texts: texts held out for validation (reconstruction and spliced LM loss).
        val_batch_size: texts per validation batch.
        cache_dir: if set, the first epoch writes each rank's activations there as safetensors
            shards, and later epochs (and later runs) read them back instead of running the LM.
        dtype: dtype of the LM.
        seed: seed of the shuffling.
        num_threads: PyTorch CPU threads for the process (None leaves the default); on a shared
            CPU one thread is often faster than two for small models.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        hook_name: str = "transformer.h.2",
        hook_name_out: str | None = None,
        toyworld: ToyWorldCorpus | None = None,
        data_files: list[str] | None = None,
        text_field: str = "text",
        context_length: int = 128,
        lm_batch_size: int = 32,
        batch_size: int = 4096,
        buffer_size: int = 65536,
        val_texts: int = 64,
        val_batch_size: int = 16,
        cache_dir: str | None = None,
        dtype: str = "float32",
        seed: int = 0,
        num_threads: int | None = None,
    ):
        super().__init__()
        if data_files:
            for path in data_files:
                check_text_file(path)
        for name, value in (("context_length", context_length), ("lm_batch_size", lm_batch_size),
                            ("batch_size", batch_size), ("val_batch_size", val_batch_size)):
            if value < 1:
                raise ConfigError(f"data.{name} must be >= 1, got {value}")
        if val_texts < 0:
            raise ConfigError(f"data.val_texts must be >= 0, got {val_texts}")
        if buffer_size < batch_size:
            raise ConfigError(f"data.buffer_size ({buffer_size}) must be >= data.batch_size ({batch_size}): a batch "
                              f"is drawn from the buffer, which mixes activations from many contexts")
        self.model_name = model
        self.hook_name = hook_name
        self.hook_name_out = hook_name_out
        self.toyworld = toyworld if toyworld is not None or data_files else ToyWorldCorpus(n_documents=4000)
        self.data_files = data_files
        self.text_field = text_field
        self.context_length = context_length
        self.lm_batch_size = lm_batch_size
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.n_val_texts = val_texts
        self.val_batch_size = val_batch_size
        self.cache_dir = cache_dir
        self.dtype = dtype
        self.seed = seed
        self.num_threads = num_threads
        self.lm = None
        self.tokenizer = None
        self.harvester: ActivationHarvester | None = None
        self.rank, self.world_size = 0, 1
        self.train_docs: list[int] = []
        self.val_docs: list[int] = []
        self.token_ids: dict[int, list[int]] = {}
        self.batches_per_epoch = 0
        self.epoch = 0
        self._resuming = False

    # ----- setup ------------------------------------------------------------------------
    def texts(self) -> list[str]:
        if self.data_files:
            return [t for path in self.data_files for t in read_texts(path, self.text_field)]
        return self.toyworld.texts()

    def setup(self, stage: str | None = None) -> None:
        if self.lm is not None:
            return
        from difflens.models import load_causal_lm, load_tokenizer

        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            self.rank, self.world_size = trainer.global_rank, trainer.world_size
        self.tokenizer = load_tokenizer(self.model_name)
        self.lm = load_causal_lm(self.model_name, dtype=self.dtype)
        for p in self.lm.parameters():
            p.requires_grad_(False)
        positions = getattr(self.lm.config, "max_position_embeddings", None) or getattr(self.lm.config, "n_positions",
                                                                                          None)
        if positions is not None and self.context_length > positions:
            raise ConfigError(f"data.context_length={self.context_length} is longer than {self.model_name!r} reads "
                              f"({positions} positions): lower context_length")
        self.harvester = ActivationHarvester(self.lm, self.hook_name, self.hook_name_out)
        texts = self.texts()
        n_val = min(self.n_val_texts, len(texts) // 2)
        self.val_docs = list(range(n_val))
        self.train_docs = list(range(n_val, len(texts)))[self.rank::self.world_size]
        mine = self.val_docs + self.train_docs
        ids = self.tokenizer([texts[i] for i in mine], truncation=True, max_length=self.context_length)["input_ids"]
        self.token_ids = dict(zip(mine, ids))
        n_acts = sum(max(len(self.token_ids[d]) - 1, 0) for d in self.train_docs)
        batches = torch.tensor(n_acts // self.batch_size)
        if trainer is not None and self.world_size > 1:
            batches = trainer.strategy.reduce(batches, reduce_op="min")  # equal step counts on every rank
        self.batches_per_epoch = int(batches)
        if self.batches_per_epoch == 0:
            raise DataError(f"this rank's text gives {n_acts} activations, fewer than one batch of "
                            f"data.batch_size={self.batch_size}: add texts or lower the batch size")

    @property
    def d_in(self) -> int:
        return self.sample_activations(1)["x"].shape[-1]

    def sample_activations(self, n: int) -> dict[str, torch.Tensor]:
        """About ``n`` activation rows from the first training texts (for initialisation)."""
        parts, total = [], 0
        for batch in self._lm_batches(self.train_docs[: max(1, self.lm_batch_size * 4)]):
            parts.append(self.harvester(*batch))
            total += len(parts[-1]["x"])
            if total >= n:
                break
        return {k: torch.cat([p[k] for p in parts])[:n] for k in parts[0]}

    # ----- iteration --------------------------------------------------------------------
    def _lm_batches(self, docs: list[int]):
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(docs), self.lm_batch_size):
            chunk = docs[start:start + self.lm_batch_size]
            seqs = [self.token_ids[d] for d in chunk]
            T = max(len(s) for s in seqs)
            input_ids = torch.full((len(seqs), T), pad, dtype=torch.long)  # (B, T)
            mask = torch.zeros(len(seqs), T, dtype=torch.long)
            for i, s in enumerate(seqs):
                input_ids[i, :len(s)] = torch.tensor(s)
                mask[i, :len(s)] = 1
            yield input_ids, mask, torch.tensor(chunk)

    def _cache_prefix(self) -> Path:
        return Path(self.cache_dir) / f"world{self.world_size}_rank{self.rank}"

    def _harvested(self, generator: torch.Generator):
        """Activation chunks for one epoch: from the LM, or from the cache when it is complete."""
        if self.cache_dir:
            done = self._cache_prefix().with_suffix(".json")
            if done.exists():
                yield from self._read_cache(json.loads(done.read_text())["shards"], generator)
                return
        order = [self.train_docs[i] for i in torch.randperm(len(self.train_docs), generator=generator)]
        shards, pending, pending_n = [], [], 0
        for batch in self._lm_batches(order):
            chunk = self.harvester(*batch)
            if self.cache_dir:
                pending.append(chunk)
                pending_n += len(chunk["x"])
                if pending_n >= self.buffer_size:
                    shards.append(self._write_shard(len(shards), pending))
                    pending, pending_n = [], 0
            yield chunk
        if self.cache_dir:
            if pending:
                shards.append(self._write_shard(len(shards), pending))
            from difflens.files import write_json

            write_json(self._cache_prefix().with_suffix(".json"), {"shards": shards, "hook": self.hook_name,
                                                                   "hook_out": self.hook_name_out})

    def _write_shard(self, index: int, chunks: list[dict]) -> str:
        from safetensors.torch import save_file

        from difflens.files import atomic_path

        path = Path(f"{self._cache_prefix()}_{index:05d}.safetensors")
        with atomic_path(path) as tmp:
            save_file({k: torch.cat([c[k] for c in chunks]).contiguous() for k in chunks[0]}, str(tmp))
        return path.name

    def _read_cache(self, shards: list[str], generator: torch.Generator):
        from safetensors.torch import load_file

        for i in torch.randperm(len(shards), generator=generator).tolist():
            yield load_file(str(Path(self.cache_dir) / shards[i]))  # one shard at a time, no LM forward

    # ----- exact resume ------------------------------------------------------------------
    def state_dict(self) -> dict:
        # Saved so that Lightning calls load_state_dict on resume; the position in the stream
        # itself comes from the restored step count (see `_batches_done_this_epoch`).
        return {"batches_per_epoch": self.batches_per_epoch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self._resuming = True

    def _batches_done_this_epoch(self, trainer) -> int:
        """Batches of the current epoch that the checkpoint being resumed had trained on.

        Every batch is one optimizer step per ``accumulate_grad_batches`` batches, so the
        restored global step says how far into the (deterministic) epoch the run had gone.
        """
        consumed = trainer.global_step * trainer.accumulate_grad_batches
        return max(0, min(consumed - trainer.current_epoch * self.batches_per_epoch, self.batches_per_epoch))

    def iterate_train(self):
        trainer = getattr(self, "trainer", None)
        epoch = trainer.current_epoch if trainer is not None else self.epoch
        self.epoch = epoch + 1
        skip = 0
        if self._resuming and trainer is not None:
            self._resuming = False
            skip = self._batches_done_this_epoch(trainer)
            if self.rank == 0:
                log.info(f"[activations] resuming at step {trainer.global_step} (epoch {epoch}): replaying the "
                         f"activation stream past the {skip} batches of this epoch already trained on")
        # Each epoch's stream is a function of (seed, epoch, rank) only, so replaying it and
        # dropping the first ``skip`` batches serves exactly what the interrupted run would have.
        generator = torch.Generator().manual_seed(self.seed * 1000003 + epoch * 1009 + self.rank)
        buffer = MixingBuffer(self.buffer_size, self.batch_size, generator)
        served = 0
        for chunk in self._harvested(generator):
            buffer.add(chunk)
            if buffer.full:
                for batch in buffer.drain():
                    served += 1
                    if served > skip:
                        yield batch
                    if served == self.batches_per_epoch:
                        return
        if buffer.size:
            for batch in buffer.drain(keep_fraction=0.0):
                served += 1
                if served > skip:
                    yield batch
                if served == self.batches_per_epoch:
                    return

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Stream(self), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        # every rank lists all validation batches; under DDP Lightning's sampler splits them
        batches = list(self._lm_batches(self.val_docs))
        return DataLoader(batches, batch_size=None)

    def context_text(self, context: list[int]) -> tuple[str, str, str]:
        """Decode a context window into (before, token, after) strings."""
        from difflens.activations import CONTEXT_BEFORE, PAD_CONTEXT

        def dec(ids):
            return self.tokenizer.decode([i for i in ids if i != PAD_CONTEXT])

        return (dec(context[:CONTEXT_BEFORE]), dec(context[CONTEXT_BEFORE:CONTEXT_BEFORE + 1]),
                dec(context[CONTEXT_BEFORE + 1:]))
