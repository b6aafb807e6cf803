"""Top-activating samples of every latent, kept with vectorised tensor operations.

`TopActivations` holds, for each of ``d_sae`` latents, the ``k`` largest activations seen so
far with their token, document, position and context window, plus per-latent statistics
(firing count, sum, maximum, a log-spaced histogram). An update takes sparse codes
``(values, rows, cols)`` and never loops over latents in Python:

1. drop entries at or below ``threshold``;
2. sort entries by (latent, activation descending) and rank them within their latent;
3. scatter each latent's best ``k`` new entries into a ``(d_sae, k)`` slab;
4. concatenate with the kept ``(d_sae, k)``, drop duplicates of the same (doc, pos), and take
   the top ``k`` per row with one ``topk``.

Two stores merge with the same step 4, which is how DDP ranks combine.
"""

from __future__ import annotations

import math

import torch

from difflens.sae.sparse import SparseCodes

HIST_BINS = 32
HIST_LOW, HIST_HIGH = -3.0, 3.0  # log10 activation range of the histogram


class TopActivations:
    """Per-latent top-``k`` activations and statistics.

    Args:
        d_sae: number of latents.
        k: samples kept per latent.
        window: context tokens stored per sample.
        threshold: activations at or below it are ignored.
    """

    TENSORS = ("values", "token", "doc", "pos", "context", "count", "total", "maximum", "hist", "tokens_seen")

    def __init__(self, d_sae: int, k: int = 20, window: int = 16, threshold: float = 0.0):
        self.d_sae, self.k, self.window, self.threshold = d_sae, k, window, threshold
        self.values = torch.full((d_sae, k), float("-inf"))  # (d_sae, k), sorted descending
        self.token = torch.full((d_sae, k), -1, dtype=torch.long)
        self.doc = torch.full((d_sae, k), -1, dtype=torch.long)
        self.pos = torch.full((d_sae, k), -1, dtype=torch.long)
        self.context = torch.full((d_sae, k, window), -1, dtype=torch.long)  # (d_sae, k, W)
        self.count = torch.zeros(d_sae, dtype=torch.long)  # activations above threshold
        self.total = torch.zeros(d_sae, dtype=torch.float64)  # their sum
        self.maximum = torch.zeros(d_sae)
        self.hist = torch.zeros(d_sae, HIST_BINS, dtype=torch.long)  # log10-spaced counts
        self.tokens_seen = torch.zeros((), dtype=torch.long)

    # ----- updates ------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, codes: SparseCodes, token: torch.Tensor, doc: torch.Tensor, pos: torch.Tensor,
               context: torch.Tensor) -> None:
        """Add a batch: ``codes`` over ``B`` rows and each row's token, doc, pos ``(B,)`` and context ``(B, W)``."""
        self.tokens_seen += codes.n_rows
        keep = codes.values > self.threshold
        values, rows, cols = codes.values[keep].float(), codes.rows[keep], codes.cols[keep]
        if values.numel() == 0:
            return
        self.count += torch.bincount(cols, minlength=self.d_sae)
        self.total.index_add_(0, cols, values.double())
        self.maximum = self.maximum.scatter_reduce(0, cols, values, "amax")
        bins = ((values.log10() - HIST_LOW) / (HIST_HIGH - HIST_LOW) * HIST_BINS).long().clamp_(0, HIST_BINS - 1)
        self.hist += torch.bincount(cols * HIST_BINS + bins, minlength=self.d_sae * HIST_BINS).view(self.d_sae, HIST_BINS)

        # best k new entries per latent: sort by (latent, -value), rank within latent
        order = torch.argsort(values, descending=True, stable=True)
        order = order[torch.argsort(cols[order], stable=True)]  # (n,) grouped by latent, best first
        cols_sorted = cols[order]
        starts = torch.searchsorted(cols_sorted, cols_sorted, side="left")
        rank = torch.arange(len(order)) - starts  # (n,) rank within the latent
        best = rank < self.k
        order, cols_sorted, rank = order[best], cols_sorted[best], rank[best]
        src_rows = rows[order]
        new = self._empty(self.d_sae)
        new["values"][cols_sorted, rank] = values[order]
        new["token"][cols_sorted, rank] = token[src_rows]
        new["doc"][cols_sorted, rank] = doc[src_rows]
        new["pos"][cols_sorted, rank] = pos[src_rows]
        new["context"][cols_sorted, rank] = self._fit_window(context[src_rows])
        self._merge_samples(new)

    def _fit_window(self, context: torch.Tensor) -> torch.Tensor:
        if context.shape[-1] == self.window:
            return context
        out = torch.full((*context.shape[:-1], self.window), -1, dtype=torch.long)
        n = min(self.window, context.shape[-1])
        out[..., :n] = context[..., :n]
        return out

    def _empty(self, n: int) -> dict[str, torch.Tensor]:
        return {
            "values": torch.full((n, self.k), float("-inf")),
            "token": torch.full((n, self.k), -1, dtype=torch.long),
            "doc": torch.full((n, self.k), -1, dtype=torch.long),
            "pos": torch.full((n, self.k), -1, dtype=torch.long),
            "context": torch.full((n, self.k, self.window), -1, dtype=torch.long),
        }

    def _merge_samples(self, other: dict[str, torch.Tensor]) -> None:
        """Keep the top ``k`` of (self, other) per latent, counting each (doc, pos) once."""
        values = torch.cat([self.values, other["values"]], dim=1)  # (d_sae, 2k)
        doc = torch.cat([self.doc, other["doc"]], dim=1)
        pos = torch.cat([self.pos, other["pos"]], dim=1)
        # duplicates: the same (doc, pos) twice in a row of the slab (seen in two epochs or ranks)
        key = doc * (1 << 32) + pos
        key_sorted, key_order = key.sort(dim=1)
        dup_sorted = torch.zeros_like(key_sorted, dtype=torch.bool)
        dup_sorted[:, 1:] = (key_sorted[:, 1:] == key_sorted[:, :-1]) & (key_sorted[:, 1:] >= 0)
        dup = torch.zeros_like(dup_sorted).scatter_(1, key_order, dup_sorted)
        values = values.masked_fill(dup, float("-inf"))
        self.values, top = values.topk(self.k, dim=1)  # (d_sae, k)
        self.doc = doc.gather(1, top)
        self.pos = pos.gather(1, top)
        self.token = torch.cat([self.token, other["token"]], dim=1).gather(1, top)
        context = torch.cat([self.context, other["context"]], dim=1)  # (d_sae, 2k, W)
        self.context = context.gather(1, top[..., None].expand(-1, -1, self.window))

    def merge(self, other: "TopActivations") -> None:
        """Fold another store (e.g. another DDP rank's) into this one."""
        self._merge_samples({name: getattr(other, name) for name in ("values", "token", "doc", "pos", "context")})
        self.count += other.count
        self.total += other.total
        self.maximum = torch.maximum(self.maximum, other.maximum)
        self.hist += other.hist
        self.tokens_seen += other.tokens_seen

    # ----- state --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"d_sae": self.d_sae, "k": self.k, "window": self.window, "threshold": self.threshold,
                **{name: getattr(self, name).clone() for name in self.TENSORS}}

    @classmethod
    def from_state_dict(cls, state: dict) -> "TopActivations":
        store = cls(state["d_sae"], state["k"], state["window"], state["threshold"])
        for name in cls.TENSORS:
            setattr(store, name, state[name].clone())
        return store

    # ----- reading ------------------------------------------------------------------------
    def density(self) -> torch.Tensor:
        """Fraction of tokens on which each latent fired above the threshold, ``(d_sae,)``."""
        return self.count.double() / max(int(self.tokens_seen), 1)

    def feature_summary(self, i: int) -> dict:
        n = int(self.count[i])
        return {"feature": i, "count": n, "density": float(self.density()[i]),
                "mean_activation": float(self.total[i] / n) if n else 0.0,
                "max_activation": float(self.maximum[i])}

    def samples(self, i: int) -> list[dict]:
        """Latent ``i``'s kept samples, best first (raw token ids)."""
        out = []
        for j in range(self.k):
            v = float(self.values[i, j])
            if math.isinf(v):
                break
            out.append({"activation": v, "token": int(self.token[i, j]), "doc": int(self.doc[i, j]),
                        "pos": int(self.pos[i, j]), "context": self.context[i, j].tolist()})
        return out

    @staticmethod
    def histogram_edges() -> list[float]:
        return torch.logspace(HIST_LOW, HIST_HIGH, HIST_BINS + 1).tolist()
