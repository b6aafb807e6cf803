"""A 2-D map of both models' texts (PNG) and the TensorBoard embedding projector.

Both show at most `PROJECTOR_MAX_POINTS` texts: the projector runs in a browser, which gets
slow well before a hundred thousand points, and a scatter of millions is one blot. The
projector's vectors are written in TensorBoard's binary form (raw float32, the shape in the
config), 1.5 KB a text at MiniLM's width, where the TSV form costs about 8 KB a text and a
microsecond a float to write.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from difflens.errors import ConfigError
from difflens.files import atomic_path, write_dir

MAP_METHODS = ("pca", "tsne")
PROJECTOR_MAX_POINTS = 50_000


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
                    texts: Sequence[str], tag: str = "texts",
                    scalars: Sequence[tuple[str, float, int]] = ()) -> None:
    """Write the embeddings with model, cluster and text labels for TensorBoard's projector
    (``<log_dir>/00000/<tag>/tensors.bytes`` and ``metadata.tsv``, listed in
    ``projector_config.pbtxt`` with the tensor's shape), and ``scalars`` (``(tag, value, step)``)
    to the run's event file."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
    from torch.utils.tensorboard import SummaryWriter

    def clean(text: str) -> str:  # the metadata file is TSV
        return " ".join(text.split())[:200] or "(empty)"

    def fill(directory: Path) -> None:
        writer = SummaryWriter(log_dir=str(directory))  # an event file makes the directory a run
        for name, value, step in scalars:
            writer.add_scalar(name, value, step)
        writer.close()
        subdir = f"00000/{tag}"
        (directory / subdir).mkdir(parents=True)
        np.ascontiguousarray(embeddings, dtype="<f4").tofile(directory / subdir / "tensors.bytes")
        with (directory / subdir / "metadata.tsv").open("w", encoding="utf-8") as f:
            f.write("model\tcluster\ttext\n")
            f.writelines(f"{m}\t{c}\t{clean(t)}\n" for m, c, t in zip(models, clusters, texts))
        config = ProjectorConfig()
        info = config.embeddings.add()
        info.tensor_name = f"{tag}:00000"
        info.tensor_path = f"{subdir}/tensors.bytes"
        info.metadata_path = f"{subdir}/metadata.tsv"
        info.tensor_shape.extend(embeddings.shape)
        (directory / "projector_config.pbtxt").write_text(text_format.MessageToString(config))

    write_dir(log_dir, fill)  # a rerun replaces the projector instead of stacking a second one
