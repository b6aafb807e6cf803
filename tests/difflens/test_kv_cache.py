"""RowCache: steps write in place; row slots are replaced; rebuilds keep, trim and pad."""

import pytest
import torch

from difflens.kv_cache import RowCache


def column_values(cache: RowCache) -> list[list[float]]:
    return cache.layers[0].keys[:, 0, :, 0].tolist()  # (rows, columns) of the first head and feature


def filled(rows: int, columns: int, start: float) -> torch.Tensor:
    return (torch.arange(rows * columns, dtype=torch.float32) + start).view(rows, 1, columns, 1)


def test_steps_write_into_the_buffer_without_reallocating():
    cache = RowCache(headroom=4)
    cache.update(filled(2, 3, 0), filled(2, 3, 100), 0)
    buffer = cache.layers[0].key_buffer
    _keys, values = cache.update(filled(2, 1, 50), filled(2, 1, 150), 0)
    assert cache.layers[0].key_buffer is buffer
    assert column_values(cache) == [[0, 1, 2, 50], [3, 4, 5, 51]]
    assert values[:, 0, :, 0].tolist() == [[100, 101, 102, 150], [103, 104, 105, 151]]
    assert cache.get_seq_length() == 4
    # beyond the headroom the buffer grows and keeps what it held
    for step in range(4):
        cache.update(filled(2, 1, 60 + 2 * step), filled(2, 1, 0), 0)
    assert cache.get_seq_length() == 8
    assert column_values(cache)[0] == [0, 1, 2, 50, 60, 62, 64, 66]


def test_write_rows_replaces_a_slot_in_its_last_columns():
    cache = RowCache(headroom=2)
    cache.update(filled(2, 3, 0), filled(2, 3, 0), 0)
    new = RowCache(headroom=0)
    new.update(torch.full((1, 1, 2, 1), -1.0), torch.full((1, 1, 2, 1), -1.0), 0)
    cache.write_rows(torch.tensor([1]), new)
    assert column_values(cache) == [[0, 1, 2], [3, -1, -1]]  # column 0 of row 1 is now hidden by the mask
    longer = RowCache(headroom=0)
    longer.update(filled(1, 4, 0), filled(1, 4, 0), 0)
    with pytest.raises(ValueError, match="rebuild"):
        cache.write_rows(torch.tensor([0]), longer)


def test_rebuild_keeps_rows_drops_and_pads_columns():
    cache = RowCache(headroom=2)
    cache.update(filled(3, 3, 0), filled(3, 3, 0), 0)
    cache.rebuild(torch.tensor([2, 0]), drop_left=1)
    assert column_values(cache) == [[7, 8], [1, 2]]
    cache.rebuild(pad_left=2)
    assert column_values(cache) == [[0, 0, 7, 8], [0, 0, 1, 2]]
    cache.update(filled(2, 1, 20), filled(2, 1, 20), 0)  # within the new headroom
    assert column_values(cache) == [[0, 0, 7, 8, 20], [0, 0, 1, 2, 21]]
    cache.batch_select_indices(torch.tensor([1]))
    assert column_values(cache) == [[0, 0, 1, 2, 21]]


def test_drop_columns_needs_no_copy_and_later_steps_and_rows_follow_it():
    cache = RowCache(headroom=2)
    cache.update(filled(2, 3, 0), filled(2, 3, 0), 0)
    buffer = cache.layers[0].key_buffer
    cache.drop_columns(1)
    assert cache.layers[0].key_buffer is buffer and cache.get_seq_length() == 2
    assert column_values(cache) == [[1, 2], [4, 5]]
    new = RowCache(headroom=0)
    new.update(torch.full((1, 1, 1, 1), -1.0), torch.full((1, 1, 1, 1), -1.0), 0)
    cache.write_rows(torch.tensor([0]), new)
    for step in range(3):  # the third step is past the headroom: the buffer grows without the dropped column
        cache.update(filled(2, 1, 20 + 2 * step), filled(2, 1, 0), 0)
    assert column_values(cache) == [[1, -1, 20, 22, 24], [4, 5, 21, 23, 25]]
