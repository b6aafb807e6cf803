"""Iterative active sampling: decode a seed round, then sample where the models differ."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from difflens.active import ActivePlanner, ActiveSamplingConfig, RoundPlan
from difflens.errors import ConfigError
from difflens.logs import log_scalars, tensorboard_writers
from difflens.models import ModelSpec
from difflens.records import DecodedText
from lightning_modules.decoding import PairedDecoder

log = logging.getLogger(__name__)


class ActiveSampler(PairedDecoder):
    """`PairedDecoder` that decides, between rounds, which prompts to decode next.

    The active-sampling loop (`cli.decoding.sample_actively`) runs one predict loop per round;
    between two, it asks this module for the next round (`plan_round`, logged by `log_round`):
    the texts so far are embedded (cached), re-clustered incrementally, the cluster pairs scored
    by divergence, boundary uncertainty, under-sampling and (``active.kl_weight``) how much more
    likely the model that wrote each text finds it than the other does, and targeted prompts are
    built from the best areas' own texts, their prompts and (with an assistant) paraphrases.
    Sampling stops when successive clusterings agree on the seed round's texts and the
    top-divergent areas stay the same, or when the budget is spent. Every round's texts so far,
    clusters, divergence and stability go to the loggers (TensorBoard ``active/*``). See
    `difflens.active` for the algorithm.

    Args:
        base: the base model (`difflens.models.ModelSpec`: ``name_or_path``, ``adapter``,
            ``dtype``, ``quantization``, ``revision``, ``tokenizer``, ``trust_remote_code``).
        intervention: the intervention model, the same fields.
        num_threads: torch CPU threads (null = leave torch's default).
        max_rows: prompts each model decodes at once (continuous batching, see `PairedDecoder`).
        active: budget, round size, clustering, scoring weights, stopping rule, prompt mix.
        assistant: ``difflens.assistants.build_assistant`` arguments for paraphrases (e.g.
            ``{backend: offline}``); null: no paraphrases.
    """

    def __init__(
        self,
        base: ModelSpec,
        intervention: ModelSpec,
        num_threads: int | None = None,
        max_rows: int = 64,
        active: ActiveSamplingConfig | None = None,
        assistant: dict | None = None,
    ):
        if isinstance(active, dict):
            active = ActiveSamplingConfig(**active)
        self.active = active or ActiveSamplingConfig()
        if assistant is not None and (not isinstance(assistant, dict) or "backend" not in assistant):
            raise ConfigError("model.assistant must be a mapping with a 'backend' key, e.g. {backend: offline}, "
                              "or null")
        super().__init__(base, intervention, num_threads, max_rows, score_texts=self.active.kl_weight > 0)
        self.assistant_spec = assistant
        self.embed = None  # a text -> vectors function; built on the first plan (tests may set one)
        self._planner: ActivePlanner | None = None

    def planner(self, run_dir: Path) -> ActivePlanner:
        if self._planner is None:
            if self.embed is None:
                from difflens.discovery.embed import TextEmbedder

                cache = self.active.embedding_cache or Path(run_dir).parent / "embedding_cache"
                # matrix, not encode: the planner only reads the vectors, so no copy of them all each round
                self.embed = TextEmbedder(self.active.embedder, cache_dir=cache).matrix
            assistant = None
            if self.assistant_spec is not None:
                from difflens.assistants import build_assistant

                assistant = build_assistant(**self.assistant_spec)
            self._planner = ActivePlanner(self.active, self.embed, assistant)
        return self._planner

    def plan_round(self, round_index: int, records: list[DecodedText], run_dir: Path) -> RoundPlan:
        """The prompts of round ``round_index`` (or a stop), planned from ``records``, the texts so far.

        Args:
            round_index: the round to plan (1 after the seed round); rounds are planned in order.
            records: every text written so far, in any order.
            run_dir: the decoding output directory (the embedding cache defaults to its sibling).
        """
        plan = self.planner(run_dir).plan(round_index, records)
        m = plan.metrics
        ari = "-" if m["ari"] is None else f"{m['ari']:.3f}"
        log.info(f"[active] round {round_index}: {m['texts_per_model']} texts per model, max |h| {m['max_abs_h']:.2f}, "
                 f"{m['n_divergent']} divergent areas, ARI {ari}, top set {'changed' if m['top_changed'] else 'same'}"
                 + (f"; stop ({plan.stop_reason})" if plan.stop_reason else f"; {len(plan.prompts)} prompts next"))
        return plan

    def predict_step(self, batch, batch_idx: int) -> list[DecodedText]:
        if not batch["jobs"]:  # padding, where a round has fewer batches than processes: no model work
            return []
        return super().predict_step(batch, batch_idx)

    def active_settings(self) -> dict:
        """The active-sampling settings, as recorded in ``active/summary.json``."""
        return asdict(self.active)


def log_round(plan: RoundPlan, loggers: list) -> None:
    """The round's texts so far, clusters, divergence and stability (``active/*``, step: the
    round) to every Lightning logger, and its areas as a table to TensorBoard."""
    m, step = plan.metrics, plan.round_index
    scalars = {f"active/{name}": m[name] for name in ("texts_per_model", "texts", "clusters", "max_abs_h",
                                                      "n_divergent")}
    if m["ari"] is not None:
        scalars["active/ari"] = m["ari"]
    if "jeffreys" in m:
        scalars["active/jeffreys_nats"] = m["jeffreys"]
    scalars["active/top_changed"] = float(m["top_changed"])
    scalars["active/stopped"] = float(plan.stop_reason is not None)
    log_scalars(loggers, scalars, step)
    rows = [f"| {a['base_cluster']} | {a['divergence']:.3f} | {a['uncertainty']:.3f} | {a['undersampling']:.3f} | "
            f"{a['likelihood']:.2f} | {a['score']:.3f} | {a['texts']} |" for a in m.get("areas", [])]
    if rows:
        table = ("| cluster | abs h | uncertainty | under-sampling | log-ratio (nats) | score | texts |\n"
                 "|---|---|---|---|---|---|---|\n")
        for writer in tensorboard_writers(loggers):
            writer.add_text("active/areas", table + "\n".join(rows), step)
