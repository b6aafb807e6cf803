"""A KV cache for continuous batching: preallocated, right-aligned, with reusable row slots.

``transformers``' `DynamicCache` concatenates every new token onto the cache, which copies the
whole cache at every decoding step; on CPU that copy costs about as much as the attention
itself. `RowCache` writes each step's keys and values into a preallocated buffer instead and
hands the attention a view of the filled columns.

Rows are right-aligned: the newest token of every row sits in the last filled column, so one
``cache_position`` serves the whole batch while each row's own positions come from
``position_ids`` and its padding from the attention mask. That layout is what continuous
batching needs: a row whose text has ended can take a new prompt (`RowCache.write_rows`: its
prefilled keys go in the row's last columns, the mask hides the rest), so a batch stays full
instead of draining to its longest text; `RowCache.drop_columns` stops attending to leading
columns nobody attends to any more (no copy), `RowCache.rebuild` drops rows, or pads on the left
for a prompt longer than the cache.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer


class RowCacheLayer(DynamicLayer):
    """One attention layer's keys and values in ``(rows, heads, capacity, head_dim)`` buffers.

    Columns ``[start, length)`` are the cache; ``keys``/``values`` (what the attention reads) are
    views of them. Columns before ``start`` were dropped without a copy and are reclaimed at the
    next reallocation. Every (re)allocation reserves ``headroom`` spare columns, so that many
    steps are plain writes.
    """

    def __init__(self, headroom: int = 64):
        super().__init__()
        self.headroom = headroom
        self.key_buffer: torch.Tensor | None = None
        self.value_buffer: torch.Tensor | None = None
        self.start = 0
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        self.is_initialized = True

    def _publish(self) -> None:
        self.keys = self.key_buffer[:, :, self.start:self.length]
        self.values = self.value_buffer[:, :, self.start:self.length]

    def _reallocate(self, rows: torch.Tensor | None, drop_left: int, pad_left: int, extra: int) -> None:
        """Copy rows ``rows`` (all if None), cache columns ``drop_left`` on, after ``pad_left`` zero
        columns, into new buffers with ``extra`` + headroom spare columns.

        The spare columns are left uninitialised: they are written before the attention reads them.
        The padding columns are zeroed, since the mask hides them but a NaN would still spread.
        """
        keys, values = self.key_buffer, self.value_buffer
        if rows is not None:
            keys, values = keys[rows], values[rows]
        first = self.start + drop_left
        span = self.length - first
        shape = (keys.shape[0], keys.shape[1], pad_left + span + extra + self.headroom, keys.shape[3])
        self.key_buffer, self.value_buffer = keys.new_empty(shape), values.new_empty(shape)
        for new, old in ((self.key_buffer, keys), (self.value_buffer, values)):
            new[:, :, :pad_left] = 0
            new[:, :, pad_left:pad_left + span] = old[:, :, first:self.length]
        self.start, self.length = 0, pad_left + span
        self._publish()

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        if self.key_buffer is None:
            shape = (*key_states.shape[:2], n + self.headroom, key_states.shape[3])
            self.key_buffer, self.value_buffer = key_states.new_empty(shape), value_states.new_empty(shape)
        elif self.length + n > self.key_buffer.shape[-2]:
            self._reallocate(None, 0, 0, n)
        self.key_buffer[:, :, self.length:self.length + n] = key_states
        self.value_buffer[:, :, self.length:self.length + n] = value_states
        self.length += n
        self._publish()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length - self.start

    def drop_columns(self, n: int) -> None:
        self.start += n
        self._publish()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.key_buffer is not None:
            self._reallocate(indices, 0, 0, 0)

    def write_rows(self, rows: torch.Tensor, new: RowCacheLayer) -> None:
        """Put ``new``'s rows into slots ``rows``, in the last ``new.get_seq_length()`` columns."""
        start = self.length - new.get_seq_length()
        self.key_buffer[rows, :, start:self.length] = new.keys
        self.value_buffer[rows, :, start:self.length] = new.values


class RowCache(Cache):
    """A `Cache` of `RowCacheLayer`s, one per attention layer, created on first use.

    Args:
        headroom: spare columns per (re)allocation; the sampler passes its ``max_new_tokens``.
    """

    def __init__(self, headroom: int = 64):
        # `Cache` calls this factory once per layer on the first update (any number of layers)
        super().__init__(layer_class_to_replicate=lambda: RowCacheLayer(headroom))

    def write_rows(self, rows: torch.Tensor, new: RowCache) -> None:
        """Replace the rows in slots ``rows`` with ``new``'s rows (``new`` must not be longer)."""
        if new.get_seq_length() > self.get_seq_length():
            raise ValueError(f"rows of length {new.get_seq_length()} do not fit a cache of length "
                             f"{self.get_seq_length()}; rebuild(pad_left=...) first")
        for layer, new_layer in zip(self.layers, new.layers):
            layer.write_rows(rows, new_layer)

    def drop_columns(self, n: int) -> None:
        """Stop attending to the first ``n`` columns (padding that no kept row attends to); no copy:
        dropped columns stay in the buffers until the next reallocation."""
        for layer in self.layers:
            layer.drop_columns(n)

    def rebuild(self, rows: torch.Tensor | None = None, drop_left: int = 0, pad_left: int = 0) -> None:
        """Keep only ``rows`` (all if None), drop the first ``drop_left`` columns (padding that no
        kept row attends to) and add ``pad_left`` empty columns on the left. Copies the cache."""
        for layer in self.layers:
            layer._reallocate(rows, drop_left, pad_left, 0)
