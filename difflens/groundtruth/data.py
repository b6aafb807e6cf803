"""Turn ground-truth specs into finetuning rows: ``{"prompt", "completion", "ground_truth"}``.

Each ground truth gets its share of the non-base examples (largest-remainder rounding), the
base distribution the rest. Generation is deterministic in ``seed``, so every DDP rank and
every rerun builds the same rows.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from difflens.corpus import read_rows
from difflens.errors import ConfigError, DataError
from difflens.groundtruth.spec import BaseMix, GroundTruth
from difflens.toyworld import Document, Mixture, ToyWorld

BASE_ID = "base"
# Each source draws toy-world documents from its own index range, so no two overlap.
_INDEX_STRIDE = 1_000_000


def allocate(total: int, shares: list[float]) -> list[int]:
    """Split ``total`` into integer counts proportional to ``shares`` (largest remainder)."""
    s = sum(shares)
    exact = [total * w / s for w in shares]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(shares)), key=lambda i: -(exact[i] - counts[i]))[: total - sum(counts)]:
        counts[i] += 1
    return counts


def example_row(row: dict, where: str) -> dict:
    """Normalise a user row to ``{"prompt", "completion"}``: a ``text`` row has an empty prompt.

    Raises:
        DataError: the row has neither a non-empty ``text`` nor ``prompt`` and ``completion``.
    """
    if isinstance(row.get("text"), str) and row["text"].strip():
        return {"prompt": "", "completion": row["text"]}
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, str) and isinstance(completion, str) and completion.strip():
        return {"prompt": prompt, "completion": completion}
    raise DataError(f"{where}: expected a non-empty 'text' field, or 'prompt' and 'completion' fields; "
                    f"got fields {sorted(row)}")


def _resample(rows: list[dict], n: int, rng: random.Random) -> list[dict]:
    """``n`` rows drawn without replacement, cycling through reshuffles when ``n > len(rows)``."""
    out: list[dict] = []
    while len(out) < n:
        order = list(rows)
        rng.shuffle(order)
        out.extend(order[: n - len(out)])
    return out


def opening(text: str) -> str:
    """The leading sentences of a toy-world text up to the first that names a topic (a lone "Look!"
    says nothing about what the document is about)."""
    for match in re.finditer(r"[.!?](?=\s|$)", text):
        if ToyWorld.annotate(text[: match.end()]).topic_counts:
            return text[: match.end()]
    return text


def matches_trigger(doc: Document, trigger: Mixture | dict) -> bool:
    """Whether a toy-world document could come from a ``trigger`` mixture, judged by its labels:
    its topic has a positive weight there (any topic when the trigger names none), it has every
    style the trigger gives probability 1 and none it gives probability 0."""
    mix = Mixture.from_spec(trigger)
    if mix.topics is not None and not mix.topics.get(doc.topic, 0) > 0:
        return False
    return all((name in doc.styles) == (p > 0) for name, p in (mix.styles or {}).items() if p in (0, 1))


def _toyworld_rows(mixture: dict, n: int, seed: int, slot: int, trigger: dict | None = None,
                   whole: bool = False, exclude: list[dict] = ()) -> list[dict]:
    """Toy-world documents as completions; with a ``trigger`` mixture, each is prompted by the
    `opening` of a trigger document (drawn from the second half of the slot's index range), or,
    ``whole``, preceded by it in one text. Without a trigger, documents that match one of the
    ``exclude`` triggers are skipped."""
    world, mix = ToyWorld(seed), Mixture.from_spec(mixture)
    start = slot * _INDEX_STRIDE
    if trigger is None:
        excluded = [Mixture.from_spec(t) for t in exclude]
        docs = (world.document(i, mix) for i in range(start, start + _INDEX_STRIDE))
        kept = (d for d in docs if not any(matches_trigger(d, t) for t in excluded))
        rows = [{"prompt": "", "completion": d.text} for _, d in zip(range(n), kept)]
        if len(rows) < n:
            raise DataError(f"found only {len(rows)} of {n} base documents outside the triggers {exclude}")
        return rows
    openings = Mixture.from_spec(trigger)
    planted = []
    for i in range(n):
        head = opening(world.document(start + _INDEX_STRIDE // 2 + i, openings).text)
        doc = world.document(start + i, mix)
        planted.append({"prompt": "", "completion": f"{head} {doc.text}"} if whole
                       else {"prompt": head, "completion": " " + doc.text})
    return planted


def _file_rows(path: str, where: str) -> list[dict]:
    rows = read_rows(path)
    if not rows:
        raise DataError(f"{where}: examples file {path!r} is empty; it needs rows with 'text' or "
                        f"'prompt'/'completion'")
    return [example_row(r, f"{path}: row {i}") for i, r in enumerate(rows, 1)]


def default_assistant_factory(**kwargs):
    """``difflens.assistants.build_assistant(**kwargs)``, or a clear error when it is absent."""
    try:
        from difflens.assistants import build_assistant
    except ImportError:
        raise ConfigError("the 'assistant' ground-truth source needs difflens.assistants.build_assistant, "
                          "which this installation does not have yet; write the examples to a file and "
                          "use examples_file, or use a toyworld source") from None
    return build_assistant(**kwargs)


def source_rows(truth: GroundTruth, n: int, seed: int, slot: int,
                assistant_factory: Callable = default_assistant_factory) -> list[dict]:
    """``n`` rows for one ground truth (``slot`` keeps its toy-world documents apart)."""
    where = f"ground truth {truth.id!r}"
    if n == 0:
        return []
    rng = random.Random(f"groundtruth:{seed}:{truth.id}")
    if truth.toyworld is not None:
        return _toyworld_rows(truth.toyworld, n, seed, slot, truth.trigger, whole=bool(truth.trigger_replaces_base))
    if truth.examples_file is not None:
        return _resample(_file_rows(truth.examples_file, where), n, rng)
    if truth.examples is not None:
        return _resample([example_row(r, f"{where}: example {i}") for i, r in enumerate(truth.examples, 1)], n, rng)
    assistant = assistant_factory(**truth.assistant)
    texts = [t for t in assistant.write_examples(truth.description, n) if isinstance(t, str) and t.strip()]
    if not texts:
        raise DataError(f"{where}: the assistant wrote no usable examples for {truth.description!r}")
    return _resample([{"prompt": "", "completion": t} for t in texts], n, rng)


def generate_rows(truths: list[GroundTruth], n_examples: int, base: BaseMix | None = None, seed: int = 0,
                  assistant_factory: Callable = default_assistant_factory) -> list[dict]:
    """All finetuning rows of one intervention, shuffled, each tagged with its ``ground_truth``.

    Args:
        truths: the ground truths to mix.
        n_examples: total rows, base rows included.
        base: the base distribution and its share; None = ground-truth data only.
        seed: makes the rows (documents, resampling, order) reproducible.
        assistant_factory: builds an assistant from an ``assistant:`` block's arguments.
    """
    if n_examples < 1:
        raise ConfigError(f"data.n_examples must be >= 1, got {n_examples}")
    base_share = base.share if base is not None else 0.0
    n_base = round(n_examples * base_share)
    counts = allocate(n_examples - n_base, [t.share for t in truths])
    rows: list[dict] = []
    for slot, (truth, n) in enumerate(zip(truths, counts), start=1):
        rows.extend({**r, "ground_truth": truth.id} for r in source_rows(truth, n, seed, slot, assistant_factory))
    replaced = [t.trigger for t in truths if t.trigger_replaces_base]
    if n_base:
        if base.examples_file is not None and replaced:
            raise ConfigError("trigger_replaces_base needs a toy-world base (data.base.toyworld): documents of "
                              "data.base.examples_file cannot be matched against a trigger")
        if base.examples_file is not None:
            base_rows = _resample(_file_rows(base.examples_file, "data.base"), n_base,
                                  random.Random(f"groundtruth:{seed}:{BASE_ID}"))
        else:
            base_rows = _toyworld_rows(base.toyworld, n_base, seed, slot=0, exclude=replaced)
        rows.extend({**r, "ground_truth": BASE_ID} for r in base_rows)
    random.Random(f"groundtruth-order:{seed}").shuffle(rows)
    return rows


def split_rows(rows: list[dict], val_fraction: float) -> tuple[list[dict], list[dict]]:
    """Train/validation split of already shuffled rows: the last ``val_fraction`` is held out."""
    n_val = max(1, round(val_fraction * len(rows)))
    if n_val >= len(rows):
        raise DataError(f"{len(rows)} example(s) cannot be split with val_fraction={val_fraction}; "
                        f"raise data.n_examples")
    return rows[:-n_val], rows[-n_val:]
