"""Text corpora: the toy world or local files, as plain lists of strings.

Every stage that reads text (language-model training, activation harvesting, finetuning data)
goes through here, so file formats and their error messages are handled in one place.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from difflens.errors import DataError
from difflens.files import read_utf8, utf8_lines
from difflens.toyworld import Mixture, ToyWorld

TEXT_SUFFIXES = (".jsonl", ".json", ".txt", ".csv", ".parquet")


@dataclass
class ToyWorldCorpus:
    """A toy-world corpus: ``n_documents`` documents drawn from a mixture.

    Attributes:
        n_documents: how many documents.
        seed: world seed; the same seed gives the same documents.
        mixture: ``{topics: {name: weight}, styles: {name: probability}}``; empty = uniform.
        start: index of the first document, so disjoint corpora share a seed without overlap.
    """

    n_documents: int = 20000
    seed: int = 0
    mixture: dict = field(default_factory=dict)
    start: int = 0

    def __post_init__(self) -> None:
        if self.n_documents < 1:
            raise DataError(f"toyworld.n_documents must be >= 1, got {self.n_documents}")
        Mixture.from_spec(self.mixture)  # fail at config time on unknown names

    def texts(self, start: int | None = None, stop: int | None = None) -> list[str]:
        """Documents ``[start, stop)`` of this corpus (all by default)."""
        lo = 0 if start is None else start
        hi = self.n_documents if stop is None else min(stop, self.n_documents)
        world = ToyWorld(self.seed)
        mixture = Mixture.from_spec(self.mixture)
        return [world.document(self.start + i, mixture).text for i in range(lo, hi)]


def check_text_file(path: str | Path) -> Path:
    """Raise a one-line `DataError` if ``path`` is missing or of an unknown format."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data file not found: {str(p)!r}")
    if not p.is_file():
        raise DataError(f"data path is not a file: {str(p)!r}")
    if p.suffix not in TEXT_SUFFIXES:
        raise DataError(f"cannot read {str(p)!r}: use one of {', '.join(TEXT_SUFFIXES)}")
    return p


def read_rows(path: str | Path) -> list[dict]:
    """Read a JSONL, JSON list, CSV or Parquet file into a list of row dicts.

    JSONL is parsed line by line so that a malformed line is reported with its number.
    """
    p = check_text_file(path)
    if p.suffix == ".jsonl":
        rows = []
        for lineno, line in utf8_lines(p):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{p}:{lineno}: malformed JSON ({err.msg}); fix or delete that line") from None
            if not isinstance(row, dict):
                raise DataError(f"{p}:{lineno}: expected a JSON object per line, got {type(row).__name__}")
            rows.append(row)
        return rows
    if p.suffix == ".json":
        try:
            data = json.loads(read_utf8(p))
        except json.JSONDecodeError as err:
            raise DataError(f"{p}:{err.lineno}: malformed JSON ({err.msg})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{p}: expected a JSON list of objects")
        return data
    if p.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(read_utf8(p), newline="")))
    if p.suffix == ".parquet":
        import datasets

        return datasets.Dataset.from_parquet(str(p)).to_list()
    return [{"text": line.rstrip("\n")} for _, line in utf8_lines(p) if line.strip()]


def read_texts(path: str | Path, text_field: str = "text") -> list[str]:
    """Read the ``text_field`` column of a file (a ``.txt`` file is one text per line).

    Raises:
        DataError: the file is missing, malformed, lacks the field, or holds no text.
    """
    rows = read_rows(path)
    texts = []
    for i, row in enumerate(rows, 1):
        if text_field not in row:
            raise DataError(f"{path}: row {i} has no {text_field!r} field (fields: {', '.join(map(str, row))}); "
                            f"set text_field to the column that holds the text")
        value = row[text_field]
        if isinstance(value, str) and value.strip():
            texts.append(value)
    if not texts:
        raise DataError(f"{path}: no non-empty texts in field {text_field!r}")
    return texts
