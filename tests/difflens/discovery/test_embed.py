"""Embeddings are cached by text hash and model name; a rerun over known texts loads no model."""

import numpy as np
import pytest

from difflens.discovery.embed import TextEmbedder, load_sentence_encoder, model_slug
from difflens.errors import ModelLoadError


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
