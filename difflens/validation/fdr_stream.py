"""Feed validated hypotheses to an online FDR procedure in proposal order, once each.

The procedure's state is saved after every hypothesis (``fdr_state.json``), with the ids and
p-values it has seen. A later run resumes the stream: the hypotheses already tested must come
back with the same p-values (a hypothesis is tested once), and only new ones are tested. The
results file records every α_t, p_t, candidate flag, wealth and decision, so a reader can
recompute the stream from it.

A hypothesis that validation recorded as untested (the judge gave no usable answer for some
of its texts, and the run was told to go on) is skipped: the procedure spends no wealth on it
and its t is not used. That decision is final for the stream, like a test: the hypotheses
after it were tested with the wealth it left, so it cannot come back later. Untested
hypotheses are listed in ``fdr_state.json`` and ``discoveries.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from difflens.errors import DataError
from difflens.files import atomic_path, write_json, write_text
from difflens.stats import OnlineFDR
from difflens.validation.scoring import HypothesisResult

RESULTS_FILE = "saffron_results.jsonl"
DISCOVERIES_FILE = "discoveries.md"
STATE_FILE = "fdr_state.json"


class OnlineFDRStream:
    """An online FDR procedure bound to a directory of results.

    Args:
        out_dir: where ``saffron_results.jsonl``, ``discoveries.md`` and the state live.
        procedure: a fresh procedure (used when there is no saved state).
    """

    def __init__(self, out_dir: str | Path, procedure: OnlineFDR):
        self.out_dir = Path(out_dir)
        self.procedure = procedure
        self.tested_ids: list[str] = []
        self.untested: list[dict] = []  # {"hypothesis_id", "order", "text", "n", "n_planned"}
        self.rows: list[dict] = []
        state_path = self.out_dir / STATE_FILE
        if state_path.exists():
            state = json.loads(state_path.read_text(encoding="utf-8"))
            if state["procedure"]["params"] != procedure.params() or state["procedure"]["method"] != procedure.method:
                raise DataError(
                    f"{state_path} was written by {state['procedure']['method']} with {state['procedure']['params']}, "
                    f"not {procedure.method} with {procedure.params()}: the stream cannot change its procedure "
                    f"midway; write to a new directory")
            self.procedure = OnlineFDR.from_state_dict(state["procedure"])
            self.tested_ids = list(state["hypothesis_ids"])
            self.untested = list(state.get("untested", []))
            self.rows = [json.loads(line) for line in (self.out_dir / RESULTS_FILE).read_text().splitlines()
                         if line.strip()] if (self.out_dir / RESULTS_FILE).exists() else []
            self.rows = self.rows[: len(self.tested_ids)]

    def update(self, results: Sequence[HypothesisResult]) -> list[dict]:
        """Test every result not tested yet, in order; return the rows of new decisions.

        Raises:
            DataError: a hypothesis already tested comes back in another position or with a
                different p-value.
        """
        skipped = {u["hypothesis_id"] for u in self.untested}
        results = [r for r in sorted(results, key=lambda r: r.order) if r.hypothesis_id not in skipped]
        for i, hid in enumerate(self.tested_ids):
            if i >= len(results) or results[i].hypothesis_id != hid:
                raise DataError(f"online FDR stream in {self.out_dir} tested {hid!r} as hypothesis {i + 1}, but the "
                                f"results now have {results[i].hypothesis_id if i < len(results) else 'nothing'!r} "
                                f"there; hypotheses must keep their proposal order")
            if results[i].untested or abs(results[i].p_value - self.procedure.decisions[i].p_value) > 1e-12:
                raise DataError(f"hypothesis {hid!r} was tested with p = {self.procedure.decisions[i].p_value:.6g} "
                                f"and now has p = {results[i].p_value}; each hypothesis is tested once")
        new_rows = []
        for result in results[len(self.tested_ids):]:
            if result.untested:
                self.untested.append({"hypothesis_id": result.hypothesis_id, "order": result.order,
                                      "text": result.text, "n": result.n, "n_planned": result.n_planned})
                self._save()
                continue
            decision = self.procedure.test(result.p_value)
            self.tested_ids.append(result.hypothesis_id)
            row = {"t": decision.index, "method": self.procedure.method, **self.procedure.params(),
                   **result.to_dict(), **decision.to_dict()}
            self.rows.append(row)
            new_rows.append(row)
            self._save()
        if not new_rows:
            self._save()
        return new_rows

    def _save(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.out_dir / RESULTS_FILE) as tmp:
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows), encoding="utf-8")
        write_text(self.out_dir / DISCOVERIES_FILE, discoveries_markdown(self.rows, self.procedure, self.untested))
        write_json(self.out_dir / STATE_FILE, {"procedure": self.procedure.state_dict(),
                                                "hypothesis_ids": self.tested_ids, "untested": self.untested})


def _fmt(value, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def claim(row: dict) -> str:
    """A results row's statement, with the prompts it is limited to when it is conditional."""
    condition = row.get("condition") or []
    if not condition:
        return row["text"]
    return (f"{row['text']} *(conditional: on continuations of {len(condition)} prompts such as "
            f"\"{condition[0]}\")*")


def discoveries_markdown(rows: Sequence[dict], procedure: OnlineFDR, untested: Sequence[dict] = ()) -> str:
    """A readable report: the discoveries, then every hypothesis with its decision, then the
    hypotheses left untested."""
    params = ", ".join(f"{k} = {v:g}" for k, v in procedure.params().items())
    found = [r for r in rows if r["rejected"]]
    lines = [f"# Discoveries ({procedure.method}, {params})", "",
             f"{len(found)} of {len(rows)} hypotheses validated with online FDR control at level "
             f"{procedure.alpha:g}, tested in proposal order.", ""]
    if found:
        lines += ["| t | hypothesis | accuracy | AUC | n | p | α_t |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['t']} | {claim(r)} | {_fmt(r['accuracy'], '.2f')} | {r['auc']:.2f} | {r['n']} | "
                  f"{r['p_value']:.3g} | {r['alpha_t']:.3g} |" for r in found]
    else:
        lines.append("No hypothesis was validated.")
    lines += ["", "## Every hypothesis", "",
              "| t | id | hypothesis | n (planned) | accuracy | p | α_t | candidate | rejected | wealth |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['t']} | {r['hypothesis_id']} | {claim(r)} | {r['n']} ({r['n_planned']}) | "
              f"{_fmt(r['accuracy'], '.2f')} | {r['p_value']:.3g} | {r['alpha_t']:.3g} | "
              f"{'–' if r['candidate'] is None else ('yes' if r['candidate'] else 'no')} | "
              f"{'**yes**' if r['rejected'] else 'no'} | {r['wealth']:.4f} |" for r in rows]
    if untested:
        lines += ["", "## Untested (the judge gave no usable answer for some texts; no wealth spent)", "",
                  "| id | hypothesis | judgements made (planned) |", "|---|---|---|"]
        lines += [f"| {u['hypothesis_id']} | {u['text']} | {u['n']} ({u['n_planned']}) |" for u in untested]
    return "\n".join(lines) + "\n"
