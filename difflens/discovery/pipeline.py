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

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from difflens.discovery.embed import DEFAULT_EMBEDDER, TextEmbedder
from difflens.discovery.matching import MODES, Matching, match_clusters
from difflens.discovery.plots import MAP_METHODS, plot_map, project_2d, write_projector
from difflens.discovery.proposal import ProposalResult, ProposalSettings, propose_hypotheses
from difflens.errors import ConfigError, DataError
from difflens.files import write_json
from difflens.records import DecodedText, read_records, write_records


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
        if isinstance(self.proposal, dict):
            known = {f.name for f in fields(ProposalSettings)}
            unknown = set(self.proposal) - known
            if unknown:
                raise ConfigError(f"unknown proposal setting(s) {sorted(unknown)}; known: {sorted(known)}")
            self.proposal = ProposalSettings(**self.proposal)
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

    @classmethod
    def from_dict(cls, raw: dict) -> DiscoveryConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"unknown discovery setting(s) {sorted(unknown)}; known: {sorted(known)}")
        missing = {"texts", "output_dir"} - set(raw)
        if missing:
            raise ConfigError(f"discovery config needs {sorted(missing)}")
        return cls(**raw)


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

    counts = Counter(ToyWorld.annotate(t).topic or "(none)" for t in texts)
    return {name: round(n / max(len(texts), 1), 3) for name, n in counts.most_common(top)}


def clusters_report(config: DiscoveryConfig, matching: Matching, base: list[DecodedText],
                    intervention: list[DecodedText], proposal: ProposalResult) -> dict:
    selected = set(proposal.selected_pairs)
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
            row["toyworld_topics"] = {
                "base": toyworld_topics([base[i].text for i in np.flatnonzero(
                    matching.base.labels == pair.base_cluster)]),
                "intervention": toyworld_topics([intervention[i].text for i in np.flatnonzero(
                    matching.intervention.labels == pair.intervention_cluster)]),
            }
        pairs.append(row)
    return {
        "mode": matching.mode, "n_clusters": config.n_clusters, "embedder": config.embedder, "seed": config.seed,
        "n_base": len(base), "n_intervention": len(intervention),
        "pairs": pairs,
        "knn_edges": [{"base_cluster": b, "intervention_cluster": i, "distance": round(d, 6)}
                      for b, i, d in matching.knn_edges],
        "assignments": {
            "base": {r.text_id: int(c) for r, c in zip(base, matching.base.labels)},
            "intervention": {r.text_id: int(c) for r, c in zip(intervention, matching.intervention.labels)},
        },
        "proposal": {**asdict(config.proposal), "selected_pairs": proposal.selected_pairs,
                     "dropped": proposal.dropped, "n_texts_shown": len(proposal.proposal_text_ids),
                     "contrast": proposal.contrast},
    }


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
    records = read_records(config.texts, DecodedText)
    base, intervention = split_by_model(records)
    smallest = len(base) + len(intervention) if config.matching == "joint" else min(len(base), len(intervention))
    if config.n_clusters > smallest:
        raise DataError(f"cannot make {config.n_clusters} clusters from {smallest} texts; "
                        f"lower n_clusters or decode more texts")
    embedder = embedder or TextEmbedder(config.embedder, cache_dir=config.cache_dir)
    base_x = embedder.encode([r.text for r in base])  # (Na, D)
    int_x = embedder.encode([r.text for r in intervention])  # (Nb, D)
    print(f"[discover] {len(base)} base and {len(intervention)} intervention texts embedded "
          f"({embedder.n_encoded} newly, the rest from the cache)")
    matching = match_clusters(base_x, int_x, config.n_clusters, config.matching, config.seed,
                              config.n_representatives, config.knn)
    assistant = assistant or build_assistant(config.assistant)
    result = propose_hypotheses(assistant, matching, base, intervention, embedder.encode, config.proposal)
    print(f"[discover] {len(result.selected_pairs)} cluster pairs differ; {len(result.hypotheses)} hypotheses "
          f"({len(result.dropped)} dropped)")

    write_json(out / "clusters.json", clusters_report(config, matching, base, intervention, result))
    write_json(out / "proposal_text_ids.json", sorted(result.proposal_text_ids))
    everything = np.concatenate([base_x, int_x])
    models = ["base"] * len(base) + ["intervention"] * len(intervention)
    points = project_2d(everything, config.map_method, config.seed)
    highlight = {}
    for pair in matching.pairs:
        if pair.pair_id in result.selected_pairs[:4]:  # more labels would hide each other
            members = np.flatnonzero(matching.intervention.labels == pair.intervention_cluster) + len(base)
            if len(members):
                highlight[f"pair {pair.pair_id} (h={pair.cohens_h:+.2f})"] = points[members].mean(axis=0)
    plot_map(points, models, out / "map.png", highlight,
             title=f"{len(base)} base and {len(intervention)} intervention texts ({config.map_method.upper()})")
    clusters = list(matching.base.labels) + list(matching.intervention.labels)
    write_projector(out / "tensorboard", everything, models, clusters, [r.text for r in base + intervention])
    write_records(out / "hypotheses.jsonl", result.hypotheses)
    for h in result.hypotheses:
        print(f"[discover] {h.hypothesis_id} (pair {h.cluster_ids}, |h|={h.score:.2f}): {h.text}")
    return result
