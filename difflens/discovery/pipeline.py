"""The discovery stage: texts -> embeddings -> clusters -> matched pairs -> hypotheses, with outputs.

Reads the decoding stage's ``texts.jsonl`` and writes, in ``output_dir``:

- ``hypotheses.jsonl``: `Hypothesis` records in proposal order (written last: its presence
  means the stage is complete);
- ``clusters.json``: the matching mode, every cluster pair with its statistics and
  representative texts, the K-nearest-neighbour graph (``hungarian``), every text's cluster,
  and the proposal bookkeeping (pairs proposed from, dropped duplicates, texts shown);
- ``proposal_text_ids.json``: every text shown to a proposer (never to be used to validate);
- ``map.png``: both models' texts in 2-D with the most different clusters labelled;
- ``tensorboard/``: the embedding projector with model, cluster and text labels.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from difflens.discovery.embed import DEFAULT_EMBEDDER, TextEmbedder
from difflens.discovery.matching import MODES, Matching, cluster_members, match_clusters, release, take_rows
from difflens.discovery.plots import MAP_METHODS, PROJECTOR_MAX_POINTS, plot_map, project_2d, write_projector
from difflens.discovery.proposal import ProposalResult, ProposalSettings, propose_hypotheses
from difflens.errors import ConfigError, DataError
from difflens.files import atomic_path, write_json
from difflens.records import DecodedText, TextColumns, read_text_columns, write_records

log = logging.getLogger(__name__)


@dataclass
class DiscoveryConfig:
    """Settings of the discovery stage.

    Attributes:
        texts: the decoding stage's ``texts.jsonl``.
        output_dir: where the outputs go (e.g. ``runs/quickstart/discover``).
        embedder: sentence-transformers model name or directory (default: offline MiniLM).
        embedding_cache: cache directory; default ``<output_dir>/../embedding_cache`` so that
            every stage of a run shares it.
        n_clusters: clusters per side (``joint``: in total).
        matching: ``base_init``, ``joint`` or ``hungarian``.
        n_representatives: texts nearest each centroid kept in ``clusters.json``.
        knn: neighbours per cluster in the ``hungarian`` graph.
        seed: k-means seed.
        proposal: pair selection, proposal sizes, the proposal/held-out split, deduplication.
        assistant: keyword arguments of ``difflens.assistants.build_assistant`` (``backend``
            and the backend's options).
        map_method: ``pca`` or ``tsne`` for ``map.png``.
        toyworld_labels: label clusters with their dominant toy-world topics (embedded default).
    """

    texts: str
    output_dir: str
    embedder: str = DEFAULT_EMBEDDER
    embedding_cache: str | None = None
    n_clusters: int = 30
    matching: str = "base_init"
    n_representatives: int = 5
    knn: int = 3
    seed: int = 0
    proposal: ProposalSettings = field(default_factory=ProposalSettings)
    assistant: dict = field(default_factory=lambda: {"backend": "offline"})
    map_method: str = "pca"
    toyworld_labels: bool = False

    def __post_init__(self) -> None:
        if self.matching not in MODES:
            raise ConfigError(f"matching {self.matching!r} is not one of {', '.join(MODES)}")
        if self.map_method not in MAP_METHODS:
            raise ConfigError(f"map_method {self.map_method!r} is not one of {', '.join(MAP_METHODS)}")
        if self.n_clusters < 1:
            raise ConfigError(f"n_clusters must be >= 1, got {self.n_clusters}")
        if not isinstance(self.assistant, dict) or "backend" not in self.assistant:
            raise ConfigError("assistant must be a mapping with a 'backend' key, e.g. {backend: offline}")

    @property
    def cache_dir(self) -> Path:
        return Path(self.embedding_cache) if self.embedding_cache else Path(self.output_dir).parent / "embedding_cache"


def build_assistant(spec: dict):
    """The assistant ``spec`` describes (``backend`` plus the backend's arguments)."""
    from difflens.assistants import build_assistant as factory

    return factory(**spec)


def split_by_model(records: list[DecodedText]) -> tuple[list[DecodedText], list[DecodedText]]:
    base = [r for r in records if r.model == "base"]
    intervention = [r for r in records if r.model == "intervention"]
    if not base or not intervention:
        raise DataError(f"need texts from both models, got {len(base)} base and {len(intervention)} intervention")
    return base, intervention


def toyworld_topics(texts: list[str], top: int = 3) -> dict[str, float]:
    """Share of texts per dominant toy-world topic, the ``top`` most common."""
    from difflens.toyworld import ToyWorld

    counts = Counter(ToyWorld.topic(t) or "(none)" for t in texts)
    return {name: round(n / max(len(texts), 1), 3) for name, n in counts.most_common(top)}


def cluster_topics(texts: Sequence[str], labels: np.ndarray, k: int, top: int = 3) -> list[dict[str, float]]:
    """`toyworld_topics` of every cluster's texts, reading each text once."""
    from difflens.toyworld import ToyWorld

    names: dict[str, int] = {}
    topic = np.fromiter((names.setdefault(ToyWorld.topic(t) or "(none)", len(names)) for t in texts),
                        dtype=np.int64, count=len(texts))  # (N,)
    names_by_id = list(names)
    out = []
    for members in cluster_members(labels, k):
        ids, first, counts = np.unique(topic[members], return_index=True, return_counts=True)
        # Counter.most_common: by count, ties in order of first appearance
        ranked = sorted(zip(-counts, first, ids))[:top]
        out.append({names_by_id[i]: round(int(-c) / max(len(members), 1), 3) for c, _, i in ranked})
    return out


def clusters_report(config: DiscoveryConfig, matching: Matching, base: Sequence[DecodedText],
                    intervention: Sequence[DecodedText], proposal: ProposalResult) -> dict:
    """``clusters.json`` but its ``assignments``, which `write_clusters_json` streams."""
    selected = set(proposal.selected_pairs)
    if config.toyworld_labels:
        topics = (cluster_topics(texts_of(base), matching.base.labels, matching.base.k),
                  cluster_topics(texts_of(intervention), matching.intervention.labels, matching.intervention.k))
    pairs = []
    for pair in matching.pairs:
        row = asdict(pair)
        row["selected"] = pair.pair_id in selected
        if pair.pair_id in proposal.untargeted_tests:  # the same test on the untargeted texts alone
            p_value, h = proposal.untargeted_tests[pair.pair_id]
            row["untargeted"] = {"p_value": p_value, "cohens_h": h}
        row["base_representatives"] = [{"text_id": base[i].text_id, "text": base[i].text}
                                       for i in pair.base_representatives]
        row["intervention_representatives"] = [{"text_id": intervention[i].text_id, "text": intervention[i].text}
                                               for i in pair.intervention_representatives]
        if config.toyworld_labels:
            row["toyworld_topics"] = {"base": topics[0][pair.base_cluster],
                                      "intervention": topics[1][pair.intervention_cluster]}
        pairs.append(row)
    return {
        "mode": matching.mode, "n_clusters": config.n_clusters, "embedder": config.embedder, "seed": config.seed,
        "n_base": len(base), "n_intervention": len(intervention),
        "pairs": pairs,
        "knn_edges": [{"base_cluster": b, "intervention_cluster": i, "distance": round(d, 6)}
                      for b, i, d in matching.knn_edges],
        "assignments": None,
        "proposal": {**asdict(config.proposal), "selected_pairs": proposal.selected_pairs,
                     "dropped": proposal.dropped, "n_texts_shown": len(proposal.proposal_text_ids),
                     "contrast": proposal.contrast, "ranking": proposal.ranking},
    }


def texts_of(records: Sequence[DecodedText]) -> Sequence[str]:
    return records.text if isinstance(records, TextColumns) else [r.text for r in records]


def ids_of(records: Sequence[DecodedText]) -> Sequence[str]:
    return records.text_id if isinstance(records, TextColumns) else [r.text_id for r in records]


def write_clusters_json(path: str | Path, report: dict,
                        assignments: dict[str, tuple[Sequence[str], np.ndarray]]) -> None:
    """Write ``report`` as `write_json` would with ``report["assignments"]`` set to
    ``{side: {text_id: cluster}}``, streaming those millions of entries instead of building them."""
    marker = "\x00assignments\x00"
    head, tail = json.dumps({**report, "assignments": marker}, indent=2).split(json.dumps(marker))
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write(head)
        f.write("{\n" if assignments else "{}")
        for j, (side, (ids, labels)) in enumerate(assignments.items()):
            entries = dict(zip(ids, labels.tolist())) if len(set(ids)) != len(ids) else None  # as a dict keeps them
            items = entries.items() if entries is not None else zip(ids, labels.tolist())
            f.write((",\n" if j else "") + f"    {json.dumps(side)}: ")
            first = True
            for key, cluster in items:
                f.write(f"{'{' if first else ','}\n      {json.dumps(key)}: {cluster}")
                first = False
            f.write("{}" if first else "\n    }")
        f.write("\n  }" if assignments else "")
        f.write(tail + "\n")


def run_discovery(config: DiscoveryConfig, assistant=None, embedder: TextEmbedder | None = None) -> ProposalResult:
    """Run the whole stage and write its outputs (see the module docstring).

    Args:
        config: the stage's settings.
        assistant: an `Assistant`; built from ``config.assistant`` when None.
        embedder: a `TextEmbedder`; built from ``config.embedder`` with the cache when None.

    Raises:
        DataError: texts missing, malformed, from one model only, or fewer than the clusters.
    """
    out = Path(config.output_dir)
    columns = read_text_columns(config.texts)
    base, intervention = columns["base"], columns["intervention"]
    if not len(base) or not len(intervention):
        raise DataError(f"need texts from both models, got {len(base)} base and {len(intervention)} intervention")
    smallest = len(base) + len(intervention) if config.matching == "joint" else min(len(base), len(intervention))
    if config.n_clusters > smallest:
        raise DataError(f"cannot make {config.n_clusters} clusters from {smallest} texts; "
                        f"lower n_clusters or decode more texts")
    embedder = embedder or TextEmbedder(config.embedder, cache_dir=config.cache_dir)
    base_x = embedder.matrix(base.text)  # (Na, D), memory-mapped from the cache when it can be
    int_x = embedder.matrix(intervention.text)  # (Nb, D)
    log.info(f"[discover] {len(base)} base and {len(intervention)} intervention texts embedded "
             f"({embedder.n_encoded} newly, the rest from the cache)")
    matching = match_clusters(base_x, int_x, config.n_clusters, config.matching, config.seed,
                              config.n_representatives, config.knn)
    release(int_x)  # match_clusters released the base's; only a sample is read again (write_views)
    assistant = assistant or build_assistant(config.assistant)
    result = propose_hypotheses(assistant, matching, base, intervention, embedder.encode, config.proposal)
    log.info(f"[discover] {len(result.selected_pairs)} cluster pairs differ; {len(result.hypotheses)} hypotheses "
             f"({len(result.dropped)} dropped)")

    write_clusters_json(out / "clusters.json", clusters_report(config, matching, base, intervention, result),
                        {"base": (ids_of(base), matching.base.labels),
                         "intervention": (ids_of(intervention), matching.intervention.labels)})
    write_json(out / "proposal_text_ids.json", sorted(result.proposal_text_ids))
    write_views(config, out, matching, result, base, intervention, base_x, int_x)
    write_records(out / "hypotheses.jsonl", result.hypotheses)
    for h in result.hypotheses:
        log.info(f"[discover] {h.hypothesis_id} (pair {h.cluster_ids}, |h|={h.score:.2f}): {h.text}")
    return result


def view_sample(n_base: int, n_intervention: int, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the base and intervention texts shown in the map and the projector:
    all of them up to ``limit`` in total, else a uniform sample of ``limit`` (each model keeps
    its share)."""
    total = n_base + n_intervention
    if total <= limit:
        return np.arange(n_base), np.arange(n_intervention)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(total, size=limit, replace=False))
    return chosen[chosen < n_base], chosen[chosen >= n_base] - n_base


def write_views(config: DiscoveryConfig, out: Path, matching: Matching, result: ProposalResult,
                base: Sequence[DecodedText], intervention: Sequence[DecodedText], base_x: np.ndarray,
                int_x: np.ndarray) -> None:
    """``map.png`` and the TensorBoard projector, over at most `PROJECTOR_MAX_POINTS` texts."""
    sample_a, sample_b = view_sample(len(base), len(intervention), PROJECTOR_MAX_POINTS, config.seed)
    n_shown = len(sample_a) + len(sample_b)
    if n_shown < len(base) + len(intervention):
        log.info(f"[discover] map and projector: a uniform sample of {n_shown} of the "
                 f"{len(base) + len(intervention)} texts (seed {config.seed})")
    everything = np.concatenate([take_rows(base_x, sample_a), take_rows(int_x, sample_b)])  # (n_shown, D)
    models = ["base"] * len(sample_a) + ["intervention"] * len(sample_b)
    points = project_2d(everything, config.map_method, config.seed)
    int_labels = matching.intervention.labels[sample_b]
    highlight = {}
    for pair in matching.pairs:
        if pair.pair_id in result.selected_pairs[:4]:  # more labels would hide each other
            members = np.flatnonzero(int_labels == pair.intervention_cluster) + len(sample_a)
            if len(members):
                highlight[f"pair {pair.pair_id} (h={pair.cohens_h:+.2f})"] = points[members].mean(axis=0)
    plot_map(points, models, out / "map.png", highlight,
             title=f"{len(base)} base and {len(intervention)} intervention texts ({config.map_method.upper()}"
                   + (f", {n_shown} shown" if n_shown < len(base) + len(intervention) else "") + ")")
    clusters = matching.base.labels[sample_a].tolist() + int_labels.tolist()
    texts = [base.text[i] if isinstance(base, TextColumns) else base[i].text for i in sample_a.tolist()] + \
        [intervention.text[i] if isinstance(intervention, TextColumns) else intervention[i].text
         for i in sample_b.tolist()]
    write_projector(out / "tensorboard", everything, models, clusters, texts, scalars=discovery_scalars(
        matching, result, len(base), len(intervention)))


def discovery_scalars(matching: Matching, result: ProposalResult, n_base: int,
                      n_intervention: int) -> list[tuple[str, float, int]]:
    """What TensorBoard shows of a discovery run, as ``(tag, value, step)``: sizes, pairs and
    hypotheses, and the discriminative stage's out-of-fold AUC at each of its steps."""
    counts = {"texts_base": n_base, "texts_intervention": n_intervention, "cluster_pairs": len(matching.pairs),
              "pairs_selected": len(result.selected_pairs), "hypotheses": len(result.hypotheses),
              "dropped": len(result.dropped),
              "hypotheses_about_base": sum(h.direction == "base" for h in result.hypotheses)}
    return [(f"discovery/{name}", float(value), 0) for name, value in counts.items()] + \
        [("discovery/contrast_auc", row["auc"], step) for step, row in enumerate(result.contrast)]
