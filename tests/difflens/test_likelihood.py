"""Teacher-forced log-probabilities: equal to transformers' own scores of a generation, batch-independent."""

import pytest
import torch

from difflens.likelihood import continuation_logprobs
from tests.conftest import make_tiny_gpt2

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

PROMPTS = ["The ocean is", "We saw a very small", "Perhaps", "A knight moves across the board and"]


def generated(model, tokenizer, prompt, n=8):
    """Greedy continuation ids of ``prompt`` and transformers' log-probability of each of them."""
    enc = tokenizer([prompt], return_tensors="pt")
    out = model.generate(**enc, do_sample=False, max_new_tokens=n, pad_token_id=tokenizer.pad_token_id,
                         output_scores=True, return_dict_in_generate=True)
    scores = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)  # (1, n)
    return out.sequences[0, enc["input_ids"].shape[1]:].tolist(), scores[0]


def test_equals_transformers_transition_scores(tiny_gpt2, tokenizer):
    checked = 0
    for prompt in PROMPTS:
        ids, scores = generated(tiny_gpt2, tokenizer, prompt)
        text = tokenizer.decode(ids)
        if tokenizer(text, add_special_tokens=False)["input_ids"] != ids:
            continue  # a continuation that re-encodes to other tokens is scored on those tokens
        (ours,) = continuation_logprobs(tiny_gpt2, tokenizer, [prompt], [text])
        assert ours == pytest.approx(float(scores.sum()), abs=1e-4)
        checked += 1
    assert checked >= 2


def test_batch_independent_and_the_same_model_gives_ratio_zero(tiny_gpt2, tokenizer):
    texts = [" waves and the harbor", " is nothing", "", " the bishop took the rook while"]
    prompts = ["", "The ocean is", "Perhaps", "A knight moves across the board and"]
    one = [continuation_logprobs(tiny_gpt2, tokenizer, [p], [t])[0] for p, t in zip(prompts, texts)]
    batched = continuation_logprobs(tiny_gpt2, tokenizer, prompts, texts, batch_size=3)
    assert batched == pytest.approx(one, abs=1e-4)
    assert batched[2] == 0.0 and all(x < 0 for i, x in enumerate(batched) if i != 2)
    # another model gives other numbers: the ratio between the two is what active sampling uses
    other = make_tiny_gpt2(tokenizer, seed=5).eval()
    assert continuation_logprobs(other, tokenizer, prompts, texts) != pytest.approx(batched, abs=1e-3)


def test_a_text_longer_than_the_context_keeps_its_last_positions(tiny_gpt2, tokenizer):
    limit = tiny_gpt2.config.n_positions
    long_text = " the ocean" * limit
    (value,) = continuation_logprobs(tiny_gpt2, tokenizer, ["A long prompt about the sea"], [long_text])
    assert torch.isfinite(torch.tensor(value)) and value < 0
    with pytest.raises(ValueError, match="2 prompts but 1 texts"):
        continuation_logprobs(tiny_gpt2, tokenizer, ["a", "b"], ["c"])
