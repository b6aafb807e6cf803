"""Top-activating samples of every latent, kept with vectorised tensor operations.

`TopActivations` holds, for each of ``d_sae`` latents, the ``k`` largest activations seen so
far with their token, document, position and context window, plus per-latent statistics
(firing count, sum, maximum, a log-spaced histogram). An update takes sparse codes
``(values, rows, cols)`` and never loops over latents in Python:

1. drop entries at or below ``threshold`` or below their latent's current ``k``-th best;
2. sort the rest by (latent, activation descending) and rank them within their latent;
3. scatter each touched latent's best ``k`` new entries into a ``(touched, k)`` slab;
4. concatenate with those latents' kept samples, drop duplicates of the same (doc, pos), and
   take the top ``k`` per row with one ``topk``.

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
        # ids as int32: the context slab is the store's largest tensor and is gathered on update
        self.token = torch.full((d_sae, k), -1, dtype=torch.int32)
        self.doc = torch.full((d_sae, k), -1, dtype=torch.int32)
        self.pos = torch.full((d_sae, k), -1, dtype=torch.int32)
        self.context = torch.full((d_sae, k, window), -1, dtype=torch.int32)  # (d_sae, k, W)
        self.count = torch.zeros(d_sae, dtype=torch.long)  # activations above threshold
        self.total = torch.zeros(d_sae, dtype=torch.float64)  # their sum
        self.maximum = torch.zeros(d_sae)
        self.hist = torch.zeros(d_sae, HIST_BINS, dtype=torch.long)  # log10-spaced counts
        self.tokens_seen = torch.zeros((), dtype=torch.long)
        # entries waiting to be merged: merging costs about the same for one batch as for
        # several, so it happens once ``flush_size`` entries are pending (or on any read)
        self._pending: list[tuple] = []
        self._pending_size = 0
        self.flush_size = 16 * d_sae

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
        self.hist += torch.bincount(cols * HIST_BINS + bins,  # (d_sae * HIST_BINS,) -> (d_sae, HIST_BINS)
                                    minlength=self.d_sae * HIST_BINS).view(self.d_sae, HIST_BINS)

        # only entries that beat their latent's current k-th best can enter (most cannot once
        # the store has warmed up); they wait in a small pending list, merged in one pass
        better = values > self.values[cols, self.k - 1]
        if not better.any():
            return
        src = rows[better]
        self._pending.append((values[better], cols[better], token[src].int(), doc[src].int(), pos[src].int(),
                              self._fit_window(context[src].int())))
        self._pending_size += int(better.sum())
        if self._pending_size >= self.flush_size:
            self.flush()

    @torch.no_grad()
    def flush(self) -> None:
        """Merge the pending entries into the kept samples (every read calls this first)."""
        if not self._pending:
            return
        values, cols, token, doc, pos, context = (torch.cat(parts) for parts in zip(*self._pending))
        self._pending, self._pending_size = [], 0
        touched, local = torch.unique(cols, return_inverse=True)  # (t,), (n,) latent -> slab row
        # sort by (latent, doc, pos, -value) to drop repeats of a token pending twice (two epochs
        # between flushes), keeping its best value; then by (latent, -value) to rank
        order = torch.argsort(values, descending=True, stable=True)
        for key in (pos, doc, local):
            order = order[torch.argsort(key[order], stable=True)]
        repeat = torch.zeros(len(order), dtype=torch.bool)
        repeat[1:] = ((local[order][1:] == local[order][:-1]) & (doc[order][1:] == doc[order][:-1])
                      & (pos[order][1:] == pos[order][:-1]))
        order = order[~repeat]
        order = order[torch.argsort(values[order], descending=True, stable=True)]
        order = order[torch.argsort(local[order], stable=True)]  # (n,) grouped by latent, best first
        local_sorted = local[order]
        rank = torch.arange(len(order)) - torch.searchsorted(local_sorted, local_sorted, side="left")
        best = rank < self.k
        order, local_sorted, rank = order[best], local_sorted[best], rank[best]
        new = self._empty(len(touched))
        new["values"][local_sorted, rank] = values[order]
        new["token"][local_sorted, rank] = token[order]
        new["doc"][local_sorted, rank] = doc[order]
        new["pos"][local_sorted, rank] = pos[order]
        new["context"][local_sorted, rank] = context[order]
        self._merge_samples(new, touched)

    def _fit_window(self, context: torch.Tensor) -> torch.Tensor:
        if context.shape[-1] == self.window:
            return context
        out = torch.full((*context.shape[:-1], self.window), -1, dtype=torch.int32)
        n = min(self.window, context.shape[-1])
        out[..., :n] = context[..., :n]
        return out

    def _empty(self, n: int) -> dict[str, torch.Tensor]:
        return {
            "values": torch.full((n, self.k), float("-inf")),
            "token": torch.full((n, self.k), -1, dtype=torch.int32),
            "doc": torch.full((n, self.k), -1, dtype=torch.int32),
            "pos": torch.full((n, self.k), -1, dtype=torch.int32),
            "context": torch.full((n, self.k, self.window), -1, dtype=torch.int32),
        }

    def _merge_samples(self, other: dict[str, torch.Tensor], latents: torch.Tensor | None = None) -> None:
        """Keep the top ``k`` of (self, other) per latent, counting each (doc, pos) once.

        ``other`` holds rows for ``latents`` (all latents when None).
        """
        idx = slice(None) if latents is None else latents
        old_doc, old_pos = self.doc[idx], self.pos[idx]
        # a (doc, pos) already kept for this latent (a second epoch, a resumed run) stays once,
        # with the larger of its two activations
        new_key = other["doc"].long() * (1 << 32) + other["pos"]  # (t, k)
        old_key = old_doc.long() * (1 << 32) + old_pos
        old_values, new_values = self.values[idx], other["values"]
        same = (new_key[:, :, None] == old_key[:, None, :]) & (other["doc"] >= 0)[:, :, None]  # (t, k_new, k_old)
        new_wins = new_values[:, :, None] > old_values[:, None, :]  # (t, k_new, k_old)
        drop_new = (same & ~new_wins).any(2)  # (t, k)
        drop_old = (same & new_wins).any(1)
        values = torch.cat([old_values.masked_fill(drop_old, float("-inf")),
                            new_values.masked_fill(drop_new, float("-inf"))], dim=1)  # (t, 2k)
        top_values, top = values.topk(self.k, dim=1)  # (t, k), sorted descending
        self.values[idx] = top_values
        self.doc[idx] = torch.cat([old_doc, other["doc"]], dim=1).gather(1, top)
        self.pos[idx] = torch.cat([old_pos, other["pos"]], dim=1).gather(1, top)
        self.token[idx] = torch.cat([self.token[idx], other["token"]], dim=1).gather(1, top)
        context = torch.cat([self.context[idx], other["context"]], dim=1)  # (t, 2k, W)
        self.context[idx] = context.gather(1, top[..., None].expand(-1, -1, self.window))  # (t, k, W)

    def merge(self, other: TopActivations) -> None:
        """Fold another store (e.g. another DDP rank's) into this one."""
        self.flush()
        other.flush()
        self._merge_samples({name: getattr(other, name) for name in ("values", "token", "doc", "pos", "context")})
        self.count += other.count
        self.total += other.total
        self.maximum = torch.maximum(self.maximum, other.maximum)
        self.hist += other.hist
        self.tokens_seen += other.tokens_seen

    # ----- state --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        self.flush()
        return {"d_sae": self.d_sae, "k": self.k, "window": self.window, "threshold": self.threshold,
                **{name: getattr(self, name).clone() for name in self.TENSORS}}

    @classmethod
    def from_state_dict(cls, state: dict) -> TopActivations:
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
        self.flush()
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
