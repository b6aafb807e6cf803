"""`GroundTruthRecoveryCallback`: score how many planted ground truths validation recovered.

Runs on rank 0 in ``on_test_end``, after `SaffronCallback` (list it after that callback): it
reads ``saffron_results.jsonl``, matches the validated hypotheses to the ground truths
(`difflens.discovery.recovery`), and writes ``recovery.json`` and ``recovery.md`` beside the
SAFFRON results; recall and precision go to TensorBoard. A validated hypothesis that matches
no ground truth still counts as correct for precision when the change it claims is real in the
models' untargeted texts that no proposer saw (the ``reference_texts`` of the validator's
``data``: the pool's and the fresh samples', not only those the plan judged): literally for a
claim about words or phrases, in toy-world annotations for a topic or style.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytorch_lightning as pl

from difflens.discovery.recovery import (
    assistant_similarity,
    check_matcher,
    default_embedder,
    embedding_similarity,
    load_ground_truths,
    recovery_markdown,
    recovery_report,
    toyworld_real_difference,
    toyworld_similarity,
)
from difflens.files import write_json, write_text
from difflens.logs import log_scalars
from difflens.validation.fdr_stream import RESULTS_FILE

log = logging.getLogger(__name__)


class GroundTruthRecoveryCallback(pl.Callback):
    """Match validated hypotheses to ground truths and report recall and precision.

    Args:
        ground_truths: ground-truth file (the finetuning stage's ``ground_truths.json``, or a
            JSON/JSONL/YAML list of ``{id, description}``).
        matcher: ``embedding`` (MiniLM cosine), ``assistant`` (the validator's judge as
            grader) or ``toyworld`` (named topics/styles and their direction against the planted
            mixture).
        threshold: a pair matches when its similarity is >= this.
        out_dir: where the SAFFRON results are and the report goes; None: the ``out_dir`` of
            the validator's ``data``.
    """

    def __init__(self, ground_truths: str, matcher: str = "embedding", threshold: float = 0.5,
                 out_dir: str | None = None):
        super().__init__()
        check_matcher(matcher, threshold)
        self.ground_truths_file = ground_truths
        self.matcher = matcher
        self.threshold = threshold
        self.out_dir = out_dir
        self.report = None

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        data = pl_module.data
        out_dir = Path(self.out_dir or data.out_dir)
        truths = load_ground_truths(self.ground_truths_file)
        rows = [json.loads(x) for x in (out_dir / RESULTS_FILE).read_text(encoding="utf-8").splitlines() if x.strip()]
        validated = [r for r in rows if r["rejected"]]
        texts = [r["text"] for r in validated]
        if self.matcher == "embedding":
            similarity = embedding_similarity([g.description for g in truths], texts, default_embedder())
        elif self.matcher == "assistant":
            similarity = assistant_similarity([g.description for g in truths], texts, pl_module.judge)
        else:
            similarity = toyworld_similarity(truths, texts, [r["direction"] for r in validated])
        real = {r["hypothesis_id"]: toyworld_real_difference(r["text"], r["direction"], data.reference_texts)
                for r in validated}
        self.report = recovery_report(truths, validated, similarity, self.threshold, real, self.matcher)
        write_json(out_dir / "recovery.json", self.report.to_dict())
        write_text(out_dir / "recovery.md", recovery_markdown(self.report, truths))
        scalars = {"recovery/recall": self.report.recall, "recovery/recall_one_to_one": self.report.recall_one_to_one}
        if self.report.precision is not None:
            scalars["recovery/precision"] = self.report.precision
        log_scalars(trainer.loggers, scalars, step=0)
        precision = self.report.precision if self.report.precision is None else round(self.report.precision, 2)
        log.info(f"[recovery] recall {self.report.recall:.2f}, one-to-one {self.report.recall_one_to_one:.2f}, "
                 f"precision {precision}")
