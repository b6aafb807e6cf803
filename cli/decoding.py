"""The decoding runs behind ``difflens predict``: paired decoding, and active sampling round by round.

Each run is a short loop around ``trainer.predict`` that hands every component what it needs:
the prompt datamodule is told which jobs to decode, `DecodedTextWriter` says which texts exist
and merges the shards at the end, and for active sampling `ActiveSampler` plans each next round
from the texts written so far. Active sampling runs one ``trainer.predict`` per round.

With several processes (``trainer.devices: N``) every process decodes every N-th batch of a
round, and rank 0 alone plans, embeds, logs and writes ``active/``:

- under plain ``ddp`` every process runs this loop; the others start within rank 0's first
  ``trainer.predict``, and the process group outlives each predict, so between two rounds all
  wait until every shard is complete, rank 0 plans, and the plan is broadcast;
- under ``ddp_fork`` and ``ddp_spawn`` only the launching process runs this loop, as rank 0, and
  each ``trainer.predict`` starts fresh workers, which receive the round with the datamodule.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path

import pytorch_lightning as pl
import torch

from callbacks.decoded_text_writer import DecodedTextWriter, WrittenTexts, finished_keys
from datamodules import ActivePromptDataModule, PromptDataModule
from difflens.decoding import plan_jobs
from difflens.errors import ConfigError
from difflens.files import write_json
from lightning_modules import ActiveSampler, PairedDecoder
from lightning_modules.active_sampling import log_round

log = logging.getLogger(__name__)


def predict(trainer: pl.Trainer, model: pl.LightningModule, datamodule: pl.LightningDataModule | None,
            **predict_args):
    """``difflens predict``: a decoding run when the callbacks hold a `DecodedTextWriter`, else
    ``trainer.predict`` itself.

    An `ActiveSampler` samples actively (`sample_actively`); any other `PairedDecoder` decodes its
    prompts once (`decode`).

    Raises:
        ConfigError: the model, datamodule and callbacks do not make a decoding run, or a
            decoding run is given a checkpoint (its models are loaded by name or path).
    """
    writers = [callback for callback in trainer.callbacks if isinstance(callback, DecodedTextWriter)]
    active = isinstance(model, ActiveSampler) or isinstance(datamodule, ActivePromptDataModule)
    if not writers and not active:
        return trainer.predict(model, datamodule=datamodule, **predict_args)
    if active and not (isinstance(model, ActiveSampler) and isinstance(datamodule, ActivePromptDataModule)):
        raise ConfigError("active sampling needs model.class_path: ActiveSampler and data.class_path: "
                          "ActivePromptDataModule")
    if not writers:
        raise ConfigError("active sampling needs a DecodedTextWriter callback (trainer.callbacks)")
    if not (isinstance(model, PairedDecoder) and isinstance(datamodule, PromptDataModule)):
        raise ConfigError("DecodedTextWriter writes the texts of a PairedDecoder (or ActiveSampler) model "
                          "decoding a PromptDataModule's prompts; set model.class_path and data.class_path")
    if predict_args.get("ckpt_path") is not None:
        raise ConfigError("decoding loads its models from model.base and model.intervention; "
                          "drop ckpt_path")
    run = sample_actively if active else decode
    run(trainer, model, datamodule, writers[0])
    return None


def decode(trainer: pl.Trainer, decoder: PairedDecoder, prompts: PromptDataModule,
           writer: DecodedTextWriter) -> None:
    """Decode, with both models of ``decoder``, every job of ``prompts`` whose texts ``writer``
    does not hold yet; ``writer`` merges them into its ``texts.jsonl``.

    Args:
        trainer: runs the predict loop; ``writer`` must be among its callbacks.
        decoder: a `PairedDecoder`.
        prompts: a `PromptDataModule`.
        writer: the trainer's `DecodedTextWriter`.
    """
    _skip_written(trainer, decoder, prompts, writer)
    trainer.predict(decoder, datamodule=prompts, return_predictions=False)
    trainer.strategy.barrier("decoded-texts-merge")  # every rank has written its last batch
    if trainer.is_global_zero:
        writer.merge()


def sample_actively(trainer: pl.Trainer, sampler: ActiveSampler, prompts: ActivePromptDataModule,
                    writer: DecodedTextWriter) -> None:
    """Decode the seed round of ``prompts``, then round after round that ``sampler`` plans from
    the texts so far, until it stops; ``writer`` merges every text into its ``texts.jsonl``.

    Each plan goes to ``<output_dir>/active/round_<r>.json`` and the stop to
    ``active/summary.json``. A plan depends only on earlier rounds' texts, so a killed run
    replans the same rounds and decodes only the missing texts, a finished run does no model
    work, and N processes sample the same rounds, plans and texts as one.

    Args:
        trainer: runs each round's predict loop; ``writer`` must be among its callbacks.
        sampler: an `ActiveSampler`: decodes each round and plans the next.
        prompts: an `ActivePromptDataModule`: holds the seed round, then each planned round.
        writer: the trainer's `DecodedTextWriter`.
    """
    prompts.spread_over(trainer.world_size)
    _skip_written(trainer, sampler, prompts, writer)
    forks = _forks_workers(trainer)
    planner = None
    if trainer.is_global_zero:
        _settle_logger_versions(trainer.loggers)
        planner = RoundPlanner(sampler, writer.output_dir, {job.key for job in prompts.jobs}, prompts.seed,
                               trainer.loggers)
    round_index = 0
    while True:
        # a round a rerun finds written needs no predict loop, except the seed round's: under plain
        # ddp the other processes start within the first one
        if round_index == 0 or prompts.batches():
            trainer.predict(sampler, datamodule=prompts, return_predictions=False)
            trainer.strategy.barrier(f"active-round-{round_index}")  # every rank's texts of the round are on disk
        round_index += 1
        with _one_torch_thread() if forks else nullcontext():
            step = _plan_on_rank_zero(trainer, planner, round_index)
        if step["stop"]:
            break
        prompts.start_round(round_index, step["prompts"], step["done"])
    if trainer.is_global_zero:
        writer.merge()


class RoundPlanner:
    """Rank 0's side of active sampling's rounds: reads what every rank wrote, asks the sampler
    for the next round, and writes and logs its plan.

    Args:
        sampler: the `ActiveSampler` that plans each round.
        run_dir: the writer's output directory (texts, shards, and ``active/`` for the plans).
        seed_jobs: the seed round's job keys, each of which must be written before round 1 is planned.
        seed: the run seed, from which each planned prompt's sampling seed derives.
        loggers: the Lightning loggers each round's metrics go to.
    """

    def __init__(self, sampler: ActiveSampler, run_dir: str | Path, seed_jobs: set[str], seed: int, loggers: list):
        self.sampler, self.run_dir, self.seed, self.loggers = sampler, Path(run_dir), seed, loggers
        self.pending = set(seed_jobs)  # the jobs of the round just decoded
        self.written = WrittenTexts(self.run_dir)  # each round reads only the texts of the round before

    def next(self, round_index: int) -> dict:
        """What every rank needs to decode round ``round_index`` (picklable, for the broadcast):
        ``{"stop": True}``, or ``{"stop": False, "prompts": [...], "done": keys of the round
        already written}``.

        Raises:
            RuntimeError: a text of the round before is missing (a process did not write it).
        """
        by_id = self.written.update()
        done = finished_keys(by_id)
        missing = self.pending - done
        if missing:
            raise RuntimeError(f"round {round_index - 1} has {len(missing)} texts not written before planning")
        plan = self.sampler.plan_round(round_index, list(by_id.values()), self.run_dir)
        write_json(self.run_dir / "active" / f"round_{round_index:03d}.json",
                   {**plan.metrics, "prompts": [p.__dict__ for p in plan.prompts]})
        log_round(plan, self.loggers)
        for logger in self.loggers:
            # the next round's workers may be forked from this process: no event file may stay
            # open across the fork (its writer thread would not exist in them)
            logger.finalize("success")
        if plan.stop_reason is not None:
            write_json(self.run_dir / "active" / "summary.json",
                       {"rounds": round_index - 1, "stop_reason": plan.stop_reason,
                        "texts_per_model": plan.metrics["texts_per_model"],
                        "texts": plan.metrics["texts"], "settings": self.sampler.active_settings()})
            return {"stop": True}
        self.pending = {job.key for job in plan_jobs(plan.prompts, 1, self.seed)}
        return {"stop": False, "prompts": plan.prompts, "done": self.pending & done}


def _skip_written(trainer: pl.Trainer, decoder: PairedDecoder, prompts: PromptDataModule,
                  writer: DecodedTextWriter) -> None:
    """Refuse a rerun with other models or sampling settings, and drop from ``prompts`` the jobs
    whose texts ``writer`` holds (a killed run resumes; a finished one decodes nothing).

    Every process reads the written texts itself, before its first ``trainer.predict``: under
    plain ``ddp`` the other processes start within rank 0's first predict, so there is no
    process group to broadcast through yet, and no text is written until all have joined it.
    """
    prompts.setup("predict")
    if trainer.is_global_zero:
        writer.check_settings({"models": decoder.model_names(), "sampling": asdict(prompts.sampling),
                               "seed": prompts.seed})
    keys = {job.key for job in prompts.jobs}
    done = writer.written(keys)
    prompts.exclude(done)
    if trainer.is_global_zero:
        log.info(f"[decode] {len(done)} of {len(keys)} prompt samples already written in {writer.output_dir}; "
                 f"{len(keys) - len(done)} to decode")


def _plan_on_rank_zero(trainer: pl.Trainer, planner: RoundPlanner | None, round_index: int) -> dict:
    """Round ``round_index`` as rank 0 plans it (`RoundPlanner.next`), on every rank.

    Raises:
        Exception: rank 0's error while planning, on every rank (rank 0's own, the others' as a
            RuntimeError), rather than ranks that wait for a plan forever.
    """
    failed = None
    try:
        step = planner.next(round_index) if planner is not None else None
    except Exception as err:
        failed, step = err, {"error": f"rank 0 failed to plan round {round_index}: {err!r}"}
    step = trainer.strategy.broadcast(step, src=0)
    if failed is not None:
        raise failed
    if "error" in step:
        raise RuntimeError(step["error"])
    return step


def _forks_workers(trainer: pl.Trainer) -> bool:
    """Whether each ``trainer.predict`` forks its worker processes from this one (``ddp_fork``,
    ``ddp_notebook``): Lightning's launchers that work in a notebook are those that fork."""
    launcher = trainer.strategy.launcher
    return launcher is not None and launcher.is_interactive_compatible


def _settle_logger_versions(loggers: list) -> None:
    """Fix each logger's version (its directory) in this process, before the first round: under
    ``ddp_fork`` and ``ddp_spawn`` each round's rank 0 is a fresh process that would otherwise take
    the next free version, and every round would log to a directory of its own."""
    for logger in loggers:
        _ = logger.version


@contextmanager
def _one_torch_thread():
    """Torch (and its BLAS) on one thread within. A process forked from one that has run GNU
    OpenMP's thread pool hangs in its first parallel region: the pool's threads are not forked."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
