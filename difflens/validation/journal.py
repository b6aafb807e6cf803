"""Judgements recorded as they are made, so a killed run never judges a text twice.

Each process appends to its own JSONL file (``rank0.jsonl``, ``rank1.jsonl``, ...) and
flushes after every batch. A rerun reads every file in the directory, whatever the previous
world size, and skips the tasks already judged. A line cut short by a kill is ignored (its
judgement is simply made again, once). A judgement without a score (the judge gave no usable
answer) is not a judgement: it is never counted as done, so a rerun asks again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Judgement:
    """The judge's answer for one planned task.

    Attributes:
        index: the task's plan index.
        hypothesis_id: the hypothesis judged.
        text_id: the text judged.
        label: 1 if the text came from the hypothesis's direction model.
        score: the judge's score in [0, 1] (0.5 = no evidence), or None if unusable.
        tie_break: the predicted label used when ``score == 0.5``: a seeded fair coin, so a
            "no evidence" answer is a guess that is right half the time under the null.
    """

    index: int
    hypothesis_id: str
    text_id: str
    label: int
    score: float | None
    tie_break: int

    @property
    def usable(self) -> bool:
        return self.score is not None

    @property
    def prediction(self) -> int | None:
        """The label the judgement predicts: 1 above 0.5, 0 below, the coin at 0.5."""
        if self.score is None:
            return None
        if self.score > 0.5:
            return 1
        if self.score < 0.5:
            return 0
        return self.tie_break

    @property
    def correct(self) -> bool | None:
        return None if self.prediction is None else self.prediction == self.label


class JudgementJournal:
    """Append-only per-rank journal of judgements in ``directory``.

    Args:
        directory: where ``rank{r}.jsonl`` files live.
        rank: this process's global rank.
    """

    def __init__(self, directory: str | Path, rank: int = 0):
        self.directory = Path(directory)
        self.rank = rank
        self._repaired = False

    @property
    def path(self) -> Path:
        return self.directory / f"rank{self.rank}.jsonl"

    def repair(self) -> None:
        """Drop a last line cut short by a kill, so the next append starts on a fresh line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, judgements: Iterable[Judgement]) -> None:
        """Append and flush to disk before returning."""
        lines = "".join(json.dumps(asdict(j)) + "\n" for j in judgements)
        if not lines:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self._repaired:
            self.repair()
            self._repaired = True
        with self.path.open("a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())

    def read_all(self) -> dict[int, Judgement]:
        """Every complete, usable judgement from every rank's file, by task index (first one wins)."""
        out: dict[int, Judgement] = {}
        if not self.directory.exists():
            return out
        for path in sorted(self.directory.glob("rank*.jsonl")):
            with path.open(encoding="utf-8") as f:
                for line in f:
                    if not line.endswith("\n"):
                        continue  # cut short by a kill
                    try:
                        judgement = Judgement(**json.loads(line))
                    except (json.JSONDecodeError, TypeError):
                        continue
                    if not judgement.usable:
                        continue
                    out.setdefault(judgement.index, judgement)
        return out
