"""Prompts for active sampling: the seed round from the ordinary sources, then rounds planned on the fly."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import DataLoader, IterableDataset

from datamodules.prompts import PromptDataModule
from difflens.decoding import length_batches, plan_jobs
from difflens.errors import ConfigError
from difflens.files import write_json
from difflens.prompts import PromptFile, ToyWorldPrompts


class _Rounds(IterableDataset):
    def __init__(self, data: ActivePromptDataModule):
        self.data = data

    def __iter__(self):
        return self.data.rounds()


class _RoundPlanner:
    """Rank 0's side of the rounds: reads what every rank wrote, plans, writes the plan files.

    `next` returns what all ranks need to decode the round (picklable, for the broadcast):
    ``{"stop": bool, "prompts": [...], "done": keys of the round already written}``, or
    ``{"error": message}`` so that the other ranks raise too instead of waiting forever.
    """

    def __init__(self, data: ActivePromptDataModule, sampler, run_dir: Path):
        from callbacks.decoded_text_writer import WrittenTexts

        self.data, self.sampler, self.run_dir = data, sampler, run_dir
        self.pending = {job.key for job in data.jobs}
        self.written = WrittenTexts(run_dir)  # each round reads only the texts of the round before

    def next(self, round_index: int) -> dict:
        from callbacks.decoded_text_writer import finished_keys

        by_id = self.written.update()
        done = finished_keys(by_id)
        missing = self.pending - done
        if missing:
            return {"error": f"round {round_index - 1} has {len(missing)} texts not written before planning"}
        plan = self.sampler.plan_round(round_index, list(by_id.values()), self.run_dir)
        write_json(self.run_dir / "active" / f"round_{round_index:03d}.json",
                   {**plan.metrics, "prompts": [p.__dict__ for p in plan.prompts]})
        if plan.stop_reason is not None:
            write_json(self.run_dir / "active" / "summary.json",
                       {"rounds": round_index - 1, "stop_reason": plan.stop_reason,
                        "texts_per_model": plan.metrics["texts_per_model"],
                        "texts": plan.metrics["texts"], "settings": self.sampler.active_settings()})
            return {"stop": True}
        self.pending = {job.key for job in plan_jobs(plan.prompts, 1, self.data.seed)}
        return {"stop": False, "prompts": plan.prompts, "done": self.pending & done}


class ActivePromptDataModule(PromptDataModule):
    """`PromptDataModule` whose predict loop continues with rounds that `ActiveSampler` plans.

    The seed round is the prompts of the configured sources (``free``, ``toyworld``,
    ``prefixes``, ``files``). After each round the model (an `ActiveSampler`) plans the next
    one from every text written so far (read back from `DecodedTextWriter`'s output, each round
    only the texts of the round before), until it says stop. Each plan is written to
    ``<output_dir>/active/round_<r>.json``. A plan depends only on earlier rounds' texts, so a
    killed run replans the same rounds and decodes only the missing texts; a finished run does
    no model work.

    With several processes (``trainer.devices: N``) each rank decodes every N-th batch of a
    round (the batches are those one process forms, so the texts are the same) and all ranks
    hand out the same number of batches. At the end of a round every rank waits for the others
    (``strategy.barrier``: each has written its shard by then); rank 0 reads every rank's shard,
    plans the next round (it alone embeds, logs and writes ``active/``) and broadcasts the plan,
    so 1 and N processes decode the same rounds, plans and texts.

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
        num_workers: must stay 0 (rounds are planned in the main process).
    """

    def __init__(self, prefixes: int = 0, free: int = 0, toyworld: ToyWorldPrompts | None = None,
                 files: list[PromptFile] | None = None, samples_per_prompt: int = 1,
                 seed: int = 0, batch_size: int = 32, max_new_tokens: int = 64, temperature: float = 1.0,
                 top_p: float = 1.0, num_workers: int = 0):
        if num_workers != 0:
            raise ConfigError("data.num_workers must be 0 for active sampling: rounds are planned in the main process")
        super().__init__(prefixes, free, toyworld, files, samples_per_prompt, seed, batch_size, max_new_tokens,
                         temperature, top_p, num_workers)

    def _item(self, jobs) -> dict:
        return {"jobs": jobs, "sampling": self.sampling}

    def _writer(self):
        from callbacks.decoded_text_writer import DecodedTextWriter

        writers = [cb for cb in self.trainer.callbacks if isinstance(cb, DecodedTextWriter)]
        if not writers:
            raise ConfigError("active sampling needs a DecodedTextWriter callback (trainer.callbacks)")
        return writers[0]

    def rounds(self):
        """This rank's batches of the seed round, then of each planned round, with an empty batch after each round.

        The empty batch is a barrier: Lightning fetches one batch ahead, so the next round is
        planned only when the iterator is asked for the batch after it, by which time every
        real batch of the round has been decoded and written (on every rank: all ranks wait
        for each other there before rank 0 reads the shards).
        """
        trainer = self.trainer
        sampler = trainer.lightning_module
        if not hasattr(sampler, "plan_round"):
            raise ConfigError("ActivePromptDataModule needs model.class_path: ActiveSampler")
        world = getattr(trainer, "world_size", 1)
        rank = getattr(trainer, "global_rank", 0)
        run_dir = Path(self._writer().output_dir)
        yield from self._share(self.batches(), rank, world)
        yield self._item([])
        planner = _RoundPlanner(self, sampler, run_dir) if rank == 0 else None
        round_index = 1
        while True:
            if world > 1:
                trainer.strategy.barrier(f"active-round-{round_index}")
            if world == 1:
                step = planner.next(round_index)
            else:
                failed = None
                try:
                    step = planner.next(round_index) if planner is not None else None
                except Exception as err:  # tell the other ranks, or they wait for the plan forever
                    failed, step = err, {"error": f"rank 0 failed to plan round {round_index}: {err!r}"}
                step = trainer.strategy.broadcast(step, src=0)
                if failed is not None:
                    raise failed
            if "error" in step:
                raise RuntimeError(step["error"])
            if step["stop"]:
                return
            jobs = plan_jobs(step["prompts"], 1, self.seed)
            batches = []
            for batch in length_batches(jobs, self.batch_size):
                todo = [job for job in batch if job.key not in step["done"]]
                if todo:
                    batches.append(todo)
            yield from self._share(batches, rank, world)
            yield self._item([])
            round_index += 1

    def _share(self, batches: list, rank: int, world: int):
        """Every ``world``-th batch from ``rank`` on (as Lightning's predict sampler hands out a
        map-style dataset), padded with empty batches so that every rank yields as many."""
        mine = batches[rank::world]
        for batch in mine:
            yield self._item(batch)
        for _ in range(-(-len(batches) // world) - len(mine)):
            yield self._item([])

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_Rounds(self), batch_size=None, num_workers=0)
