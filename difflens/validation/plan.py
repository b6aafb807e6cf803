"""The validation plan: which held-out texts each hypothesis is judged on, fixed before judging.

Rules it enforces (see the validity rules in DESIGN.md):

* A hypothesis is never judged on a text that was shown to its proposer. By default texts
  shown to *any* proposer are excluded (``exclude="all"``), the stricter choice.
* Each text is used for at most one hypothesis. Null p-values are then independent of each
  other, which SAFFRON's FDR guarantee needs; when the pool runs out, fresh samples are drawn.
* ``n_per_model`` texts from each model per hypothesis (so ``n = 2 · n_per_model``) are fixed
  here, before any judgement; the plan is written to disk and a rerun reuses it.
* A conditional hypothesis (``condition`` prompts) is judged only on fresh continuations of
  its prompts by both models, drawn for it after it was fixed, never on pool texts.
* Within a hypothesis the texts are judged in a random order (seeded), so base and
  intervention texts interleave and drift in the judge cannot line up with the label.
* Paired plans (``paired=True``, for the paired test) give each hypothesis same-prompt pairs:
  a base and an intervention text that continue one prompt with one seed (`pair_key`), both
  held out and both unused; a text whose partner is missing, shown or used is not judged.
* Texts in ``reserved`` (those judged to choose n, `difflens.validation.sample_size`) are
  never judged for validation.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from difflens.errors import ConfigError, DataError
from difflens.files import atomic_path
from difflens.records import MODELS, DecodedText, Hypothesis

EXCLUDE_MODES = ("all", "own")


@dataclass(frozen=True)
class JudgementTask:
    """One planned judgement: a held-out text to be judged against a hypothesis.

    Attributes:
        index: position in the plan; the global id used to deduplicate across ranks and runs.
        hypothesis_id: the hypothesis judged.
        order: the hypothesis's proposal order.
        text_id: the text judged.
        model: the model that wrote the text.
        label: 1 if ``model`` is the hypothesis's ``direction`` (the text should show the
            property more), else 0.
        text: the text itself.
        pair: in a paired plan, the `pair_key` the text shares with its partner ("" otherwise).
    """

    index: int
    hypothesis_id: str
    order: int
    text_id: str
    model: str
    label: int
    text: str
    pair: str = ""


@dataclass
class Allocation:
    """The outcome of allocating held-out texts: the tasks, or how many texts are missing."""

    tasks: list[JudgementTask]
    shortfall: dict[str, int]  # model -> texts still needed (all 0 when the plan is complete)
    # conditional hypothesis id -> model -> continuations of its condition still needed
    condition_shortfall: dict[str, dict[str, int]] = field(default_factory=dict)
    pair_shortfall: int = 0  # paired plans: same-prompt pairs still needed (unconditional hypotheses)

    @property
    def complete(self) -> bool:
        return not any(self.shortfall.values()) and not self.pair_shortfall and not any(
            n for need in self.condition_shortfall.values() for n in need.values())


def pair_key(text: DecodedText) -> str:
    """What the two texts of a same-prompt pair share: the prompt id and the sampling seed
    (decoding gives both models the same seed per prompt and sample; fresh unpaired samples
    have a seed per model, so they never pair), or the ``pair_id`` of a pair sampled with two
    seeds (an A/A pair: one model drawn twice)."""
    return text.pair_id if text.pair_id is not None else f"{text.prompt_id}#{text.seed}"


def complete_pairs(texts: Sequence[DecodedText]) -> dict[str, dict[str, DecodedText]]:
    """``pair_key -> {model: text}`` for the keys with exactly one text of each model, in
    the order the keys first appear."""
    grouped: dict[str, list[DecodedText]] = {}
    for text in texts:
        grouped.setdefault(pair_key(text), []).append(text)
    return {key: {t.model: t for t in group} for key, group in grouped.items()
            if len(group) == len(MODELS) and {t.model for t in group} == set(MODELS)}


def sort_hypotheses(hypotheses: Sequence[Hypothesis]) -> list[Hypothesis]:
    """Hypotheses in proposal order; duplicate ids or orders are errors."""
    ids = [h.hypothesis_id for h in hypotheses]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise DataError(f"hypotheses file has duplicate hypothesis_id(s) {dupes}: each hypothesis is tested once")
    orders = [h.order for h in hypotheses]
    if len(set(orders)) != len(orders):
        raise DataError("hypotheses file has duplicate `order` values: SAFFRON needs one proposal order")
    return sorted(hypotheses, key=lambda h: h.order)


def check_references(hypotheses: Sequence[Hypothesis], texts: Sequence[DecodedText], texts_path: str = "") -> None:
    """Every ``proposal_text_ids`` entry must name a text in ``texts``.

    Raises:
        DataError: naming the hypothesis and (up to five of) the unknown ids.
    """
    known = {t.text_id for t in texts}
    for h in hypotheses:
        unknown = [i for i in h.proposal_text_ids if i not in known]
        if unknown:
            where = f" {texts_path!r}" if texts_path else ""
            raise DataError(
                f"hypothesis {h.hypothesis_id!r} references {len(unknown)} text id(s) not in the texts file{where}, "
                f"e.g. {unknown[:5]}; pass the texts file its hypotheses were proposed from, so that proposal "
                f"texts can be kept out of validation")


def _shuffled(items: list, seed: int, salt: str) -> list:
    items = list(items)
    random.Random(f"{seed}:{salt}").shuffle(items)
    return items


def condition_hypothesis_id(text: DecodedText) -> str | None:
    """The hypothesis a conditional validation sample was drawn for (None for any other text)."""
    parts = text.prompt_id.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "condition" else None


def allocate(hypotheses: Sequence[Hypothesis], texts: Sequence[DecodedText], n_per_model: int | Mapping[str, int],
             seed: int = 0, exclude: str = "all", fresh: Sequence[DecodedText] = (),
             conditioned: Sequence[DecodedText] = (), condition_n_per_model: int | None = None,
             paired: bool = False, reserved: Collection[str] = ()) -> Allocation:
    """Give each hypothesis, in proposal order, ``n_per_model`` unused held-out texts per model
    (a conditional one: ``condition_n_per_model`` continuations of its condition per model).

    Args:
        hypotheses: the hypotheses (any order; sorted by ``order`` here).
        texts: the pool of decoded texts.
        n_per_model: texts per model per hypothesis (paired: pairs per hypothesis), or a
            mapping from hypothesis id to that number (one chosen per hypothesis; a conditional
            hypothesis still gets ``condition_n_per_model`` when that is set).
        seed: shuffles the pool and the judging order.
        exclude: ``"all"`` keeps texts shown to any proposer out of validation; ``"own"`` only
            those shown to the hypothesis's own proposer.
        fresh: fresh samples drawn for validation; used after the pool, in their given order
            (paired: fresh pairs, both models on one prompt with one seed).
        conditioned: continuations drawn for conditional hypotheses (ids from
            `difflens.validation.fresh.sample_condition_texts`), used in their given order.
        condition_n_per_model: texts per model per conditional hypothesis (None: ``n_per_model``).
        paired: give each hypothesis same-prompt pairs (see the module docstring).
        reserved: ids of texts never to judge for validation (judged already to choose n).

    Returns:
        An `Allocation`; when ``shortfall``, ``pair_shortfall`` or ``condition_shortfall`` is
        non-zero, draw that many texts (pairs) and allocate again with them.
    """
    hypotheses = sort_hypotheses(hypotheses)
    sizes = ({h.hypothesis_id: n_per_model for h in hypotheses} if isinstance(n_per_model, int)
             else {h.hypothesis_id: n_per_model[h.hypothesis_id] for h in hypotheses})
    conditional_sizes = {h.hypothesis_id: sizes[h.hypothesis_id] if condition_n_per_model is None
                         else condition_n_per_model for h in hypotheses if h.condition}
    smallest = min([*sizes.values(), *conditional_sizes.values()], default=1)
    if smallest < 1:
        raise ConfigError(f"data.n_per_model and data.condition_n_per_model must be >= 1, got {smallest}")
    if exclude not in EXCLUDE_MODES:
        raise ConfigError(f"data.exclude_proposal_texts must be one of {EXCLUDE_MODES}, got {exclude!r}")
    if paired:
        return _allocate_pairs(hypotheses, texts, sizes, conditional_sizes, seed, exclude, fresh, conditioned,
                               set(reserved))
    return _allocate_texts(hypotheses, texts, sizes, conditional_sizes, seed, exclude, fresh, conditioned,
                           set(reserved))


def _allocate_texts(hypotheses: list[Hypothesis], texts: Sequence[DecodedText], sizes: dict[str, int],
                    conditional_sizes: dict[str, int], seed: int, exclude: str, fresh: Sequence[DecodedText],
                    conditioned: Sequence[DecodedText], reserved: set[str]) -> Allocation:
    """`allocate` with two independent samples: each model's texts are dealt from its own pool."""
    shown_to_any = {i for h in hypotheses for i in h.proposal_text_ids}
    pools: dict[str, list[DecodedText]] = {}
    for model in MODELS:
        mine = sorted((t for t in texts if t.model == model and t.text_id not in reserved), key=lambda t: t.text_id)
        if exclude == "all":
            mine = [t for t in mine if t.text_id not in shown_to_any]
        pools[model] = _shuffled(mine, seed, f"pool:{model}") + [t for t in fresh if t.model == model]
    by_condition: dict[tuple[str, str], list[DecodedText]] = {}
    for text in conditioned:
        by_condition.setdefault((condition_hypothesis_id(text), text.model), []).append(text)
    cursor = {m: 0 for m in MODELS}
    shortfall = {m: 0 for m in MODELS}
    condition_shortfall: dict[str, dict[str, int]] = {}
    tasks: list[JudgementTask] = []
    for h in hypotheses:
        own = set(h.proposal_text_ids)
        n_per_model = sizes[h.hypothesis_id]
        chosen: list[DecodedText] = []
        if h.condition:
            condition_n = conditional_sizes[h.hypothesis_id]
            for model in MODELS:
                drawn = by_condition.get((h.hypothesis_id, model), [])[:condition_n]
                chosen.extend(drawn)
                condition_shortfall.setdefault(h.hypothesis_id, {})[model] = condition_n - len(drawn)
        else:
            for model in MODELS:
                taken = 0
                while taken < n_per_model and cursor[model] < len(pools[model]):
                    text = pools[model][cursor[model]]
                    cursor[model] += 1
                    if text.text_id in own:  # only possible with exclude="own"
                        continue
                    chosen.append(text)
                    taken += 1
                shortfall[model] += n_per_model - taken
        for text in _shuffled(chosen, seed, f"order:{h.hypothesis_id}"):
            tasks.append(JudgementTask(len(tasks), h.hypothesis_id, h.order, text.text_id, text.model,
                                       int(text.model == h.direction), text.text))
    return Allocation(tasks, shortfall, condition_shortfall)


def _allocate_pairs(hypotheses: list[Hypothesis], texts: Sequence[DecodedText], sizes: dict[str, int],
                    conditional_sizes: dict[str, int], seed: int, exclude: str, fresh: Sequence[DecodedText],
                    conditioned: Sequence[DecodedText], reserved: set[str]) -> Allocation:
    """`allocate` for the paired test: whole same-prompt pairs, each used once."""
    shown_to_any = {i for h in hypotheses for i in h.proposal_text_ids}
    barred = reserved | (shown_to_any if exclude == "all" else set())
    pool = complete_pairs(texts)
    keys = [k for k in sorted(pool) if not any(t.text_id in barred for t in pool[k].values())]
    fresh_pairs = complete_pairs(fresh)
    queue = [pool[k] for k in _shuffled(keys, seed, "pool:pairs")] + [
        p for p in fresh_pairs.values() if not any(t.text_id in reserved for t in p.values())]
    by_condition: dict[str, list[dict[str, DecodedText]]] = {}
    for pair in complete_pairs(conditioned).values():
        by_condition.setdefault(condition_hypothesis_id(pair["base"]), []).append(pair)
    cursor, pair_shortfall = 0, 0
    condition_shortfall: dict[str, dict[str, int]] = {}
    tasks: list[JudgementTask] = []
    for h in hypotheses:
        own = set(h.proposal_text_ids)
        if h.condition:
            need = conditional_sizes[h.hypothesis_id]
            chosen = by_condition.get(h.hypothesis_id, [])[:need]
            condition_shortfall[h.hypothesis_id] = {m: need - len(chosen) for m in MODELS}
        else:
            chosen = []
            while len(chosen) < sizes[h.hypothesis_id] and cursor < len(queue):
                pair = queue[cursor]
                cursor += 1
                if not any(t.text_id in own for t in pair.values()):  # only possible with exclude="own"
                    chosen.append(pair)
            pair_shortfall += sizes[h.hypothesis_id] - len(chosen)
        texts_of_h = [t for pair in chosen for t in pair.values()]
        for text in _shuffled(texts_of_h, seed, f"order:{h.hypothesis_id}"):
            tasks.append(JudgementTask(len(tasks), h.hypothesis_id, h.order, text.text_id, text.model,
                                       int(text.model == h.direction), text.text, pair_key(text)))
    return Allocation(tasks, {m: 0 for m in MODELS}, condition_shortfall, pair_shortfall)


def plan_fingerprint(hypotheses: Sequence[Hypothesis], n_per_model: int | str, seed: int, exclude: str,
                     condition_n_per_model: int | None = None, **extra) -> str:
    """A hash of everything the plan depends on except the texts themselves.

    ``extra`` settings (the paired design, how n is chosen) enter only when given, so plans
    made without them keep their earlier fingerprints.
    """
    settings = {"n_per_model": n_per_model, "seed": seed, "exclude": exclude, **extra}
    if any(h.condition for h in hypotheses):  # unconditional plans keep their earlier fingerprints
        settings["condition_n_per_model"] = condition_n_per_model
    payload = json.dumps({**settings, "hypotheses": [[h.hypothesis_id, h.order, h.text, h.direction]
                                                     + ([h.condition] if h.condition else [])
                                                     for h in sort_hypotheses(hypotheses)]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_plan(path: str | Path, tasks: Sequence[JudgementTask], fingerprint: str,
               sample_sizes: dict | None = None) -> None:
    """Write the plan atomically: a header line with the fingerprint (and, when n was chosen
    per hypothesis, ``sample_sizes``: hypothesis id -> n and how it was chosen), then one task
    per line."""
    header = {"fingerprint": fingerprint, "n_tasks": len(tasks)}
    if sample_sizes is not None:
        header["sample_sizes"] = sample_sizes
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header, ensure_ascii=False) + "\n")
        for task in tasks:
            f.write(json.dumps(asdict(task), ensure_ascii=False) + "\n")


def read_plan(path: str | Path) -> tuple[str, list[JudgementTask]]:
    """Read a plan written by `write_plan`: ``(fingerprint, tasks)``."""
    try:
        lines = Path(path).read_bytes().decode("utf-8").splitlines()
        header = json.loads(lines[0])
        tasks = [JudgementTask(**json.loads(line)) for line in lines[1:] if line.strip()]
        header["n_tasks"], header["fingerprint"]
    except (ValueError, TypeError, KeyError, IndexError) as err:  # JSON and UTF-8 errors are ValueErrors
        raise DataError(f"validation plan {path} is damaged ({type(err).__name__}: {str(err)[:120]}); delete it "
                        f"(and the judgements/ beside it) to plan again") from None
    if len(tasks) != header["n_tasks"]:
        raise DataError(f"validation plan {path} is truncated ({len(tasks)} of {header['n_tasks']} tasks); delete it")
    return header["fingerprint"], tasks


def read_plan_header(path: str | Path) -> dict:
    """The header line of a plan written by `write_plan` (fingerprint, n_tasks, sample_sizes)."""
    with Path(path).open(encoding="utf-8") as f:
        return json.loads(f.readline())
