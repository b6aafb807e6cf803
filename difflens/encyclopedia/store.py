"""The encyclopedia's HDF5 schema: one file per stage.

Layout (schema version 2)::

    /                      attrs: format, schema_version, model_name, stage, contexts,
                           samples_per_concept, created (UTC ISO time), poolings, layers,
                           hidden_size, n_concepts, n_samples
    /concepts/name         (C,) str     every concept of the encyclopedia, same order in every stage
    /concepts/category     (C,) int32   index into /categories (-1: none)
    /categories            (K,) str
    /samples/concept_index (N,) int32   stage >= 1 (or when samples are kept)
    /samples/context       (N,) str     the context the sample was pooled from
    /samples/group         (N,) int32   context group (template id): splits never cut a group
    /sites/<site>          attrs: layer, pooling; one site per (layer, pooling)
        mean               (C, H) float16        per-concept mean (0 where captured is false)
        variance           (C, H) float16        per-concept population variance (0 there too)
        count              (C,)   int32          samples per concept in this stage
        captured           (C,)   bool           count > 0: the rows to use; an uncaptured
                                                 concept's mean is a placeholder, not data
        samples            (N, H) float16 gzip   every sample (stage >= 1)

Strings are variable-length UTF-8: plain h5py returns them as ``bytes`` unless read with
``.asstr()`` (``f["concepts/name"].asstr()[()]``); `EncyclopediaStage` returns ``str``. Files
written before ``captured`` existed are read as ``count > 0``.

A site is named ``layer{L}.{pooling}`` (``layer2.span_mean``). Files are written to a
temporary sibling and renamed, so a file under its final name is complete; a file that does
not follow the schema (foreign, truncated, an older version) is a one-line `DataError`.
h5py handles cannot be pickled, so `EncyclopediaStage` opens the file lazily in each process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from difflens.errors import DataError
from difflens.files import atomic_path

FORMAT = "difflens.encyclopedia"
SCHEMA_VERSION = 2  # layer L is the output of block L; a file of another version is refused, not misread
POOLINGS = ("span_mean", "span_last", "context_mean")
_GZIP = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def site_name(layer: int, pooling: str) -> str:
    """``site_name(2, "span_mean") == "layer2.span_mean"``."""
    return f"layer{layer}.{pooling}"


@dataclass
class StageHeader:
    """What a stage file says about itself (the root attributes and the name tables).

    Attributes:
        model_name: the model the activations came from (name or path).
        stage: refinement stage (0 bare concepts, 1 templates, 2 assistant contexts, 3 contrastive);
            evaluation captures use the stage they belong to and a ``contexts`` kind of their own.
        contexts: the kind of contexts (``bare``, ``templates``, ``assistant``, ``contrastive``,
            ``heldout_templates``, ``descriptions``, ``probe``).
        samples_per_concept: the number of contexts asked for per concept.
        layers: hidden-state indices captured (0 = embeddings, i = after block i).
        poolings: how token states were pooled (`POOLINGS`).
        hidden_size: width H of every site.
        concept_names: every concept of the encyclopedia (same order in every stage).
        categories: the category names.
        concept_category: per concept, the index into ``categories`` (-1: none).
        created: UTC ISO timestamp of writing.
    """

    model_name: str
    stage: int
    contexts: str
    samples_per_concept: int
    layers: list[int]
    poolings: list[str]
    hidden_size: int
    concept_names: list[str]
    categories: list[str]
    concept_category: np.ndarray
    created: str = ""

    @property
    def sites(self) -> list[str]:
        return [site_name(layer, p) for layer in self.layers for p in self.poolings]


@dataclass
class SiteArrays:
    """One site's arrays (float32 or float16 in memory; stored as float16)."""

    name: str
    layer: int
    pooling: str
    mean: np.ndarray  # (C, H)
    variance: np.ndarray  # (C, H)
    count: np.ndarray  # (C,)
    samples: np.ndarray | None = None  # (N, H)


def concept_statistics(samples: np.ndarray, concept_index: np.ndarray, n_concepts: int) -> tuple[np.ndarray, ...]:
    """Per-concept mean and population variance (float64 accumulation) and counts.

    Args:
        samples: ``(N, H)`` pooled activations.
        concept_index: ``(N,)`` concept of each sample.
        n_concepts: C.

    Returns:
        ``mean (C, H)``, ``variance (C, H)``, ``count (C,)``; zeros where a concept has no sample.
    """
    x = torch.from_numpy(np.asarray(samples, dtype=np.float64))  # (N, H)
    index = torch.from_numpy(np.asarray(concept_index, dtype=np.int64))  # (N,)
    count = np.bincount(index.numpy(), minlength=n_concepts).astype(np.int64)
    if count.max(initial=0) <= 1:
        # one sample per concept at most (stage 0): the sample is the mean, the variance is zero
        mean = np.zeros((n_concepts, x.shape[1]))
        mean[index.numpy()] = x.numpy()
        return mean, np.zeros_like(mean), count
    denom = torch.from_numpy(np.maximum(count, 1)[:, None].astype(np.float64))  # (C, 1)

    def per_concept_sum(rows: torch.Tensor) -> torch.Tensor:
        # index_add_ adds the rows in order, as `np.add.at` does, without its cost per row
        # (seconds for a stage of 100k samples)
        return torch.zeros(n_concepts, rows.shape[1], dtype=torch.float64).index_add_(0, index, rows)  # (C, H)

    mean = per_concept_sum(x) / denom
    var = per_concept_sum((x - mean[index]) ** 2) / denom
    return mean.numpy(), var.numpy(), count


def write_stage(path: str | Path, header: StageHeader, sites: Iterable[SiteArrays], *,
                concept_index: np.ndarray | None = None, contexts: Sequence[str] | None = None,
                groups: np.ndarray | None = None) -> Path:
    """Write a stage file atomically (temporary sibling, then rename).

    ``sites`` may be a generator, so that only one site is in memory at a time.

    Raises:
        ValueError: inconsistent shapes (a bug in the caller).
    """
    import h5py

    path = Path(path)
    n_concepts = len(header.concept_names)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        n_samples = 0 if concept_index is None else len(concept_index)
        attrs = {
            "format": FORMAT, "schema_version": SCHEMA_VERSION, "model_name": header.model_name,
            "stage": int(header.stage), "contexts": header.contexts,
            "samples_per_concept": int(header.samples_per_concept),
            "created": header.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "poolings": list(header.poolings), "layers": np.asarray(header.layers, dtype=np.int32),
            "hidden_size": int(header.hidden_size), "n_concepts": n_concepts, "n_samples": n_samples,
        }
        f.attrs.update(attrs)
        str_dt = h5py.string_dtype()
        f.create_dataset("concepts/name", data=np.asarray(header.concept_names, dtype=object), dtype=str_dt)
        f.create_dataset("concepts/category", data=np.asarray(header.concept_category, dtype=np.int32))
        f.create_dataset("categories", data=np.asarray(header.categories, dtype=object), dtype=str_dt)
        if concept_index is not None:
            f.create_dataset("samples/concept_index", data=np.asarray(concept_index, dtype=np.int32))
            f.create_dataset("samples/context", data=np.asarray(list(contexts or [""] * n_samples), dtype=object),
                             dtype=str_dt, **_GZIP)
            g = np.zeros(n_samples, np.int32) if groups is None else np.asarray(groups, dtype=np.int32)
            f.create_dataset("samples/group", data=g)
        written = []
        for site in sites:
            if site.mean.shape != (n_concepts, header.hidden_size):
                raise ValueError(f"site {site.name}: mean has shape {site.mean.shape}, "
                                 f"expected {(n_concepts, header.hidden_size)}")
            g = f.create_group(f"sites/{site.name}")
            g.attrs.update({"layer": int(site.layer), "pooling": site.pooling})
            # means and variances stay uncompressed: on float16 activations gzip saves about a
            # fifth of the bytes at four times the writing time, which rank 0 spends serially
            g.create_dataset("mean", data=site.mean.astype(np.float16))
            g.create_dataset("variance", data=site.variance.astype(np.float16))
            g.create_dataset("count", data=site.count.astype(np.int32))
            g.create_dataset("captured", data=np.asarray(site.count) > 0)
            if site.samples is not None:
                if len(site.samples) != n_samples:
                    raise ValueError(f"site {site.name}: {len(site.samples)} samples, expected {n_samples}")
                g.create_dataset("samples", data=site.samples.astype(np.float16),
                                 chunks=(min(max(n_samples, 1), 256), header.hidden_size), **_GZIP)
            written.append(site.name)
        if sorted(written) != sorted(header.sites):
            raise ValueError(f"sites written {written} differ from the header's {header.sites}")
    return path


class EncyclopediaStage:
    """Read access to one stage file, opened lazily in each process.

    Construction checks the schema (and closes the file again), so a bad path fails early with
    a clear message; the h5py handle is opened on first use in each process and never pickled,
    which makes the object safe to pass to DataLoader workers and DDP ranks.

    Args:
        path: the stage file.

    Raises:
        DataError: missing, unreadable, half-written or foreign file, or another schema version.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None
        self._pid = None
        with self._open_checked() as f:
            a = f.attrs
            self.header = StageHeader(
                model_name=str(a["model_name"]), stage=int(a["stage"]), contexts=str(a["contexts"]),
                samples_per_concept=int(a["samples_per_concept"]), layers=[int(x) for x in a["layers"]],
                poolings=[str(p) for p in a["poolings"]], hidden_size=int(a["hidden_size"]),
                concept_names=[s.decode() if isinstance(s, bytes) else s for s in f["concepts/name"][()]],
                categories=[s.decode() if isinstance(s, bytes) else s for s in f["categories"][()]],
                concept_category=f["concepts/category"][()], created=str(a["created"]),
            )
            self.n_samples = int(a["n_samples"])

    def _open_checked(self):
        import h5py

        if not self.path.is_file():
            raise DataError(f"encyclopedia stage file not found: {str(self.path)!r}")
        try:
            f = h5py.File(self.path, "r")
        except OSError as err:
            raise DataError(f"{str(self.path)!r} is not a readable HDF5 file (half-written or corrupt? "
                            f"rerun the stage to rewrite it): {str(err).splitlines()[0]}") from None
        try:
            if f.attrs.get("format") != FORMAT:
                raise DataError(f"{str(self.path)!r} is not a difflens encyclopedia stage "
                                f"(format attribute {f.attrs.get('format')!r}, expected {FORMAT!r})")
            version = int(f.attrs.get("schema_version", -1))
            if version != SCHEMA_VERSION:
                raise DataError(f"{str(self.path)!r} has schema version {version}; this difflens reads "
                                f"version {SCHEMA_VERSION}: rerun the stage")
            missing = [k for k in ("concepts/name", "concepts/category", "categories", "sites")
                       if k not in f] + [k for k in ("model_name", "stage", "layers", "poolings", "n_samples")
                                         if k not in f.attrs]
            expected_sites = [site_name(int(layer), str(p)) for layer in f.attrs.get("layers", [])
                              for p in f.attrs.get("poolings", [])]
            missing += [f"sites/{s}" for s in expected_sites if "sites" in f and s not in f["sites"]]
            if int(f.attrs.get("n_samples", 0)) and "samples/concept_index" not in f:
                missing.append("samples/concept_index")
            if missing:
                raise DataError(f"{str(self.path)!r} is incomplete: missing {', '.join(missing)}; rerun the stage")
        except BaseException:
            f.close()
            raise
        return f

    @property
    def file(self):
        """The h5py file, opened on first use in this process."""
        if self._file is None or self._pid != os.getpid():
            self._file = self._open_checked()
            self._pid = os.getpid()
        return self._file

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- accessors ---------------------------------------------------------------------

    @property
    def sites(self) -> list[str]:
        return self.header.sites

    @property
    def has_samples(self) -> bool:
        return self.n_samples > 0 and all("samples" in self.file[f"sites/{s}"] for s in self.sites)

    def _site(self, site: str):
        if site not in self.sites:
            raise DataError(f"{self.path}: no site {site!r}; sites are {', '.join(self.sites)}")
        return self.file[f"sites/{site}"]

    def means(self, site: str) -> np.ndarray:
        return self._site(site)["mean"][()].astype(np.float32)  # (C, H)

    def variances(self, site: str) -> np.ndarray:
        return self._site(site)["variance"][()].astype(np.float32)  # (C, H)

    def counts(self, site: str | None = None) -> np.ndarray:
        return self._site(site or self.sites[0])["count"][()]

    def captured(self, site: str | None = None) -> np.ndarray:
        """``(C,)`` bool: which concepts have samples at ``site`` (their mean rows are data)."""
        group = self._site(site or self.sites[0])
        return group["captured"][()] if "captured" in group else group["count"][()] > 0

    def samples(self, site: str, index: np.ndarray | slice | None = None) -> np.ndarray:
        """``(N, H)`` samples of ``site`` (float32); a stage without samples has none."""
        ds = self._site(site).get("samples")
        if ds is None:
            raise DataError(f"{self.path}: stage {self.header.stage} stores no samples (use its means)")
        return (ds[()] if index is None else ds[index]).astype(np.float32)

    def sample_concepts(self) -> np.ndarray:
        return self.file["samples/concept_index"][()] if self.n_samples else np.zeros(0, np.int64)

    def sample_groups(self) -> np.ndarray:
        return self.file["samples/group"][()] if self.n_samples else np.zeros(0, np.int64)

    def sample_contexts(self) -> list[str]:
        if not self.n_samples:
            return []
        return [s.decode() if isinstance(s, bytes) else s for s in self.file["samples/context"][()]]

    def features(self, sites: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Every sample as ``(N, S, H)`` over ``sites``, with labels, groups and contexts.

        A stage that stores no samples (stage 0) gives one sample per captured concept: its mean.
        """
        if self.has_samples:
            x = np.stack([self.samples(s) for s in sites], axis=1)  # (N, S, H)
            return x, self.sample_concepts().astype(np.int64), self.sample_groups().astype(np.int64), \
                self.sample_contexts()
        keep = np.flatnonzero(self.counts() > 0)
        x = np.stack([self.means(s)[keep] for s in sites], axis=1)  # (C', S, H)
        names = self.header.concept_names
        return x, keep.astype(np.int64), np.zeros(len(keep), np.int64), [names[i] for i in keep]
