"""Held-out texts and hypotheses turned into a judging plan for `HypothesisValidator`.

``setup`` fixes the plan before any judgement (``plan.jsonl`` in ``out_dir``; a rerun reuses
it), draws fresh samples when the held-out pool is too small (rank 0 writes them, every rank
reads them), and leaves out the tasks already in the judgement journal, so a killed run
resumes without judging any text twice. The dataset is padded with no-op items to a multiple
of the world size, so a distributed sampler never repeats a real task.

The plan is made for one `HypothesisValidator`, which registers itself when given this data
module (``plan_for``). With ``paired`` (on by itself when the validator's test is ``paired``)
the plan holds same-prompt pairs and fresh samples are drawn as pairs. With ``n_per_model:
auto`` the validator's judge first scores pilot texts from the proposal split (``pilot.jsonl``,
rank 0) and each hypothesis's n is chosen from them (`difflens.validation.sample_size`) before
the plan is fixed.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from difflens.decoding import SamplingConfig
from difflens.errors import ConfigError, DataError
from difflens.models import ModelSpec
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
from difflens.validation.plan import EXCLUDE_MODES, condition_hypothesis_id, read_plan_header
from difflens.validation.sample_size import AutoSampleSize

if TYPE_CHECKING:
    from lightning_modules.validation import HypothesisValidator

PAD_INDEX = -1

log = logging.getLogger(__name__)


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
        n_per_model: held-out texts per model per hypothesis (n = 2 × this; pairs per hypothesis
            for the paired test), fixed up front; ``auto``: chosen per hypothesis from a pilot on
            proposal-split texts to reach a target power (see ``auto_n``), recorded in plan.jsonl.
        exclude_proposal_texts: ``all``: no text shown to any proposer is used; ``own``: only
            the hypothesis's own proposal texts are excluded.
        seed: seeds the allocation, the judging order and the tie-break coins.
        batch_size: texts per judge call.
        base: the base model, for fresh samples and generative validation
            (`difflens.models.ModelSpec`: ``name_or_path``, ``adapter``, ``dtype``, ...); a
            setting left out is taken from the ``decode_meta.json`` of a decoding run that wrote
            the texts with the same ``name_or_path``, so fresh samples of a base + adapter come
            from the adapter. Null: no fresh samples of it.
        intervention: the intervention model, the same way.
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
        auto_n: how ``n_per_model: auto`` chooses n: ``n_min``, ``n_max``, target ``power``,
            ``planning_alpha``, ``pilot_per_model``, ``effect_margin``, and discovery's
            ``proposal_fraction`` and ``proposal_seed`` (pilot texts come from its proposal
            side); null: the defaults (`difflens.validation.sample_size.AutoSampleSize`).
        paired: plan same-prompt pairs (a base and an intervention text of one prompt and seed,
            both held out) for ``model.test: paired``; null: exactly when that is the test.
    """

    def __init__(
        self,
        texts: str | list[str],
        hypotheses: str,
        out_dir: str = "runs/validate",
        n_per_model: int | Literal["auto"] = 20,
        exclude_proposal_texts: str = "all",
        seed: int = 0,
        batch_size: int = 16,
        base: ModelSpec | None = None,
        intervention: ModelSpec | None = None,
        fresh_max_new_tokens: int | None = None,
        pool_sources: list[str] | None = None,
        condition_n_per_model: int | None = None,
        auto_n: AutoSampleSize | None = None,
        paired: bool | None = None,
    ):
        super().__init__()
        if n_per_model != "auto" and (isinstance(n_per_model, str) or n_per_model < 1):
            raise ConfigError(f"data.n_per_model must be >= 1 or auto, got {n_per_model!r}")
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
        self.specs = {side: None if spec is None else ModelSpec.at(spec, f"data.{side}")
                      for side, spec in (("base", base), ("intervention", intervention))}
        self.fresh_max_new_tokens = fresh_max_new_tokens
        self.pool_sources = None if pool_sources is None else set(pool_sources)
        self.condition_n_per_model = condition_n_per_model
        self.auto_n = AutoSampleSize(**auto_n) if isinstance(auto_n, dict) else auto_n or AutoSampleSize()
        self.paired = paired
        self.validator: HypothesisValidator | None = None  # set by plan_for
        self.sample_sizes: dict | None = None  # auto n: hypothesis id -> n and its pilot, as in plan.jsonl
        self._loaded: dict[str, tuple] = {}  # model name -> (model, tokenizer), for fresh samples
        self.hypotheses: list[Hypothesis] = []
        self.tasks: list[JudgementTask] = []
        self.reference_texts: dict[str, list[str]] = {}
        self.previous: dict = {}
        self.pending: list[JudgementTask] = []

    # ---- paths -------------------------------------------------------------------------------
    @property
    def plan_path(self) -> Path:
        return self.out_dir / "plan.jsonl"

    @property
    def fresh_path(self) -> Path:
        return self.out_dir / ("fresh_pairs.jsonl" if self.paired_plan else "fresh_texts.jsonl")

    @property
    def condition_path(self) -> Path:
        return self.out_dir / ("condition_pairs.jsonl" if self.paired_plan else "condition_texts.jsonl")

    @property
    def pilot_path(self) -> Path:
        return self.out_dir / "pilot.jsonl"

    @property
    def paired_plan(self) -> bool:
        """Whether the plan holds same-prompt pairs: ``paired``, or else the validator's test."""
        if self.paired is not None:
            return self.paired
        return self.validator is not None and self.validator.test_name == "paired"

    def plan_for(self, validator: HypothesisValidator) -> None:
        """Plan for ``validator``: with ``paired`` null, its test says whether the plan holds
        pairs; with ``n_per_model: auto``, its judge scores the pilot and its test and threshold
        choose each n. ``HypothesisValidator(data=...)`` calls this."""
        self.validator = validator

    @property
    def journal_dir(self) -> Path:
        return self.out_dir / "judgements"

    def model_path(self, model: str) -> str | None:
        """The ``name_or_path`` of ``base`` or ``intervention``; None when it is not given."""
        spec = self.specs[model]
        return None if spec is None else spec.name_or_path

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
        pool = self._pool(texts)
        fingerprint = plan_fingerprint(self.hypotheses, self.n_per_model, self.seed, self.exclude,
                                       self.condition_n_per_model, **self._design_settings())
        journal = JudgementJournal(self.journal_dir)
        plan_exists = self.plan_path.exists()
        barrier()  # every rank has looked before rank 0 may write the plan: all take the same branch
        if plan_exists:
            old_fingerprint, tasks = read_plan(self.plan_path)
            self.sample_sizes = read_plan_header(self.plan_path).get("sample_sizes")
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
            self.sample_sizes = None  # a stale plan's n are not this plan's
            tasks = self._build_plan(pool, rank, barrier)
            if rank == 0:
                write_plan(self.plan_path, tasks, fingerprint, self.sample_sizes)
            barrier()
        self.tasks = tasks
        self.reference_texts = self._reference_texts(pool)
        self.previous = journal.read_all()
        self.pending = [t for t in tasks if t.index not in self.previous]
        if self.previous and rank == 0:
            log.info(f"[validate] resuming {self.out_dir}: {len(tasks) - len(self.pending)} of {len(tasks)} planned "
                     f"judgements already made ({self.journal_dir}); judging the {len(self.pending)} missing")

    def _pool(self, texts: list[DecodedText]) -> list[DecodedText]:
        """The texts of the pool sources (all of them when ``pool_sources`` is null)."""
        return texts if self.pool_sources is None else [t for t in texts if t.source in self.pool_sources]

    def _reference_texts(self, pool: list[DecodedText], most: int = 20_000) -> dict[str, list[str]]:
        """Each model's untargeted ``pool`` texts and fresh samples that no proposer saw (a seeded
        sample of at most ``most``): what recovery scoring measures a claimed difference on, far
        more than the judged texts of any one plan. Texts a proposer saw would favour the very
        words it picked from them."""
        fresh = read_records(self.fresh_path, DecodedText) if self.fresh_path.exists() else []
        shown = {i for h in self.hypotheses for i in h.proposal_text_ids}
        out = {m: [t.text for t in [*pool, *fresh] if t.model == m and not t.targeted and t.text_id not in shown]
               for m in MODELS}
        return {m: random.Random(f"{self.seed}:reference:{m}").sample(v, most) if len(v) > most else v
                for m, v in out.items()}

    def _build_plan(self, texts: list[DecodedText], rank: int, barrier) -> list[JudgementTask]:
        """The judging tasks over ``texts`` (the pool sources' texts), with fresh samples where they fall short."""
        def read(path: Path) -> list[DecodedText]:
            return read_records(path, DecodedText) if path.exists() else []

        n_per_model, reserved = self.n_per_model, ()
        if n_per_model == "auto":
            n_per_model, reserved = self._choose_sample_sizes(texts, rank, barrier)

        def allocation_with(fresh: list[DecodedText], conditioned: list[DecodedText]):
            return allocate(self.hypotheses, texts, n_per_model, self.seed, self.exclude, fresh, conditioned,
                            self.condition_n_per_model, paired=self.paired_plan, reserved=reserved)

        fresh, conditioned = read(self.fresh_path), read(self.condition_path)
        allocation = allocation_with(fresh, conditioned)
        if not allocation.complete:
            if rank == 0:  # each file is rewritten whole with the earlier texts first, so a rerun resumes
                if any(allocation.shortfall.values()):
                    write_records(self.fresh_path, fresh + self._sample_fresh(allocation.shortfall, fresh))
                if allocation.pair_shortfall:
                    write_records(self.fresh_path, fresh + self._sample_fresh_pairs(allocation.pair_shortfall, fresh))
                if any(n for need in allocation.condition_shortfall.values() for n in need.values()):
                    write_records(self.condition_path, conditioned + self._sample_conditioned(
                        allocation.condition_shortfall, conditioned))
            barrier()
            allocation = allocation_with(read(self.fresh_path), read(self.condition_path))
            if not allocation.complete:
                raise RuntimeError(f"fresh sampling left a shortfall {allocation.shortfall} "
                                   f"{allocation.condition_shortfall} {allocation.pair_shortfall}")
        return allocation.tasks

    # ---- the paired design and auto n --------------------------------------------------------
    def _design_settings(self) -> dict:
        """Plan settings beyond the classic ones; absent when off, so earlier plans keep their
        fingerprints."""
        extra = {}
        if self.paired_plan:
            extra["paired"] = True
        if self.n_per_model == "auto":
            validator = self.validator
            extra["auto_n"] = asdict(self.auto_n)
            extra["planned_for"] = ([validator.test_name, validator.positive_threshold] if validator is not None
                                    else [None, None])
        return extra

    def _choose_sample_sizes(self, texts: list[DecodedText], rank: int, barrier) -> tuple[dict[str, int], set[str]]:
        """Each hypothesis's n from the pilot (judged on rank 0 into ``pilot.jsonl``, which a
        rerun reuses), and the pilot texts' ids, which validation must not judge."""
        from difflens.validation.sample_size import (
            check_planned_test,
            choose_sample_size,
            pilot_counts,
            pilot_texts,
        )

        validator = self.validator
        if validator is None:
            raise ConfigError("data.n_per_model=auto needs the HypothesisValidator (its judge and test) to run")
        test, threshold = validator.test_name, validator.positive_threshold
        check_planned_test(test)  # before any judging
        paired = test == "paired"
        pilot = pilot_texts(self.hypotheses, texts, self.auto_n, self.seed, paired=paired)
        if not all(pilot.values()):
            raise ConfigError(
                f"data.n_per_model=auto found no pilot {'pairs' if paired else 'texts'} on the proposal side; set "
                f"data.auto_n.proposal_fraction and proposal_seed to discovery's proposal.proposal_fraction and "
                f"seed{' (pairs with both texts shown to a proposer are rare)' if paired else ''}")
        if rank == 0:
            self._judge_pilot(validator.planning_judge(), pilot)
        barrier()
        scores: dict[str, dict[str, float | None]] = {}
        for row in read_records_jsonl(self.pilot_path):  # keyed by the statement: an edited hypothesis is rejudged
            scores.setdefault(row["hypothesis"], {})[row["text_id"]] = row["score"]
        self.sample_sizes = {}
        for h in self.hypotheses:
            counts = pilot_counts(h, scores.get(h.text, {}), pilot, threshold, paired=paired)
            self.sample_sizes[h.hypothesis_id] = choose_sample_size(test, counts, self.auto_n)
        return ({h: row["n_per_model"] for h, row in self.sample_sizes.items()},
                {t.text_id for side in pilot.values() for t in side})

    def _judge_pilot(self, judge, pilot: dict[str, list[DecodedText]]) -> None:
        """Judge every (hypothesis, pilot text) not yet in ``pilot.jsonl`` with a usable score,
        appending after each hypothesis, so a killed run resumes where it stopped."""
        done = {(r["hypothesis"], r["text_id"]) for r in read_records_jsonl(self.pilot_path)
                if r["score"] is not None}
        pilot_list = [t for side in pilot.values() for t in side]
        for h in self.hypotheses:
            todo = [t for t in pilot_list if (h.text, t.text_id) not in done]
            if not todo:
                continue
            scores = []
            for start in range(0, len(todo), self.batch_size):
                scores += judge.judge_batch(h.text, [t.text for t in todo[start:start + self.batch_size]])
            self.pilot_path.parent.mkdir(parents=True, exist_ok=True)
            with self.pilot_path.open("a", encoding="utf-8") as f:
                for text, score in zip(todo, scores):
                    usable = isinstance(score, (int, float)) and 0.0 <= float(score) <= 1.0
                    f.write(json.dumps({"hypothesis_id": h.hypothesis_id, "hypothesis": h.text, "text_id": text.text_id,
                                        "model": text.model, "score": float(score) if usable else None},
                                       ensure_ascii=False) + "\n")

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

    def model_spec(self, model_name: str) -> ModelSpec:
        """How to load ``base`` or ``intervention``: its spec, each setting left at its default
        taken from the decoding run that wrote the texts (``decode_meta.json``) when that run
        decoded the same ``name_or_path``."""
        spec = self.specs[model_name]
        default = ModelSpec(spec.name_or_path)
        recorded = self._recorded_settings(model_name, spec.name_or_path)
        return replace(spec, **{key: value for key, value in recorded.items()
                                if getattr(spec, key) == getattr(default, key)})

    def _recorded_settings(self, model_name: str, name_or_path: str) -> dict:
        """``adapter``, ``quantization``, ``dtype``, ``revision``, ``tokenizer`` of ``model_name``
        as the first decoding run of the texts that decoded ``name_or_path`` recorded them."""
        for text_file in self.text_files:
            meta = Path(text_file).parent / "decode_meta.json"
            try:
                models = json.loads(meta.read_text(encoding="utf-8")).get("models") or {}
            except (OSError, ValueError, AttributeError):
                continue  # fresh_sampling reports an unreadable metadata file
            if models.get(model_name) == name_or_path:
                return {key: models[f"{model_name}_{key}"]
                        for key in ("adapter", "quantization", "dtype", "revision", "tokenizer")
                        if models.get(f"{model_name}_{key}") is not None}
        return {}

    def _language_model(self, model_name: str):
        """``(model, tokenizer)`` of ``base`` or ``intervention``, loaded once for fresh and
        conditional samples alike, on the trainer's device."""
        if model_name not in self._loaded:
            device = self.trainer.strategy.root_device if self.trainer is not None else None
            self._loaded[model_name] = self.model_spec(model_name).load(device)
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
                                f"the {model_name} model; set data.{model_name}.name_or_path")
            model, tokenizer = self._language_model(model_name)
            for hypothesis_id, need in needs.items():
                start = sum(1 for t in existing if t.model == model_name
                            and condition_hypothesis_id(t) == hypothesis_id)
                new += sample_condition_texts(model, tokenizer, model_name, hypothesis_id,
                                              by_id[hypothesis_id].condition, need, self.seed, start=start,
                                              sampling=sampling, paired=self.paired_plan)
        return new

    def _sample_fresh_pairs(self, need: int, existing: list[DecodedText]) -> list[DecodedText]:
        """``need`` more same-prompt pairs from both models (`sample_fresh_pairs`)."""
        from difflens.validation.fresh import sample_fresh_pairs

        missing = [m for m in MODELS if self.model_path(m) is None]
        if missing:
            raise DataError(
                f"not enough held-out same-prompt pairs: {len(self.hypotheses)} hypotheses need {need} more pairs "
                f"than the texts file provides; set data.{missing[0]}.name_or_path so fresh pairs can be drawn, give "
                f"more texts, or lower data.n_per_model")
        start = sum(1 for t in existing if t.model == "base")
        return sample_fresh_pairs({m: self._language_model(m) for m in MODELS}, need, self.seed, start=start,
                                  sampling=self.fresh_sampling())

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
                    f"{f' (plus {pool} fresh)' if pool else ''}; set data.{model_name}.name_or_path so fresh "
                    f"samples can be drawn, give more texts, or lower data.n_per_model")
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


def read_records_jsonl(path: Path) -> list[dict]:
    """The rows of a JSONL file written line by line (none if it does not exist); a last line
    cut short by a kill is ignored."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
