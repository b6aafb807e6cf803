"""A 2-D map of both models' texts (PNG) and the TensorBoard embedding projector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from difflens.errors import ConfigError
from difflens.files import atomic_path, write_dir

MAP_METHODS = ("pca", "tsne")


def project_2d(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(N, D)`` -> ``(N, 2)`` by PCA, or t-SNE (slower: tens of seconds for thousands of texts)."""
    if method not in MAP_METHODS:
        raise ConfigError(f"map method {method!r} is not one of {', '.join(MAP_METHODS)}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(embeddings) - 1) // 3)))
    return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(embeddings)


def plot_map(points: np.ndarray, models: Sequence[str], path: str | Path,
             highlight: dict[str, np.ndarray] | None = None, title: str = "Texts of both models") -> None:
    """Scatter the 2-D points coloured by model; ``highlight`` labels points (e.g. the most
    different clusters' centres) by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = np.asarray(models)
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    for side, colour in (("base", "tab:blue"), ("intervention", "tab:orange")):
        sel = models == side
        ax.scatter(points[sel, 0], points[sel, 1], s=6, alpha=0.45, c=colour, label=f"{side} ({int(sel.sum())})",
                   linewidths=0)
    for name, xy in (highlight or {}).items():
        ax.annotate(name, xy, fontsize=8, weight="bold", ha="center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8})
    ax.set_title(title)
    ax.legend(loc="best", markerscale=3)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_projector(log_dir: str | Path, embeddings: np.ndarray, models: Sequence[str], clusters: Sequence[int],
                    texts: Sequence[str], tag: str = "texts") -> None:
    """Write the embeddings with model, cluster and text labels for TensorBoard's projector."""
    from torch.utils.tensorboard import SummaryWriter

    def clean(text: str) -> str:  # the metadata file is TSV
        return " ".join(text.split())[:200] or "(empty)"

    metadata = [[m, str(c), clean(t)] for m, c, t in zip(models, clusters, texts)]

    def fill(directory: Path) -> None:
        writer = SummaryWriter(log_dir=str(directory))
        try:
            writer.add_embedding(embeddings, metadata=metadata, metadata_header=["model", "cluster", "text"], tag=tag)
        finally:
            writer.close()

    write_dir(log_dir, fill)  # a rerun replaces the projector instead of stacking a second one
