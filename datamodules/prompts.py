"""Prompts for paired decoding, batched by length; the sampling settings of the run live here."""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from difflens.corpus import check_text_file
from difflens.decoding import DecodingJob, SamplingConfig, length_batches, plan_jobs
from difflens.errors import ConfigError, DataError
from difflens.prompts import (
    Prompt,
    PromptFile,
    ToyWorldPrompts,
    check_unique,
    free_prompts,
    prefix_prompts,
    read_prompt_file,
)


def _first(items: list):
    # each dataset item is already a whole batch
    return items[0]


class PromptDataModule(pl.LightningDataModule):
    """Prompts from several sources, as batches of decoding jobs for `PairedDecoder`.

    Batches are formed once over all jobs (by prompt length) and then handed out whole to the
    processes, so a prompt is decoded in the same batch whatever the number of processes. Jobs
    already written (``exclude``, called by `DecodedTextWriter` on a rerun) are dropped; a
    finished run then has no batch at all and does no model work.

    The sampling settings belong to the run, not to the model, so they are set here and travel
    with every batch (see ../shared/NOTES.md on ``--ckpt_path`` overriding model arguments).

    Args:
        prefixes: how many topic x instruction prompts written by this project.
        free: how many empty prompts (free generation from BOS).
        toyworld: prompts cut from toy-world documents.
        files: local prompt files (persona JSONL, inventory CSV, jailbreak CSV, plain text).
        samples_per_prompt: texts per prompt and model (each with its own seed).
        seed: run seed; each prompt's seed is derived from it and the prompt id.
        batch_size: prompts per batch (per process).
        max_new_tokens: tokens to generate at most per text.
        temperature: sampling temperature (0 = greedy).
        top_p: nucleus sampling mass (1.0 = full distribution).
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        prefixes: int = 0,
        free: int = 0,
        toyworld: ToyWorldPrompts | None = None,
        files: list[PromptFile] | None = None,
        samples_per_prompt: int = 1,
        seed: int = 0,
        batch_size: int = 32,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        num_workers: int = 0,
    ):
        super().__init__()
        if min(prefixes, free) < 0:
            raise ConfigError(f"data.prefixes and data.free must be >= 0, got {prefixes} and {free}")
        if samples_per_prompt < 1:
            raise ConfigError(f"data.samples_per_prompt must be >= 1, got {samples_per_prompt}")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        self.files = [f if isinstance(f, PromptFile) else PromptFile(**f) for f in (files or [])]
        for spec in self.files:
            check_text_file(spec.path)
        self.prefixes = prefixes
        self.free = free
        self.toyworld = toyworld
        self.samples_per_prompt = samples_per_prompt
        self.seed = seed
        self.batch_size = batch_size
        self.sampling = SamplingConfig(max_new_tokens, temperature, top_p)
        self.num_workers = num_workers
        self.jobs: list[DecodingJob] = []
        self.excluded: set[str] = set()

    def prompts(self) -> list[Prompt]:
        """All prompts of all sources, in source order."""
        prompts = prefix_prompts(self.prefixes) + free_prompts(self.free)
        if self.toyworld is not None:
            prompts += self.toyworld.prompts()
        for spec in self.files:
            prompts += read_prompt_file(spec)
        check_unique(prompts)
        return prompts

    def setup(self, stage: str | None = None) -> None:
        if self.jobs:
            return
        prompts = self.prompts()
        if not prompts:
            raise DataError("the prompt set is empty: set data.prefixes, data.free, data.toyworld or data.files")
        self.jobs = plan_jobs(prompts, self.samples_per_prompt, self.seed)

    def exclude(self, keys: set[str]) -> None:
        """Skip jobs whose key (``<prompt_id>/<sample>``) is in ``keys``: their texts exist."""
        self.excluded = set(keys)

    def batches(self) -> list[list[DecodingJob]]:
        """The batches still to decode: formed over all jobs, then those fully written dropped."""
        out = []
        for batch in length_batches(self.jobs, self.batch_size):
            todo = [job for job in batch if job.key not in self.excluded]
            if todo:
                out.append(todo)
        return out

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # prompts are strings; each model tokenises them itself on its device

    def predict_dataloader(self) -> DataLoader:
        items = [{"jobs": batch, "sampling": self.sampling} for batch in self.batches()]
        return DataLoader(items, batch_size=1, shuffle=False, collate_fn=_first, num_workers=self.num_workers)
