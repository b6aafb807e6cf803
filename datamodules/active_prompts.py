"""Prompts for active sampling: the seed round from the ordinary sources, then each planned round in turn."""

from __future__ import annotations

from datamodules.prompts import PromptDataModule
from difflens.decoding import DecodingJob, plan_jobs
from difflens.prompts import Prompt, PromptFile, ToyWorldPrompts


class ActivePromptDataModule(PromptDataModule):
    """`PromptDataModule` whose jobs are one round of active sampling at a time.

    Its first round, the seed round, is the prompts of the configured sources (``free``,
    ``toyworld``, ``prefixes``, ``files``), ``samples_per_prompt`` texts each. Before each later
    round's ``trainer.predict``, the active-sampling loop (`cli.decoding.sample_actively`) hands
    it that round's planned prompts with `start_round`, one text each. A round is batched like
    any prompt set, so N processes (`spread_over`) decode the same batches as one, each every N-th.

    Args:
        prefixes: how many topic x instruction prompts in the seed round.
        free: how many empty prompts (free generation from BOS) in the seed round.
        toyworld: seed-round prompts cut from toy-world documents.
        files: seed-round prompts from local files.
        samples_per_prompt: texts per seed prompt and model (later rounds: one per prompt).
        seed: run seed; each prompt's seed is derived from it and the prompt id.
        batch_size: prompts per batch.
        max_new_tokens: tokens to generate at most per text.
        temperature: sampling temperature (0 = greedy).
        top_p: nucleus sampling mass (1.0 = full distribution).
        num_workers: DataLoader workers.
    """

    def __init__(self, prefixes: int = 0, free: int = 0, toyworld: ToyWorldPrompts | None = None,
                 files: list[PromptFile] | None = None, samples_per_prompt: int = 1,
                 seed: int = 0, batch_size: int = 32, max_new_tokens: int = 64, temperature: float = 1.0,
                 top_p: float = 1.0, num_workers: int = 0):
        super().__init__(prefixes, free, toyworld, files, samples_per_prompt, seed, batch_size, max_new_tokens,
                         temperature, top_p, num_workers)
        self.round_index = 0
        self.processes = 1

    def setup(self, stage: str | None = None) -> None:
        if self.round_index == 0:  # later rounds' jobs come from `start_round`, not from the sources
            super().setup(stage)

    def spread_over(self, processes: int) -> None:
        """Hand each round's batches out to ``processes`` processes (``trainer.world_size``)."""
        self.processes = processes

    def batches(self) -> list[list[DecodingJob]]:
        """The round's batches still to decode, padded with empty batches to one per process if
        fewer: Lightning's predict sampler needs a batch for every process once any has one."""
        batches = super().batches()
        if batches:
            batches += [[] for _ in range(self.processes - len(batches))]
        return batches

    def start_round(self, round_index: int, prompts: list[Prompt], written: set[str]) -> None:
        """Make round ``round_index`` the jobs to decode: ``prompts``, one sample each, less the
        jobs whose keys are in ``written`` (their texts exist)."""
        self.round_index = round_index
        self.jobs = plan_jobs(prompts, 1, self.seed)
        self.exclude(written)
