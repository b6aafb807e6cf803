"""How fast a concept's mean over n contexts converges to a held-out reference.

For each concept with at least ``max(ns)`` samples, the mean of its first n samples is compared
with its reference (the mean over held-out-template contexts, never trained on). Vectors are
centred on the reference's mean over concepts first, so the direction every concept shares
(a large constant in a residual stream) does not make everything look converged.

- relative difference ``||m_n - r|| / ||r||``;
- cosine of ``m_n`` and ``r``;
- CI width: the mean over dimensions of the 95% interval ``2 * 1.96 * sd / sqrt(n)``,
  relative to the reference's RMS.

A concept is converged at n when its relative difference is at most ``tolerance``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from difflens.encyclopedia.store import EncyclopediaStage, site_name
from difflens.errors import ConfigError, DataError


def convergence_curves(samples: np.ndarray, concept_index: np.ndarray, reference: np.ndarray,
                       reference_count: np.ndarray, ns: Sequence[int]) -> dict[str, np.ndarray]:
    """Per concept and n, the three measures.

    Args:
        samples: ``(N, H)`` samples of one site, in capture order.
        concept_index: ``(N,)`` their concepts.
        reference: ``(C, H)`` reference means.
        reference_count: ``(C,)`` samples behind each reference (0: no reference).
        ns: the numbers of contexts to evaluate.

    Returns:
        ``concepts (M,)`` evaluated and ``relative_difference``, ``cosine``, ``ci_width``, each
        ``(M, len(ns))``.
    """
    ns = sorted(ns)
    center = reference[reference_count > 0].mean(axis=0)
    x = samples.astype(np.float64) - center
    ref = reference.astype(np.float64) - center
    concepts, rel, cos, ci = [], [], [], []
    for c in np.unique(concept_index):
        rows = x[concept_index == c]
        if len(rows) < ns[-1] or reference_count[c] == 0:
            continue
        r = ref[c]
        rnorm = np.linalg.norm(r) + 1e-12
        rms = rnorm / np.sqrt(len(r))
        concepts.append(c)
        rel_c, cos_c, ci_c = [], [], []
        for n in ns:
            m = rows[:n].mean(axis=0)
            rel_c.append(np.linalg.norm(m - r) / rnorm)
            cos_c.append(float(m @ r / (np.linalg.norm(m) * rnorm + 1e-12)))
            sd = rows[:n].std(axis=0, ddof=1) if n > 1 else np.zeros_like(m)
            ci_c.append(float((2 * 1.96 * sd / np.sqrt(n)).mean() / rms))
        rel.append(rel_c)
        cos.append(cos_c)
        ci.append(ci_c)
    shape = (len(concepts), len(ns))  # each curve: one row per concept, one column per n in ns
    return {"concepts": np.asarray(concepts, dtype=np.int64), "ns": np.asarray(ns),
            "relative_difference": np.asarray(rel).reshape(shape), "cosine": np.asarray(cos).reshape(shape),
            "ci_width": np.asarray(ci).reshape(shape)}


def summarize(curves: dict[str, np.ndarray], tolerance: float, at: int = 10) -> dict:
    """Medians per n and the share of concepts converged (relative difference <= tolerance)."""
    ns = curves["ns"].tolist()
    rows = []
    for j, n in enumerate(ns):
        rel = curves["relative_difference"][:, j]
        rows.append({"n": n, "median_relative_difference": float(np.median(rel)) if len(rel) else float("nan"),
                     "median_cosine": float(np.median(curves["cosine"][:, j])) if len(rel) else float("nan"),
                     "median_ci_width": float(np.median(curves["ci_width"][:, j])) if len(rel) else float("nan"),
                     "share_converged": float((rel <= tolerance).mean()) if len(rel) else float("nan")})
    at_row = next((r for r in rows if r["n"] == at), None)
    return {"tolerance": tolerance, "n_concepts": int(len(curves["concepts"])), "by_n": rows,
            f"share_converged_at_{at}": at_row["share_converged"] if at_row else None}


def measure_convergence(stage_path: str, reference_path: str, site: str | None, ns: list[int],
                        tolerance: float) -> dict:
    """`summarize` the convergence of ``stage_path``'s per-concept means over ``ns`` contexts to
    ``reference_path``'s means at ``site`` (default: the last layer's first pooling). Its errors
    name the flags of ``difflens encyclopedia convergence``, which passes them on unchanged.

    Raises:
        ConfigError: an ``ns`` below 1 or a ``tolerance`` that is not a number > 0.
        DataError: a directory for a stage file, different concept lists, non-finite
            activations, or no concept with ``max(ns)`` samples and a reference.
    """
    bad_ns = [n for n in ns if n < 1]
    if bad_ns or not ns:
        raise ConfigError(f"--ns must be numbers of contexts >= 1, got {' '.join(map(str, ns))}")
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise ConfigError(f"--tolerance must be a number > 0, got {tolerance}")
    for flag, path in (("--stage", stage_path), ("--reference", reference_path)):
        if Path(path).is_dir():
            raise DataError(f"{flag} {str(path)!r} is a directory; give the stage file inside it (e.g. stage1.h5)")
    stage, ref = EncyclopediaStage(stage_path), EncyclopediaStage(reference_path)
    if stage.header.concept_names != ref.header.concept_names:
        raise DataError(f"{stage_path} and {reference_path} have different concept lists")
    site = site or site_name(stage.header.layers[-1], stage.header.poolings[0])
    samples, means = stage.samples(site), ref.means(site)
    for path, values in ((stage_path, samples), (reference_path, means)):
        if not np.isfinite(values).all():
            raise DataError(f"{path}: site {site} holds NaN or infinite activations (a capture that overflowed "
                            f"float16?); capture that stage again")
    curves = convergence_curves(samples, stage.sample_concepts(), means, ref.counts(site), ns)
    if len(curves["concepts"]) == 0:
        raise DataError(f"{stage_path}: no concept has {max(ns)} samples and a reference; lower --ns")
    summary = summarize(curves, tolerance, at=10)
    summary["site"] = site
    return summary
