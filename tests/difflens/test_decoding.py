"""Batched sampling: equal to transformers' generate when greedy, independent of the batch when sampling."""

import pytest
import torch

from difflens.decoding import (
    DecodingJob,
    SamplingConfig,
    length_batches,
    plan_jobs,
    prompt_seed,
    sample_batch,
    sample_tokens,
)
from difflens.errors import ConfigError
from difflens.prompts import free_prompts, prefix_prompts

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


PROMPTS = ["", "The ocean is", "We saw a very small", "", "Perhaps", "A knight moves across the board and"]


def test_greedy_batch_equals_generate_one_prompt_at_a_time(tiny_gpt2, tokenizer):
    config = SamplingConfig(max_new_tokens=10, temperature=0)
    batched = sample_batch(tiny_gpt2, tokenizer, PROMPTS, list(range(len(PROMPTS))), config)
    for prompt, cont in zip(PROMPTS, batched):
        enc = tokenizer([prompt], return_tensors="pt")
        out = tiny_gpt2.generate(**enc, do_sample=False, max_new_tokens=10, pad_token_id=tokenizer.pad_token_id)
        new = out[0, enc["input_ids"].shape[1]:].tolist()
        if tokenizer.eos_token_id in new:
            new = new[: new.index(tokenizer.eos_token_id) + 1]
        assert cont.n_tokens == len(new)
        assert cont.text == tokenizer.decode(new, skip_special_tokens=True)


def test_sampled_texts_depend_on_seed_not_on_batch(tiny_gpt2, tokenizer):
    config = SamplingConfig(max_new_tokens=12, temperature=1.0)
    seeds = [11, 12, 13, 14, 15, 16]
    batched = sample_batch(tiny_gpt2, tokenizer, PROMPTS, seeds, config)
    alone = [sample_batch(tiny_gpt2, tokenizer, [p], [s], config)[0] for p, s in zip(PROMPTS, seeds)]
    assert [c.text for c in batched] == [c.text for c in alone]
    # same prompt "" with different seeds gives different texts; same seed the same text
    assert batched[0].text != batched[3].text
    again = sample_batch(tiny_gpt2, tokenizer, ["", ""], [11, 11], config)
    assert again[0].text == again[1].text == batched[0].text


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    config = SamplingConfig(top_p=0.7)
    draws = {int(sample_tokens(logits, torch.tensor([u]), config)) for u in torch.linspace(0, 0.999, 200).tolist()}
    assert draws == {0, 1}
    full = {int(sample_tokens(logits, torch.tensor([u]), SamplingConfig()))
            for u in torch.linspace(0, 0.999, 200).tolist()}
    assert full == {0, 1, 2, 3}


def test_stops_at_end_of_text(tiny_gpt2, tokenizer):
    # make the end token overwhelmingly likely: every text is empty with one generated token
    bias = torch.zeros(len(tokenizer))
    bias[tokenizer.eos_token_id] = 50.0
    handle = tiny_gpt2.lm_head.register_forward_hook(lambda m, i, o: o + bias)
    try:
        out = sample_batch(tiny_gpt2, tokenizer, PROMPTS, list(range(6)), SamplingConfig(max_new_tokens=8))
    finally:
        handle.remove()
    assert [(c.text, c.n_tokens) for c in out] == [("", 1)] * 6


@pytest.mark.parametrize("kwargs", [{"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}])
def test_sampling_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        SamplingConfig(**kwargs)


def test_max_new_tokens_beyond_context_is_a_clear_error(tiny_gpt2, tokenizer):
    with pytest.raises(ConfigError, match="lower max_new_tokens"):
        sample_batch(tiny_gpt2, tokenizer, ["x"], [0], SamplingConfig(max_new_tokens=64))


def test_seeds_are_stable_and_distinct():
    assert prompt_seed(0, "free:1") == prompt_seed(0, "free:1")
    seeds = {prompt_seed(0, f"free:{i}", s) for i in range(200) for s in range(3)}
    assert len(seeds) == 600


def test_length_batches_group_similar_lengths_and_cover_every_job():
    jobs = plan_jobs(prefix_prompts(40) + free_prompts(10), samples_per_prompt=2, seed=0)
    batches = length_batches(jobs, 16)
    assert sorted(j.key for b in batches for j in b) == sorted(j.key for j in jobs)
    assert all(isinstance(j, DecodingJob) for b in batches for j in b)
    spans = [max(len(j.prompt) for j in b) - min(len(j.prompt) for j in b) for b in batches]
    assert batches[0][0].prompt == "" and max(spans) < 40


def test_a_uniform_next_to_one_never_draws_a_token_without_probability():
    # top_p drops the last two tokens; a uniform whose product with the total rounds up to it
    # must still draw a kept token
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.09, 0.01]]))
    draw = sample_tokens(logits, torch.tensor([1 - 1e-12], dtype=torch.float64), SamplingConfig(top_p=0.8))
    assert int(draw) in {0, 1}
    assert int(sample_tokens(logits, torch.tensor([1 - 1e-12], dtype=torch.float64), SamplingConfig())) == 3


LONG_PROMPT = "the waves roll over the reef and the gulls cry"


def test_continuous_batching_matches_generate_when_greedy(tiny_gpt2, tokenizer):
    # two rows at a time: ended rows take new prompts, and the long prompt arrives when the
    # cache is shorter than it (the cache is padded on the left)
    prompts = [*PROMPTS, LONG_PROMPT, "x"]
    config = SamplingConfig(max_new_tokens=10, temperature=0)
    refilled = sample_batch(tiny_gpt2, tokenizer, prompts, list(range(len(prompts))), config, max_rows=2)
    for prompt, cont in zip(prompts, refilled):
        enc = tokenizer([prompt], return_tensors="pt")
        out = tiny_gpt2.generate(**enc, do_sample=False, max_new_tokens=10, pad_token_id=tokenizer.pad_token_id)
        assert cont.text == tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_continuous_batching_keeps_each_prompts_sampled_text(tiny_gpt2, tokenizer):
    # a likelier end token gives texts of many lengths, so slots are reused at different steps
    bias = torch.zeros(len(tokenizer))
    bias[tokenizer.eos_token_id] = 3.0
    handle = tiny_gpt2.lm_head.register_forward_hook(lambda m, i, o: o + bias)
    prompts = PROMPTS * 3 + [LONG_PROMPT]
    seeds = list(range(100, 100 + len(prompts)))
    config = SamplingConfig(max_new_tokens=16)
    try:
        refilled = sample_batch(tiny_gpt2, tokenizer, prompts, seeds, config, max_rows=3)
        alone = [sample_batch(tiny_gpt2, tokenizer, [p], [s], config)[0] for p, s in zip(prompts, seeds)]
    finally:
        handle.remove()
    assert [(c.text, c.n_tokens) for c in refilled] == [(c.text, c.n_tokens) for c in alone]
    assert len({c.n_tokens for c in refilled}) >= 4


def test_max_rows_must_be_positive(tiny_gpt2, tokenizer):
    with pytest.raises(ConfigError, match="max_rows"):
        sample_batch(tiny_gpt2, tokenizer, ["x"], [0], SamplingConfig(max_new_tokens=4), max_rows=0)


def test_ended_rows_waiting_for_a_new_prompt_never_step_past_the_context(tiny_gpt2, tokenizer, toy_texts):
    # prompts that fill the room before max_new_tokens: a row that ends at the context's last
    # position and waits in its slot for the next group of prompts must not index past it
    bias = torch.zeros(len(tokenizer))
    bias[tokenizer.eos_token_id] = 2.0
    handle = tiny_gpt2.lm_head.register_forward_hook(lambda m, i, o: o + bias)
    long = " ".join(toy_texts[0].split()[:80])  # cut to its last 54 tokens (64 positions - 10 new)
    try:
        out = sample_batch(tiny_gpt2, tokenizer, [long] * 40, list(range(40)), SamplingConfig(max_new_tokens=10),
                           max_rows=16)
    finally:
        handle.remove()
    assert len(out) == 40 and all(1 <= c.n_tokens <= 10 for c in out)


def test_continuous_batching_matches_generate_for_a_rotary_model_with_grouped_heads(tokenizer):
    # the cache and masks are model-agnostic: a tiny Llama (rotary positions, 4 query heads on 2
    # key/value heads) decodes the same greedy texts two rows at a time as generate does alone
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)).eval()
    prompts = [*PROMPTS, LONG_PROMPT]
    out = sample_batch(model, tokenizer, prompts, list(range(len(prompts))),
                       SamplingConfig(max_new_tokens=10, temperature=0), max_rows=2)
    for prompt, cont in zip(prompts, out):
        enc = tokenizer([prompt], return_tensors="pt")
        generated = model.generate(**enc, do_sample=False, max_new_tokens=10, pad_token_id=tokenizer.pad_token_id)
        assert cont.text == tokenizer.decode(generated[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_logprobs_while_sampling_equal_teacher_forcing_on_the_same_tokens(tiny_gpt2, tokenizer):
    from difflens.likelihood import sequence_logprobs

    config = SamplingConfig(max_new_tokens=12, top_p=0.9)  # the model's own probabilities, not the nucleus's
    continuations = sample_batch(tiny_gpt2, tokenizer, PROMPTS, list(range(len(PROMPTS))), config, max_rows=3,
                                 logprobs=True)
    plain = sample_batch(tiny_gpt2, tokenizer, PROMPTS, list(range(len(PROMPTS))), config, max_rows=3)
    assert [c.text for c in continuations] == [c.text for c in plain] and plain[0].logprob is None
    forced = sequence_logprobs(tiny_gpt2, [c.prompt_ids for c in continuations], [c.text_ids for c in continuations])
    assert [c.logprob for c in continuations] == pytest.approx(forced, abs=1e-3)
    assert all(len(c.text_ids) <= c.n_tokens for c in continuations)
