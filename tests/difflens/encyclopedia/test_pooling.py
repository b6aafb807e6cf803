"""Span masks and pooling on the tiny tokenizer and hand-made hidden states."""

import pytest
import torch

from difflens.encyclopedia.pooling import (
    capture_batch,
    check_poolings,
    encode_contexts,
    pool,
    resolve_layers,
    tokenize_contexts,
)
from difflens.errors import ConfigError


def test_span_mask_marks_the_concept_tokens(tokenizer):
    texts = ["The lighthouse was there.", " reef", "Something salty and tidal."]
    batch = encode_contexts(tokenizer, texts, [(4, 14), (1, 5), None])
    ids, span, content = batch["input_ids"], batch["span_mask"], batch["content_mask"]
    assert ids[0, 0] == tokenizer.bos_token_id and not content[:, 0].any()  # BOS is not content
    assert tokenizer.decode(ids[0][span[0]]).strip() == "lighthouse"
    assert tokenizer.decode(ids[1][span[1]]).strip() == "reef"
    assert not span[2].any() and content[2].sum() == batch["attention_mask"][2].sum() - 1


def test_pool_variants():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)  # (B, T, H)
    span = torch.tensor([[False, True, True, False], [False, False, False, False]])
    content = torch.tensor([[False, True, True, True], [False, True, True, False]])
    assert pool(hidden, span, content, "span_mean")[0].tolist() == hidden[0, 1:3].mean(0).tolist()
    assert pool(hidden, span, content, "span_last")[0].tolist() == hidden[0, 2].tolist()
    assert pool(hidden, span, content, "context_mean")[0].tolist() == hidden[0, 1:4].mean(0).tolist()
    # no span: every pooling falls back to the context (row 2 has content at 1..2)
    assert pool(hidden, span, content, "span_mean")[1].tolist() == hidden[1, 1:3].mean(0).tolist()
    assert pool(hidden, span, content, "span_last")[1].tolist() == hidden[1, 2].tolist()


def test_capture_batch_is_independent_of_padding(tiny_gpt2, tokenizer):
    texts = ["The reef was there.", "We talked about the reef and the tide for an hour today."]
    spans = [(4, 8), (20, 24)]
    batched = capture_batch(tiny_gpt2, encode_contexts(tokenizer, texts, spans), [0, 1], ["span_mean", "span_last"])
    for i in range(2):
        alone = capture_batch(tiny_gpt2, encode_contexts(tokenizer, texts[i:i + 1], spans[i:i + 1]), [0, 1],
                              ["span_mean", "span_last"])
        for key in alone:
            torch.testing.assert_close(batched[key][i], alone[key][0], atol=1e-5, rtol=1e-4)
    assert batched[(1, "span_mean")].shape == (2, 36)


def test_layer_and_pooling_checks():
    assert resolve_layers([-1, 0, 2, 2], 3) == [0, 2]
    with pytest.raises(ConfigError, match="out of range"):
        resolve_layers([5], 3)
    with pytest.raises(ConfigError, match="unknown pooling"):
        check_poolings(["max"])


def test_contexts_tokenised_once_batch_as_encode_contexts_does(tokenizer):
    texts = ["The lighthouse was there.", " reef", "Something salty and tidal.", "",
             "A very long sentence that goes on and on about the reef and the tide and the boats."]
    spans = [(4, 14), (1, 5), None, None, (48, 52)]  # the last span is truncated away at 12 tokens
    tokens = tokenize_contexts(tokenizer, texts, spans, max_length=12)
    for rows in ([0, 1, 2, 3, 4], [4, 1], [1], [3, 0, 2]):
        expected = encode_contexts(tokenizer, [texts[i] for i in rows], [spans[i] for i in rows], max_length=12)
        got = tokens.batch(rows)
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key].dtype == expected[key].dtype and torch.equal(got[key], expected[key]), key
    assert tokens.lengths.tolist() == [len(tokenizer(t, truncation=True, max_length=12)["input_ids"]) for t in texts]
