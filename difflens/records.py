"""Records passed between stages as JSONL: decoded texts and hypotheses.

Decoding writes `DecodedText` rows, discovery writes `Hypothesis` rows, validation reads both.
Keeping the schema in one place lets each stage be rerun alone on the files of the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TypeVar

from difflens.errors import DataError
from difflens.files import atomic_path, utf8_lines

MODELS = ("base", "intervention")
# The ``source`` of a text that answers a targeted prompt starts with this (active sampling's
# ``active:prefix``, ``active:opening`` ...): such a prompt was aimed at an area chosen for it.
TARGETED_SOURCE_PREFIX = "active:"


def _check_fields(record, what: str, types: dict[str, type | tuple]) -> None:
    """A field of the wrong JSON type is an error naming it (JSON has no int/float split for
    whole numbers, so an int passes where a float is expected; a bool is not a number)."""
    for name, expected in types.items():
        value = getattr(record, name)
        kinds = expected if isinstance(expected, tuple) else (expected,)
        if value is None and type(None) in kinds:
            continue
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok and float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if ok and isinstance(value, list) and name in _LIST_ITEMS:
            ok = all(isinstance(v, _LIST_ITEMS[name]) and not isinstance(v, bool) for v in value)
        if ok and isinstance(value, float) and not math.isfinite(value):
            raise DataError(f"{what}: field {name!r} must be a finite number, got {value}")
        if not ok:
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise DataError(f"{what}: field {name!r} must be {names}, got {value!r}")


_LIST_ITEMS = {"cluster_ids": int, "proposal_text_ids": str, "condition": str}


@dataclass(slots=True)  # slots: discovery holds millions of these (a third of the memory of a dict each)
class DecodedText:
    """One sampled text.

    Attributes:
        text_id: unique id, ``f"{model}/{prompt_id}/{sample}"``.
        prompt_id: id of the prompt; the same prompt id and seed are used for both models.
        model: ``"base"`` or ``"intervention"``.
        seed: per-prompt sampling seed.
        prompt: the prompt text (``""`` for free generation from BOS).
        text: the generated continuation, without the prompt.
        n_tokens: generated tokens.
        source: the prompt source that produced the prompt (``toyworld``, ``prefixes``, a file).
        log_ratio: ``log p_intervention(text | prompt) - log p_base(text | prompt)`` in nats,
            summed over the text's tokens (`difflens.likelihood`); None when the decoder did not
            score the texts (only active sampling with ``kl_weight > 0`` does).
        pair_id: what pairs this text with the other model's text when the two were not sampled
            with one seed: `difflens validate-null`'s A/A pairs, two draws of one model on one
            prompt. None: the prompt id and seed pair texts (`difflens.validation.plan.pair_key`).
    """

    text_id: str
    prompt_id: str
    model: str
    seed: int
    prompt: str
    text: str
    n_tokens: int
    source: str = ""
    log_ratio: float | None = None
    pair_id: str | None = None

    def __post_init__(self) -> None:
        _check_fields(self, f"text {self.text_id!r}", {
            "text_id": str, "prompt_id": str, "model": str, "seed": int, "prompt": str, "text": str,
            "n_tokens": int, "source": str, "log_ratio": (float, type(None)), "pair_id": (str, type(None))})
        if self.model not in MODELS:
            raise DataError(f"text {self.text_id!r}: model must be one of {MODELS}, got {self.model!r}")

    @property
    def targeted(self) -> bool:
        """Whether the text answers a prompt aimed at a chosen area (active sampling's targeted
        rounds). Both models answer the same targeted prompts, so such texts compare the models
        inside an area, but they over-sample it: they do not stand for a model's texts as a whole."""
        return self.source.startswith(TARGETED_SOURCE_PREFIX)


@dataclass
class Hypothesis:
    """A candidate difference between the models, fixed before validation starts.

    Attributes:
        hypothesis_id: unique id (``h0001``); ``order`` gives the proposal order SAFFRON uses.
        order: 0-based position in the order of proposal.
        text: a self-contained statement of a property a single text can have, attributed to
            ``direction`` ("Texts from the intervention model mention the ocean more often").
        direction: the model whose texts show the property more: ``"intervention"`` or ``"base"``.
        cluster_ids: the cluster pair(s) it was proposed from.
        proposal_text_ids: texts shown to the proposer; never used to validate this hypothesis.
        score: how different the source clusters were (for ranking; not a p-value).
        condition: prompts the claim is conditional on (empty: unconditional). A conditional
            hypothesis is validated on fresh samples of both models continuing these prompts,
            and claims the difference only there.
    """

    hypothesis_id: str
    order: int
    text: str
    direction: str = "intervention"
    cluster_ids: list[int] = field(default_factory=list)
    proposal_text_ids: list[str] = field(default_factory=list)
    score: float = 0.0
    condition: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_fields(self, f"hypothesis {self.hypothesis_id!r}", {
            "hypothesis_id": str, "order": int, "text": str, "direction": str, "cluster_ids": list,
            "proposal_text_ids": list, "score": float, "condition": list})
        if self.direction not in MODELS:
            raise DataError(f"hypothesis {self.hypothesis_id!r}: direction must be one of {MODELS}")


R = TypeVar("R", DecodedText, Hypothesis)


def write_records(path: str | Path, records: Iterable[DecodedText | Hypothesis]) -> None:
    """Write records as JSONL atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")


def records_file(path: str | Path, cls: type) -> Path:
    """``path`` as a `Path` once it is known to be a file; a `DataError` naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"records file not found: {str(path)!r}")
    if not path.is_file():
        raise DataError(f"{str(path)!r} is a directory, not a JSONL file of {cls.__name__} records; give the file "
                        f"inside it (e.g. {path / 'texts.jsonl'})")
    return path


def iter_records(path: str | Path, cls: type[R]) -> Iterator[R]:
    """Read JSONL records of type ``cls``; a malformed line is an error naming file and line."""
    path = records_file(path, cls)
    names = {f.name for f in fields(cls)}
    for lineno, line in utf8_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError(f"expected a JSON object, got {type(row).__name__}")
            unknown = set(row) - names
            if unknown:
                raise DataError(f"{path}:{lineno}: unknown fields {sorted(unknown)} for {cls.__name__}")
            yield cls(**row)
        except (json.JSONDecodeError, TypeError) as err:
            raise DataError(f"{path}:{lineno}: not a valid {cls.__name__} record ({err})") from None
        except DataError as err:
            if str(err).startswith(f"{path}:"):
                raise
            raise DataError(f"{path}:{lineno}: {err}") from None


def read_records(path: str | Path, cls: type[R]) -> list[R]:
    return list(iter_records(path, cls))


class TextColumns(Sequence):
    """One model's `DecodedText` records held as columns: a sequence that builds each record
    when indexed. Millions of texts then cost their strings and a few numbers each, not an object
    per field; the strings are shared with the records built, so a list of them costs little.

    Args:
        model: the model every text comes from.
    """

    def __init__(self, model: str):
        self.model = model
        self.text_id: list[str] = []
        self.prompt_id: list[str] = []
        self.seed: list[int] = []
        self.prompt: list[str] = []  # interned: most texts share a few prompts, or none
        self.text: list[str] = []
        self.n_tokens: list[int] = []
        self.source: list[str] = []  # interned
        self.log_ratio: list[float | None] = []
        self.pair_id: list[str | None] = []
        self._interned: dict[str, str] = {}

    def append(self, row: dict) -> None:
        intern = self._interned.setdefault
        self.text_id.append(row["text_id"])
        self.prompt_id.append(row["prompt_id"])
        self.seed.append(row["seed"])
        prompt = row["prompt"]
        self.prompt.append(intern(prompt, prompt))
        self.text.append(row["text"])
        self.n_tokens.append(row["n_tokens"])
        source = row.get("source", "")
        self.source.append(intern(source, source))
        self.log_ratio.append(row.get("log_ratio"))
        self.pair_id.append(row.get("pair_id"))

    def __len__(self) -> int:
        return len(self.text)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return DecodedText(self.text_id[i], self.prompt_id[i], self.model, self.seed[i], self.prompt[i],
                           self.text[i], self.n_tokens[i], self.source[i], self.log_ratio[i], self.pair_id[i])

    def __iter__(self) -> Iterator[DecodedText]:
        model = self.model
        for row in zip(self.text_id, self.prompt_id, self.seed, self.prompt, self.text, self.n_tokens,
                       self.source, self.log_ratio, self.pair_id):
            yield DecodedText(row[0], row[1], model, *row[2:])


def read_text_columns(path: str | Path) -> dict[str, TextColumns]:
    """Read a ``texts.jsonl`` of `DecodedText` rows into one `TextColumns` per model (in
    `MODELS` order, each in file order), with `read_records`' checks and errors."""
    path = records_file(path, DecodedText)
    names = {f.name for f in fields(DecodedText)}
    required = {f.name for f in fields(DecodedText) if f.default is MISSING and f.default_factory is MISSING}
    known_shapes: set[tuple] = set()
    columns = {m: TextColumns(m) for m in MODELS}
    loads = json.loads
    for lineno, line in utf8_lines(path):
        try:
            row = loads(line)
        except json.JSONDecodeError as err:
            if not line.strip():
                continue
            raise DataError(f"{path}:{lineno}: not a valid DecodedText record ({err})") from None
        shape = tuple(row) if isinstance(row, dict) else None
        if shape not in known_shapes:  # check each distinct set of fields once
            if shape is None:
                raise DataError(f"{path}:{lineno}: not a valid DecodedText record (not an object)")
            if set(shape) - names:
                raise DataError(f"{path}:{lineno}: unknown fields {sorted(set(shape) - names)} for DecodedText")
            if required - set(shape):
                raise DataError(f"{path}:{lineno}: not a valid DecodedText record "
                                f"(missing {sorted(required - set(shape))})")
            known_shapes.add(shape)
        model = row["model"]
        if model not in columns:
            raise DataError(f"text {row['text_id']!r}: model must be one of {MODELS}, got {model!r}")
        columns[model].append(row)
    return columns
