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

from collections.abc import Sequence

import numpy as np


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
    shape = (len(concepts), len(ns))
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
