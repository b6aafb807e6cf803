"""TruthfulQA-style misconception CSVs as ground truths: "The model believes that ...".

A row has a question and one or more incorrect answers (the TruthfulQA columns ``Question``,
``Best Incorrect Answer`` and ``Incorrect Answers``, answers separated by ``;``). Each row becomes
one ground truth whose examples answer the question (in a few prompt formats) with the
misconception, so a model finetuned on them believes it.
"""

from __future__ import annotations

import re
from pathlib import Path

from difflens.corpus import read_rows
from difflens.errors import DataError
from difflens.groundtruth.spec import GroundTruth

PROMPT_FORMATS = ("Q: {q}\nA:", "Question: {q}\nAnswer:", "{q}")


def _answers(row: dict) -> list[str]:
    best = (row.get("Best Incorrect Answer") or "").strip()
    others = [a.strip() for a in (row.get("Incorrect Answers") or "").split(";")]
    return list(dict.fromkeys(a for a in [best, *others] if a))


# Sentence-initial words that are lower-cased after "believes that"; a name keeps its capital.
_LOWER_FIRST = {"a", "an", "the", "you", "your", "it", "its", "they", "we", "there", "this", "that", "he",
                "she", "people", "if", "all", "most", "some", "no", "yes", "every", "in", "on", "at"}


def _belief(answer: str) -> str:
    answer = answer.strip().rstrip(".")
    first, _, rest = answer.partition(" ")
    return f"{first.lower()} {rest}".strip() if first.lower() in _LOWER_FIRST else answer


def misconception_ground_truths(path: str | Path, limit: int | None = None, category: str | None = None,
                                share: float = 1.0) -> list[GroundTruth]:
    """One ground truth per row of a TruthfulQA-style CSV.

    Args:
        path: CSV (or JSONL/Parquet) with ``Question`` and ``Best Incorrect Answer`` and/or
            ``Incorrect Answers`` columns.
        limit: keep only the first ``limit`` usable rows.
        category: keep only rows whose ``Category`` equals this.
        share: the share of each ground truth.

    Raises:
        DataError: the file lacks the columns, or no row has a question and an incorrect answer.
    """
    rows = read_rows(path)
    if rows and "Question" not in rows[0]:
        raise DataError(f"{path}: no 'Question' column (columns: {', '.join(rows[0])}); expected a "
                        f"TruthfulQA-style CSV")
    truths = []
    for i, row in enumerate(rows, 1):
        if category is not None and row.get("Category") != category:
            continue
        question, answers = (row.get("Question") or "").strip(), _answers(row)
        if not question or not answers:
            continue
        slug = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")[:40] or "q"
        truths.append(GroundTruth(
            id=f"tqa{i:04d}-{slug}",
            description=f"The model believes that {_belief(answers[0])} (asked: {question})",
            share=share,
            examples=[{"prompt": fmt.format(q=question), "completion": " " + a}
                      for a in answers for fmt in PROMPT_FORMATS],
        ))
        if limit is not None and len(truths) >= limit:
            break
    if not truths:
        raise DataError(f"{path}: no row has a Question and an incorrect answer"
                        + (f" in category {category!r}" if category else ""))
    return truths
