"""`HypothesisValidator`: judge held-out texts against each hypothesis as a test loop.

``difflens test --config configs/quickstart/validate.yaml``. Each test step asks the judge
(an `Assistant`) about a batch of planned texts and appends the answers to this rank's
journal before returning. At the end of the epoch the judgements of every rank are gathered
(``all_gather_object``: ranks hold different numbers), merged with those of earlier runs,
deduplicated by plan index, and scored per hypothesis (`difflens.validation.scoring`).
Generative validation, when on, runs on rank 0 after judging. `SaffronCallback` reads
``self.results`` in ``on_test_end``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytorch_lightning as pl
import torch

from datamodules.validation import HypothesisValidationDataModule
from difflens.errors import ConfigError, IncompleteWorkError
from difflens.files import atomic_path
from difflens.validation import JudgementJournal, make_judgement, score_hypotheses
from difflens.validation.scoring import check_test

log = logging.getLogger(__name__)


def build_judge(spec: Any):
    """An `Assistant` from a spec: an instance is used as is; a dict goes to ``build_assistant``."""
    from difflens.assistants import Assistant

    if isinstance(spec, Assistant):
        return spec
    if not isinstance(spec, dict):
        raise ConfigError(f"model.assistant must be a mapping such as {{backend: offline}}, got {spec!r}")
    if "class_path" in spec:  # a judge class of the user's own: {class_path: pkg.mod.Class, init_args: {...}}
        from difflens.config import build_class_path

        return build_class_path(Assistant, spec, where="model.assistant")
    try:
        from difflens.assistants import build_assistant
    except ImportError:
        raise ConfigError("model.assistant: this installation has no difflens.assistants.build_assistant; "
                          "install the assistants backends or pass an Assistant instance") from None
    return build_assistant(**spec)


JUDGE_FAILURE_MODES = ("stop", "untested")


class HypothesisValidator(pl.LightningModule):
    """Validate hypotheses on held-out texts with a judge; emit accuracy, AUC, p-value and n.

    Needs ``data``, the `HypothesisValidationDataModule` whose plan it judges; that data module
    plans for this validator (its test, threshold and judge).

    Args:
        assistant: the judge: ``{backend: offline, ...}`` (passed to
            ``difflens.assistants.build_assistant``), ``{class_path: pkg.mod.MyJudge,
            init_args: {...}}`` for an `Assistant` subclass of your own, or an instance.
        test: the p-value given to online FDR control, chosen before validation:
            ``binomial`` (exact test of judge accuracy against 1/2, the default),
            ``mann_whitney`` (of the judge's scores), ``fisher`` (exact test that texts of the
            hypothesis's model are flagged above ``positive_threshold`` more often: the most
            powerful when the property is rare and the judge sharp), ``paired`` (exact one-sided
            McNemar test on same-prompt pairs, a base and an intervention text continuing one
            prompt with one seed: of the pairs flagged on one side only, are more on the
            hypothesis's side; the data module then plans pairs), or ``generative_sign``.
        positive_threshold: score above which a judgement flags the property (``fisher``,
            ``paired``, and the pilot of ``data.n_per_model: auto``).
        generative: also run generative validation (assistant-written texts scored by both
            models' likelihood, exact paired sign test against held-out controls).
        n_generated: texts the assistant writes per hypothesis for generative validation.
        seed: seeds the tie-break coins (the data module's seed is used when None).
        on_judge_failure: what to do when the judge gives no usable answer for a text (the
            endpoint is down, the reply cannot be read), which is never a judgement: ``stop``
            (the default) ends the run with a one-line error, writes no results, and a rerun
            asks exactly the missing judgements; ``untested`` judges everything it can, then
            records each hypothesis with a missing judgement as untested (no p-value, no
            SAFFRON wealth spent: final for this ``out_dir``).
        data: the plan to judge, with its hypotheses, journal and output directory (the CLI
            passes the data module given under ``data:``).
    """

    def __init__(self, assistant: dict | None = None, test: str = "binomial", generative: bool = False,
                 n_generated: int = 20, seed: int | None = None, positive_threshold: float = 0.5,
                 on_judge_failure: str = "stop", data: HypothesisValidationDataModule | None = None):
        super().__init__()
        self.test_name = check_test(test)
        if on_judge_failure not in JUDGE_FAILURE_MODES:
            raise ConfigError(f"model.on_judge_failure must be one of {JUDGE_FAILURE_MODES}, got {on_judge_failure!r}")
        self.on_judge_failure = on_judge_failure
        if not 0.0 <= positive_threshold < 1.0:
            raise ConfigError(f"model.positive_threshold must be in [0, 1), got {positive_threshold}")
        self.positive_threshold = positive_threshold
        if test == "generative_sign" and not generative:
            raise ConfigError("model.test=generative_sign needs model.generative=true")
        if n_generated < 1:
            raise ConfigError(f"model.n_generated must be >= 1, got {n_generated}")
        self.assistant_spec = assistant if assistant is not None else {"backend": "offline"}
        self.generative = generative
        self.n_generated = n_generated
        self.seed = seed
        self.judge = None
        self.journal: JudgementJournal | None = None
        self.results: list = []
        self._judged: list = []
        self._failed = 0
        self._tasks_by_index: dict = {}
        self.save_hyperparameters(ignore=["assistant", "data"])
        self.data = data
        if data is not None:
            data.plan_for(self)

    # ---- set-up ------------------------------------------------------------------------------
    def planning_judge(self):
        """The judge, built on first use: the data module asks it to score pilot texts when
        ``n_per_model`` is ``auto`` (before this module's own ``setup``)."""
        if self.judge is None:
            self.judge = build_judge(self.assistant_spec)
        return self.judge

    def setup(self, stage: str | None = None) -> None:
        self.planning_judge()
        data = self.data
        if data is None:
            raise ConfigError("HypothesisValidator needs data: HypothesisValidationDataModule")
        if data.paired_plan != (self.test_name == "paired"):
            raise ConfigError("model.test=paired and data.paired go together: the paired test needs a plan of "
                              "same-prompt pairs, and a plan of pairs is only scored by it; leave data.paired "
                              "unset to follow model.test")
        if self.seed is None:
            self.seed = data.seed
        self.journal = JudgementJournal(data.journal_dir, rank=self.trainer.global_rank)
        self._tasks_by_index = {t.index: t for t in data.pending}
        self._judged = []
        self._failed = 0

    # ---- test loop ---------------------------------------------------------------------------
    def test_step(self, batch: list[dict], batch_idx: int) -> None:
        real = [item for item in batch if item["index"] >= 0]
        groups: dict[str, list[dict]] = {}
        for item in real:
            groups.setdefault(item["hypothesis_id"], []).append(item)
        by_index = self._tasks_by_index
        for hypothesis_id, items in groups.items():
            scores = self.judge.judge_batch(items[0]["hypothesis"], [it["text"] for it in items])
            judgements = [make_judgement(by_index[it["index"]], s, self.seed) for it, s in zip(items, scores)]
            usable = [j for j in judgements if j.usable]
            self.journal.append(usable)  # on disk after every judge call: a kill loses no judgement made
            self._judged.extend(usable)
            failed = len(judgements) - len(usable)
            self._failed += failed
            if failed and self.on_judge_failure == "stop":
                raise IncompleteWorkError(self._failure_message(hypothesis_id, failed, len(judgements)))

    def _failure_message(self, hypothesis_id: str, failed: int, asked: int) -> str:
        from difflens.assistants.chat import ChatAssistant

        why = ""
        if isinstance(self.judge, ChatAssistant):  # the chat backends count what failed and why
            stats = self.judge.stats
            why = f" ({stats.failed} requests without a reply after retries, {stats.unparsed} replies unreadable)"
        data = self.data
        made = len(data.previous) + len(self._judged)
        return (f"the judge ({self.judge.backend}) gave no usable answer "
                f"for {failed} of {asked} texts of hypothesis {hypothesis_id}{why}; {made} of {len(data.tasks)} "
                f"judgements are saved in {data.journal_dir} and no results were written: fix the judge and rerun to "
                f"ask exactly the missing ones (unreadable replies are cached: `difflens assistant cache FILE "
                f"--drop-unparsed` lets them be asked again), or set model.init_args.on_judge_failure=untested")

    def _gather(self, objects: list) -> list:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, objects)
            return [o for part in gathered for o in part]
        return list(objects)

    def on_test_epoch_end(self) -> None:
        data = self.data
        judgements = list(data.previous.values()) + self._gather(self._judged)
        self.results = score_hypotheses(data.hypotheses, data.tasks, judgements, test=self.test_name,
                                        positive_threshold=self.positive_threshold,
                                        missing="untested" if self.on_judge_failure == "untested" else "error")
        untested = [r.hypothesis_id for r in self.results if r.untested]
        if untested and self.trainer.is_global_zero:
            log.info(f"[validate] {len(untested)} hypotheses untested (the judge gave no usable answer for "
                     f"{self._failed} texts): {', '.join(untested)}; no SAFFRON wealth spent on them")
        if self.generative and self.trainer.is_global_zero:
            self._generative_validation(data)
        n = sum(r.n for r in self.results)
        self.log("test/judgements", float(n), rank_zero_only=True)
        self.log("test/unusable", float(sum(r.n_unusable for r in self.results)), rank_zero_only=True)

    # ---- generative validation ---------------------------------------------------------------
    def _generative_validation(self, data) -> None:
        from difflens.stats import sign_test_p_value
        from difflens.validation.likelihood import paired_differences, sequence_log_likelihood

        if not (data.model_path("base") and data.model_path("intervention")):
            raise ConfigError("generative validation needs data.base and data.intervention")
        path = data.out_dir / "generative.jsonl"
        done = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                done[row["hypothesis_id"]] = row
        models = {m: data.model_spec(m).load() for m in ("base", "intervention")}
        controls: dict[str, list[str]] = {}
        for task in data.tasks:
            controls.setdefault(task.hypothesis_id, []).append(task.text)
        for result in self.results:
            row = done.get(result.hypothesis_id)
            if row is None:
                examples = [e for e in self.judge.write_examples(result.text, self.n_generated) if e.strip()]
                pairs = list(zip(examples, controls.get(result.hypothesis_id, [])))
                other = "base" if result.direction == "intervention" else "intervention"
                ll = {m: (sequence_log_likelihood(*models[m], [x for x, _ in pairs]),
                          sequence_log_likelihood(*models[m], [c for _, c in pairs])) for m in models}
                diffs = paired_differences(ll[result.direction][0], ll[other][0], ll[result.direction][1],
                                           ll[other][1])
                p, positive, nonzero = sign_test_p_value(diffs)
                row = {"hypothesis_id": result.hypothesis_id, "examples": [x for x, _ in pairs],
                       "differences": diffs, "p_value": p, "positive": positive, "nonzero": nonzero}
                done[result.hypothesis_id] = row
                with atomic_path(path) as tmp:  # one row per hypothesis, rewritten whole
                    tmp.write_text("".join(json.dumps(r) + "\n" for r in done.values()), encoding="utf-8")
            result.p_generative, result.n_generative = row["p_value"], row["nonzero"]
