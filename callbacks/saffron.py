"""`SaffronCallback`: online FDR control over the hypotheses `HypothesisValidator` scored.

At the end of the test loop, on rank 0 only (the validator has already gathered every rank's
judgements), the p-values go to SAFFRON (or ADDIS / LORD++) in proposal order; the callback
writes ``saffron_results.jsonl`` and ``discoveries.md`` and logs α_t, wealth, p_t, the
running number of discoveries and each hypothesis's accuracy, AUC and n to TensorBoard against t.
A rerun resumes the stream.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

from difflens.logs import log_scalars, tensorboard_writers
from difflens.stats import build_online_fdr
from difflens.validation.fdr_stream import OnlineFDRStream

log = logging.getLogger(__name__)


class SaffronCallback(pl.Callback):
    """Feed validation p-values to an online FDR procedure and write the results.

    Args:
        alpha: target FDR level.
        method: ``saffron`` (default), ``addis`` or ``lord++``.
        w0: initial wealth (None: the method's onlineFDR default).
        lam: candidate threshold λ (SAFFRON/ADDIS; None: the default).
        tau: ADDIS discarding threshold τ (None: the default).
        out_dir: results directory; None means the ``out_dir`` of the validator's ``data``.
    """

    def __init__(self, alpha: float = 0.05, method: str = "saffron", w0: float | None = None,
                 lam: float | None = None, tau: float | None = None, out_dir: str | None = None):
        super().__init__()
        kwargs = {k: v for k, v in {"w0": w0, "lam": lam, "tau": tau}.items() if v is not None}
        self.procedure = build_online_fdr(method, alpha=alpha, **kwargs)  # validates the arguments now
        self.out_dir = out_dir
        self.rows: list[dict] = []

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        out_dir = Path(self.out_dir or pl_module.data.out_dir)
        procedure = type(self.procedure)(**self.procedure.params())
        stream = OnlineFDRStream(out_dir, procedure)
        new_rows = stream.update(pl_module.results)
        self.rows = stream.rows
        self.procedure = stream.procedure
        for row in new_rows:
            scalars = {"saffron/alpha_t": row["alpha_t"], "saffron/wealth": row["wealth"],
                       "saffron/p_value": row["p_value"], "saffron/discoveries": row["n_rejections"],
                       "validation/auc": row["auc"], "validation/n": row["n"]}
            if row["accuracy"] is not None:
                scalars["validation/accuracy"] = row["accuracy"]
            log_scalars(trainer.loggers, scalars, step=row["t"])
        found = sum(r["rejected"] for r in self.rows)
        # TensorBoard's hparams view: the number of discoveries (Lightning logged -1 at the start)
        log_scalars(trainer.loggers, {"hp_metric": float(found)}, step=0)
        for writer in tensorboard_writers(trainer.loggers):
            writer.add_text("saffron/discoveries", (out_dir / "discoveries.md").read_text(encoding="utf-8"))
        log.info(f"[saffron] {found} of {len(self.rows)} hypotheses validated; results in {out_dir}")
