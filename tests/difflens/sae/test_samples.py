"""The vectorised top-k store agrees with a brute-force reference, merges and round-trips."""

import torch

from difflens.sae import SparseCodes
from difflens.sae.samples import TopActivations

D_SAE, K, W = 41, 4, 5


def random_batch(seed, B=37, nnz_per_row=6, doc_offset=0):
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(B, nnz_per_row, generator=g) * 3 - 0.5  # some at or below the threshold
    cols = torch.stack([torch.randperm(D_SAE, generator=g)[:nnz_per_row] for _ in range(B)])
    codes = SparseCodes.from_topk(values, cols, D_SAE)
    token = torch.randint(0, 99, (B,), generator=g)
    doc = torch.arange(B) + doc_offset
    pos = torch.randint(1, 50, (B,), generator=g)
    context = torch.randint(0, 99, (B, W), generator=g)
    return codes, token, doc, pos, context


def reference(batches, threshold=0.0):
    """Per feature, the sorted list of (value, doc, pos) above threshold, top K."""
    best = {i: [] for i in range(D_SAE)}
    for codes, token, doc, pos, context in batches:
        for v, r, c in zip(codes.values.tolist(), codes.rows.tolist(), codes.cols.tolist()):
            if v > threshold:
                best[c].append((v, int(doc[r]), int(pos[r]), int(token[r]), context[r].tolist()))
    return {i: sorted(s, key=lambda t: -t[0])[:K] for i, s in best.items()}


def as_lists(store):
    return {i: [(s["activation"], s["doc"], s["pos"], s["token"], s["context"]) for s in store.samples(i)]
            for i in range(D_SAE)}


def assert_same(store, ref):
    got = as_lists(store)
    for i in range(D_SAE):
        assert len(got[i]) == len(ref[i]), i
        for a, b in zip(got[i], ref[i]):
            assert abs(a[0] - b[0]) < 1e-6 and a[1:] == b[1:], (i, a, b)


def test_matches_brute_force_over_several_updates():
    batches = [random_batch(s, doc_offset=100 * s) for s in range(4)]
    store = TopActivations(D_SAE, K, W, threshold=0.0)
    for b in batches:
        store.update(*b)
    assert_same(store, reference(batches))
    counts = torch.zeros(D_SAE, dtype=torch.long)
    for codes, *_ in batches:
        counts += torch.bincount(codes.cols[codes.values > 0], minlength=D_SAE)
    assert torch.equal(store.count, counts)
    assert int(store.tokens_seen) == 4 * 37
    assert int(store.hist.sum()) == int(counts.sum())


def test_merge_of_two_stores_equals_one_store():
    batches = [random_batch(s, doc_offset=100 * s) for s in range(4)]
    a, b, both = (TopActivations(D_SAE, K, W) for _ in range(3))
    for i, batch in enumerate(batches):
        (a if i % 2 else b).update(*batch)
        both.update(*batch)
    a.merge(b)
    assert_same(a, reference(batches))
    assert as_lists(a) == as_lists(both)
    assert torch.equal(a.count, both.count) and torch.equal(a.hist, both.hist)


def test_same_token_seen_twice_is_kept_once():
    batch = random_batch(0)
    store = TopActivations(D_SAE, K, W)
    store.update(*batch)
    store.update(*batch)  # a second epoch over the same documents
    assert_same(store, reference([batch]))


def test_state_dict_round_trip():
    store = TopActivations(D_SAE, K, W, threshold=0.5)
    store.update(*random_batch(3))
    again = TopActivations.from_state_dict(store.state_dict())
    assert as_lists(again) == as_lists(store)
    assert torch.equal(again.hist, store.hist) and again.threshold == 0.5


def test_token_seen_in_two_epochs_keeps_its_best_activation():
    codes, token, doc, pos, context = random_batch(0)
    later = SparseCodes(codes.values * 1.1, codes.rows, codes.cols, codes.n_rows, codes.d_sae)
    store = TopActivations(D_SAE, K, W)
    store.update(codes, token, doc, pos, context)
    store.update(later, token, doc, pos, context)  # same tokens, the dictionary has changed
    assert_same(store, reference([(later, token, doc, pos, context)]))


def test_a_better_activation_of_a_kept_token_replaces_it():
    codes, token, doc, pos, context = random_batch(0)
    later = SparseCodes(codes.values * 1.1, codes.rows, codes.cols, codes.n_rows, codes.d_sae)
    store = TopActivations(D_SAE, K, W)
    store.update(codes, token, doc, pos, context)
    store.flush()  # the first epoch is merged (as at a checkpoint) before the second arrives
    store.update(later, token, doc, pos, context)
    assert_same(store, reference([(later, token, doc, pos, context)]))
