"""Held-out texts and hypotheses turned into a judging plan for `HypothesisValidator`.

``setup`` fixes the plan before any judgement (``plan.jsonl`` in ``out_dir``; a rerun reuses
it), draws fresh samples when the held-out pool is too small (rank 0 writes them, every rank
reads them), and leaves out the tasks already in the judgement journal, so a killed run
resumes without judging any text twice. The dataset is padded with no-op items to a multiple
of the world size, so a distributed sampler never repeats a real task.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from difflens.decoding import SamplingConfig
from difflens.errors import ConfigError, DataError
from difflens.records import MODELS, DecodedText, Hypothesis, read_records, write_records
from difflens.validation import (
    JudgementJournal,
    JudgementTask,
    allocate,
    check_references,
    plan_fingerprint,
    read_plan,
    sort_hypotheses,
    write_plan,
)
from difflens.validation.plan import EXCLUDE_MODES, condition_hypothesis_id

PAD_INDEX = -1


class _TaskDataset(Dataset):
    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def _as_list(batch: list[dict]) -> list[dict]:
    return batch


class HypothesisValidationDataModule(pl.LightningDataModule):
    """Judging tasks: for each hypothesis, held-out texts from both models in random order.

    Args:
        texts: JSONL file(s) of `DecodedText` from the decoding stage.
        hypotheses: JSONL file of `Hypothesis` from the discovery stage.
        out_dir: where the plan, the judgement journal, fresh samples and results go.
        n_per_model: held-out texts per model per hypothesis (n = 2 × this), fixed up front.
        exclude_proposal_texts: ``all``: no text shown to any proposer is used; ``own``: only
            the hypothesis's own proposal texts are excluded.
        seed: seeds the allocation, the judging order and the tie-break coins.
        batch_size: texts per judge call.
        base_model: path or name of the base model (fresh samples, generative validation).
        intervention_model: path or name of the intervention model.
        fresh_max_new_tokens: length of fresh samples; null: the ``max_new_tokens`` of the
            decoding run that wrote the texts (its ``decode_meta.json``), whose temperature and
            top-p fresh samples use too, so that they come from the same distribution as the pool.
        pool_sources: validate only on texts whose ``source`` is one of these (e.g. ``[free,
            toyworld]``: not the targeted prompts of active sampling, which steer both models
            into an area and so hide how often each goes there); null: every text. All texts
            still count for the check of the hypotheses' proposal text ids.
        condition_n_per_model: texts per model for each conditional hypothesis (one with
            ``condition`` prompts): fresh continuations of its prompts by both models, drawn
            for it; null: ``n_per_model``.
    """

    def __init__(
        self,
        texts: str | list[str],
        hypotheses: str,
        out_dir: str = "runs/validate",
        n_per_model: int = 20,
        exclude_proposal_texts: str = "all",
        seed: int = 0,
        batch_size: int = 16,
        base_model: str | None = None,
        intervention_model: str | None = None,
        fresh_max_new_tokens: int | None = None,
        pool_sources: list[str] | None = None,
        condition_n_per_model: int | None = None,
    ):
        super().__init__()
        if n_per_model < 1:
            raise ConfigError(f"data.n_per_model must be >= 1, got {n_per_model}")
        if exclude_proposal_texts not in EXCLUDE_MODES:
            raise ConfigError(f"data.exclude_proposal_texts must be one of {EXCLUDE_MODES}, "
                              f"got {exclude_proposal_texts!r}")
        if condition_n_per_model is not None and condition_n_per_model < 1:
            raise ConfigError(f"data.condition_n_per_model must be >= 1 (or null), got {condition_n_per_model}")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        self.text_files = [texts] if isinstance(texts, str) else list(texts)
        self.hypotheses_file = hypotheses
        self.out_dir = Path(out_dir)
        self.n_per_model = n_per_model
        self.exclude = exclude_proposal_texts
        self.seed = seed
        self.batch_size = batch_size
        self.base_model = base_model
        self.intervention_model = intervention_model
        self.fresh_max_new_tokens = fresh_max_new_tokens
        self.pool_sources = None if pool_sources is None else set(pool_sources)
        self.condition_n_per_model = condition_n_per_model
        self._loaded: dict[str, tuple] = {}  # model name -> (model, tokenizer), for fresh samples
        self.hypotheses: list[Hypothesis] = []
        self.tasks: list[JudgementTask] = []
        self.previous: dict = {}
        self.pending: list[JudgementTask] = []

    # ---- paths -------------------------------------------------------------------------------
    @property
    def plan_path(self) -> Path:
        return self.out_dir / "plan.jsonl"

    @property
    def fresh_path(self) -> Path:
        return self.out_dir / "fresh_texts.jsonl"

    @property
    def condition_path(self) -> Path:
        return self.out_dir / "condition_texts.jsonl"

    @property
    def journal_dir(self) -> Path:
        return self.out_dir / "judgements"

    def model_path(self, model: str) -> str | None:
        return self.base_model if model == "base" else self.intervention_model

    # ---- setup -------------------------------------------------------------------------------
    def _rank_and_barrier(self):
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, lambda: None
        return trainer.global_rank, trainer.strategy.barrier

    def setup(self, stage: str | None = None) -> None:
        rank, barrier = self._rank_and_barrier()
        texts: list[DecodedText] = [t for path in self.text_files for t in read_records(path, DecodedText)]
        if not texts:
            raise DataError(f"texts file(s) {', '.join(self.text_files)} hold no texts: give the texts.jsonl "
                            f"that the decoding stage wrote")
        ids = [t.text_id for t in texts]
        if len(set(ids)) != len(ids):
            raise DataError(f"texts files {self.text_files} contain duplicate text_id values; each text needs one id")
        self.hypotheses = sort_hypotheses(read_records(self.hypotheses_file, Hypothesis))
        if not self.hypotheses:
            raise DataError(f"hypotheses file {self.hypotheses_file!r} is empty: nothing to validate")
        check_references(self.hypotheses, texts, ", ".join(self.text_files))
        fingerprint = plan_fingerprint(self.hypotheses, self.n_per_model, self.seed, self.exclude,
                                       self.condition_n_per_model)
        journal = JudgementJournal(self.journal_dir)
        plan_exists = self.plan_path.exists()
        barrier()  # every rank has looked before rank 0 may write the plan: all take the same branch
        if plan_exists:
            old_fingerprint, tasks = read_plan(self.plan_path)
            if old_fingerprint != fingerprint:
                if journal.read_all():
                    raise DataError(
                        f"{self.out_dir} holds judgements for a different plan (hypotheses, n_per_model, seed or "
                        f"exclude_proposal_texts changed); the number of judgements is fixed before validation, so "
                        f"validate the new hypotheses into a new data.out_dir")
                tasks = None
        else:
            tasks = None
        if tasks is None:
            tasks = self._build_plan(texts, rank, barrier)
            if rank == 0:
                write_plan(self.plan_path, tasks, fingerprint)
            barrier()
        self.tasks = tasks
        self.previous = journal.read_all()
        self.pending = [t for t in tasks if t.index not in self.previous]
        if self.previous and rank == 0:
            print(f"[validate] resuming {self.out_dir}: {len(tasks) - len(self.pending)} of {len(tasks)} planned "
                  f"judgements already made ({self.journal_dir}); judging the {len(self.pending)} missing",
                  flush=True)

    def _build_plan(self, texts: list[DecodedText], rank: int, barrier) -> list[JudgementTask]:
        if self.pool_sources is not None:
            texts = [t for t in texts if t.source in self.pool_sources]
        def read(path: Path) -> list[DecodedText]:
            return read_records(path, DecodedText) if path.exists() else []

        def allocation_with(fresh: list[DecodedText], conditioned: list[DecodedText]):
            return allocate(self.hypotheses, texts, self.n_per_model, self.seed, self.exclude, fresh, conditioned,
                            self.condition_n_per_model)

        fresh, conditioned = read(self.fresh_path), read(self.condition_path)
        allocation = allocation_with(fresh, conditioned)
        if not allocation.complete:
            if rank == 0:  # each file is rewritten whole with the earlier texts first, so a rerun resumes
                if any(allocation.shortfall.values()):
                    write_records(self.fresh_path, fresh + self._sample_fresh(allocation.shortfall, fresh))
                if any(n for need in allocation.condition_shortfall.values() for n in need.values()):
                    write_records(self.condition_path, conditioned + self._sample_conditioned(
                        allocation.condition_shortfall, conditioned))
            barrier()
            allocation = allocation_with(read(self.fresh_path), read(self.condition_path))
            if not allocation.complete:
                raise RuntimeError(f"fresh sampling left a shortfall {allocation.shortfall} "
                                   f"{allocation.condition_shortfall}")
        return allocation.tasks

    def fresh_sampling(self) -> SamplingConfig:
        """The sampling settings of the decoding run(s) that wrote the texts files
        (``decode_meta.json`` beside each; defaults where there is none), with the length
        overridden by ``fresh_max_new_tokens`` when set."""
        found = set()
        for path in self.text_files:
            meta = Path(path).parent / "decode_meta.json"
            if meta.exists():
                try:
                    sampling = json.loads(meta.read_text(encoding="utf-8")).get("sampling") or {}
                except (ValueError, AttributeError) as err:
                    raise DataError(f"{meta} is not a decoding run's metadata ({err}); restore it, or set "
                                    f"data.fresh_max_new_tokens and move it away") from err
                found.add((sampling.get("max_new_tokens", 64), sampling.get("temperature", 1.0),
                           sampling.get("top_p", 1.0)))
        if len(found) > 1:
            raise ConfigError(f"the texts files were decoded with different sampling settings "
                              f"(max_new_tokens, temperature, top_p) {sorted(found)}, so fresh samples cannot match "
                              f"all of them; validate each decoding run separately")
        config = SamplingConfig(*found.pop()) if found else SamplingConfig()
        if self.fresh_max_new_tokens is not None:
            config = SamplingConfig(self.fresh_max_new_tokens, config.temperature, config.top_p)
        return config

    def _language_model(self, model_name: str):
        """``(model, tokenizer)`` of ``base`` or ``intervention``, loaded once for fresh and
        conditional samples alike."""
        if model_name not in self._loaded:
            from difflens.models import load_causal_lm, load_tokenizer

            path = self.model_path(model_name)
            self._loaded[model_name] = load_causal_lm(path), load_tokenizer(path)
        return self._loaded[model_name]

    def _sample_conditioned(self, shortfall: dict[str, dict[str, int]],
                            existing: list[DecodedText]) -> list[DecodedText]:
        """Continuations of each conditional hypothesis's prompts, by both models."""
        from difflens.validation.fresh import sample_condition_texts

        by_id = {h.hypothesis_id: h for h in self.hypotheses}
        sampling = self.fresh_sampling()
        new: list[DecodedText] = []
        for model_name in MODELS:
            needs = {h: need[model_name] for h, need in shortfall.items() if need[model_name]}
            if not needs:
                continue
            path = self.model_path(model_name)
            if path is None:
                raise DataError(f"{len(needs)} conditional hypothesis/es need continuations of their prompts by "
                                f"the {model_name} model; set data.{model_name}_model")
            model, tokenizer = self._language_model(model_name)
            for hypothesis_id, need in needs.items():
                start = sum(1 for t in existing if t.model == model_name
                            and condition_hypothesis_id(t) == hypothesis_id)
                new += sample_condition_texts(model, tokenizer, model_name, hypothesis_id,
                                              by_id[hypothesis_id].condition, need, self.seed, start=start,
                                              sampling=sampling)
        return new

    def _sample_fresh(self, shortfall: dict[str, int], existing: list[DecodedText]) -> list[DecodedText]:
        from difflens.validation.fresh import sample_fresh_texts

        new: list[DecodedText] = []
        sampling = self.fresh_sampling()
        for model_name in MODELS:
            need = shortfall[model_name]
            if not need:
                continue
            path = self.model_path(model_name)
            if path is None:
                pool = sum(1 for t in existing if t.model == model_name)
                raise DataError(
                    f"not enough held-out {model_name} texts: {len(self.hypotheses)} hypotheses x "
                    f"n_per_model={self.n_per_model} need {need} more than the texts file provides"
                    f"{f' (plus {pool} fresh)' if pool else ''}; set data.{model_name}_model so fresh samples can "
                    f"be drawn, give more texts, or lower data.n_per_model")
            model, tokenizer = self._language_model(model_name)
            start = sum(1 for t in existing if t.model == model_name)
            new += sample_fresh_texts(model, tokenizer, model_name, need, self.seed, start=start,
                                      sampling=sampling)
        return new

    # ---- data --------------------------------------------------------------------------------
    def test_dataloader(self) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        world = trainer.world_size if trainer is not None else 1
        by_id = {h.hypothesis_id: h for h in self.hypotheses}
        items = [{"index": t.index, "hypothesis_id": t.hypothesis_id, "hypothesis": by_id[t.hypothesis_id].text,
                  "text_id": t.text_id, "text": t.text, "label": t.label} for t in self.pending]
        # Pad to a multiple of the world size (and never empty) so no sampler repeats a real task.
        while len(items) % world or not items:
            items.append({"index": PAD_INDEX})
        return DataLoader(_TaskDataset(items), batch_size=self.batch_size, shuffle=False, collate_fn=_as_list)
