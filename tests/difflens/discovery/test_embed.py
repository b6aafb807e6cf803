"""Embeddings are cached by text hash and model name; a rerun over known texts loads no model."""

import numpy as np
import pytest

from difflens.discovery.embed import (
    EmbeddingCache,
    TextEmbedder,
    load_sentence_encoder,
    model_slug,
    text_key,
    text_keys,
)
from difflens.errors import DataError, ModelLoadError


class NoModel:
    """An encoder that must not be used: any call fails the test."""

    def encode(self, *args, **kwargs):
        raise AssertionError("the model was run although every text was cached")


def test_cache_serves_known_texts_without_the_model(tmp_path, embedder):
    texts = ["The tide rolls over the reef.", "A knight takes the bishop.", "The tide rolls over the reef."]
    first = TextEmbedder("all-MiniLM-L6-v2", cache_dir=tmp_path, encoder=embedder)
    x = first.encode(texts)
    assert x.shape == (3, 384) and first.n_encoded == 2  # the repeated text is encoded once
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(x[0], x[2])
    direct = embedder.encode(texts[:2], normalize_embeddings=True)
    np.testing.assert_allclose(x[:2], direct, atol=1e-5)

    again = TextEmbedder("all-MiniLM-L6-v2", cache_dir=tmp_path, encoder=NoModel())
    np.testing.assert_allclose(again.encode(list(reversed(texts))), x[::-1])
    assert again.n_encoded == 0

    # another model name never reads this model's vectors
    other = TextEmbedder("some/other-model", cache_dir=tmp_path, encoder=NoModel())
    with pytest.raises(AssertionError, match="model was run"):
        other.encode(texts[:1])
    assert model_slug("some/other-model") != model_slug("all-MiniLM-L6-v2")


def test_new_texts_are_added_to_the_cache(tmp_path, embedder):
    e = TextEmbedder(cache_dir=tmp_path, encoder=embedder)
    e.encode(["one"])
    e2 = TextEmbedder(cache_dir=tmp_path, encoder=embedder)
    e2.encode(["one", "two"])
    assert e2.n_encoded == 1
    assert len(list((tmp_path / model_slug("all-MiniLM-L6-v2")).glob("part-*.keys.npy"))) == 2


def test_missing_embedding_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_sentence_encoder(str(tmp_path / "nope"))


class HashEncoder:
    """A stand-in encoder: a unit vector from each text's hash (fast, deterministic)."""

    def encode(self, texts, **kwargs):
        rows = [np.random.default_rng(list(text_key(t).encode())).standard_normal(12) for t in texts]
        return np.array([r / np.linalg.norm(r) for r in rows], dtype=np.float32)


def test_texts_in_one_run_of_a_part_are_served_from_the_map_without_a_copy(tmp_path):
    texts = [f"text {i}" for i in range(50)]
    e = TextEmbedder(cache_dir=tmp_path, encoder=HashEncoder())
    x = e.encode(texts)
    again = TextEmbedder(cache_dir=tmp_path, encoder=NoModel())
    run = again.matrix(texts[10:30])
    assert isinstance(run, np.memmap) and not run.flags.writeable
    np.testing.assert_array_equal(run, x[10:30])
    # out of order, repeated, across two parts: gathered, same vectors
    e.encode(["late one", "late two"])
    mixed = ["late two", *texts[5:8], "late two", texts[0]]
    gathered = again.matrix(mixed)
    assert not isinstance(gathered, np.memmap) and again.n_encoded == 0
    np.testing.assert_array_equal(gathered, HashEncoder().encode(mixed))


def test_first_format_parts_are_still_read(tmp_path):
    texts = ["old one", "old two"]
    vectors = HashEncoder().encode(texts)
    directory = tmp_path / model_slug("all-MiniLM-L6-v2")
    directory.mkdir()
    np.savez(directory / "part-old.npz", keys=np.asarray([text_key(t) for t in texts]), vectors=vectors)
    e = TextEmbedder(cache_dir=tmp_path, encoder=HashEncoder())
    np.testing.assert_array_equal(e.encode(["old two", "new", "old one"]),
                                  HashEncoder().encode(["old two", "new", "old one"]))
    assert e.n_encoded == 1 and len(list(directory.glob("part-*.keys.npy"))) == 1


def test_a_part_is_invisible_until_its_keys_are_committed(tmp_path):
    cache = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2")
    writer = cache.open_part(3, 4)
    writer.array[:] = np.eye(3, 4)
    assert EmbeddingCache(tmp_path, "all-MiniLM-L6-v2").parts() == []
    writer.commit([text_key(t) for t in "abc"])
    reader = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2")
    np.testing.assert_array_equal(reader.matrix(text_keys(["c", "a"])), np.eye(3, 4)[[2, 0]])
    with pytest.raises(DataError, match="1 texts are not in the embedding cache"):
        reader.matrix(text_keys(["a", "zzz"]))


def test_vectors_gathered_a_few_rows_at_a_time_from_several_parts(tmp_path, monkeypatch):
    import difflens.discovery.embed as embed

    cache = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2")
    vectors = np.arange(7 * 4 * 3, dtype=np.float32).reshape(7 * 4, 3)
    for p in range(4):  # four parts of seven rows
        cache.add([text_key(f"t{i}") for i in range(7 * p, 7 * p + 7)], vectors[7 * p: 7 * p + 7])
    order = np.random.default_rng(0).permutation(len(vectors))  # no run of one part: a gather
    keys = text_keys([f"t{i}" for i in order])
    monkeypatch.setattr(embed, "GATHER_ROWS", 2)
    np.testing.assert_array_equal(EmbeddingCache(tmp_path, "all-MiniLM-L6-v2").matrix(keys), vectors[order])


def test_parts_added_after_the_index_is_built_are_merged_into_it(tmp_path):
    cache = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2")
    vectors = np.arange(30, dtype=np.float32).reshape(10, 3)
    cache.add(text_keys([f"t{i}" for i in range(6)]), vectors[:6])
    np.testing.assert_array_equal(cache.matrix(text_keys(["t5", "t0"])), vectors[[5, 0]])  # the index is built
    # two parts from elsewhere (another cache object): new keys, and t2 again
    other = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2")
    other.add(text_keys([f"t{i}" for i in (8, 6, 9, 7)]), vectors[[8, 6, 9, 7]])
    other.add(text_keys(["t2"]), vectors[[2]])
    keys = text_keys([f"t{i}" for i in (9, 2, 7, 0, 6)])
    np.testing.assert_array_equal(cache.matrix(keys), vectors[[9, 2, 7, 0, 6]])
    assert len(cache._index[0]) == 11
