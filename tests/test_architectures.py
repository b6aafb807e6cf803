"""The architecture matrix: eleven decoder architectures (tests/architectures.py) through
decoding, LoRA, SAE and transcoder hooks, capture and weightdiff; three BOS/EOS tokenizer
conventions and a chat template through decoding, harvesting, capture spans and the finetune
loss mask. Each model is built once per module; every test is a few tiny forward passes."""

from __future__ import annotations

import pytest
import torch

from difflens.activations import ActivationHarvester, splice_losses
from difflens.decoding import SamplingConfig, sample_batch
from difflens.encyclopedia.pooling import capture_batch, encode_contexts
from difflens.finetune.lora import LoraSpec, apply_lora
from difflens.models import resolve_layer_name
from difflens.weightdiff import diff_models
from difflens.weightdiff.report import weight_layer
from tests.architectures import ARCHITECTURES, CONVENTIONS, make_tiny_model, train_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# lengths from 1 to ~18 tokens: longer than the 8-token sliding window once 10 tokens are added
PROMPTS = ["", "The ocean is", "Perhaps", "We saw a very small knight move across the board and the waves roll over",
           "x", "A storm over the reef"]
GREEDY = SamplingConfig(max_new_tokens=10, temperature=0)


@pytest.fixture(scope="module")
def models(tokenizer):
    cache = {}

    def get(arch):
        if arch not in cache:
            cache[arch] = make_tiny_model(arch, tokenizer)
        return cache[arch]
    return get


def generate_texts(model, tokenizer, prompt_ids: list[list[int]], max_new_tokens: int) -> list[str]:
    """``generate``'s greedy continuation of each token list, one at a time (no padding)."""
    out = []
    for ids in prompt_ids:
        ids = torch.tensor([ids])
        new = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)[0, ids.shape[1]:]
        out.append(tokenizer.decode(new, skip_special_tokens=True))
    return out


def end_bias(model, tokenizer, token: int, quantile: float):
    """Raise ``token``'s logit by the ``quantile`` of its gap to the top logit on a sample text,
    so that greedy decoding picks it at some steps and not others (a random model's logits are
    nearly flat: a fixed bias ends every text or none)."""
    enc = tokenizer(PROMPTS[3], return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits[0]  # (T, V)
    gaps = logits.max(dim=-1).values - logits[:, token]  # (T,)
    bias = torch.zeros(model.config.vocab_size)
    bias[token] = float(gaps.quantile(quantile))
    return model.get_output_embeddings().register_forward_hook(lambda m, i, o: o + bias)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_decoding_with_refills_and_mixed_ages_equals_greedy_generate(arch, models, tokenizer):
    model = models(arch)
    lengths = set()
    # two rows for six prompts: ended rows take new prompts while the other row is mid-text
    for quantile in (0.4, 0.2, 0.6, 0.1):
        handle = end_bias(model, tokenizer, tokenizer.eos_token_id, quantile)
        try:
            ours = sample_batch(model, tokenizer, PROMPTS, list(range(len(PROMPTS))), GREEDY, max_rows=2)
            expected = generate_texts(model, tokenizer, [c.prompt_ids for c in ours], GREEDY.max_new_tokens)
        finally:
            handle.remove()
        assert [c.text for c in ours] == expected, quantile
        lengths = {c.n_tokens for c in ours}
        if len(lengths) >= 2:
            break
    assert len(lengths) >= 2  # texts of different lengths: rows of mixed ages


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_lora_finds_its_targets_and_trains(arch, tokenizer):
    model = apply_lora(make_tiny_model(arch, tokenizer), LoraSpec(r=2))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    ids = torch.tensor([[5, 9, 17, 33, 2, 8]])
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_sae_and_transcoder_hooks_and_capture(arch, models, tokenizer):
    model = models(arch)
    texts = ["The ocean is deep and the waves roll", "Perhaps a knight"]
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    sae = ActivationHarvester(model, "layer.-1")(enc["input_ids"], enc["attention_mask"], torch.arange(2))
    n_real = int(enc["attention_mask"].sum()) - 2  # BOS dropped
    assert sae["x"].shape == (n_real, 48) and torch.isfinite(sae["x"]).all()
    mlp = resolve_layer_name(model, "layer.0.mlp")
    transcoder = ActivationHarvester(model, f"{mlp}:input", hook_out=mlp)(enc["input_ids"], enc["attention_mask"],
                                                                         torch.arange(2))
    assert transcoder["x"].shape == transcoder["y"].shape == (n_real, 48)
    # an SAE that reconstructs perfectly changes nothing; zero-ablating the residual stream does
    losses = splice_losses(model, enc["input_ids"], enc["attention_mask"], "layer.0", lambda x: x)
    assert torch.isclose(losses["spliced"], losses["clean"]) and losses["zero"] != losses["clean"]
    pooled = capture_batch(model, encode_contexts(tokenizer, texts, [(4, 9), None]), [0, 1], ["span_mean"])
    assert {k: v.shape for k, v in pooled.items()} == {(0, "span_mean"): (2, 48), (1, "span_mean"): (2, 48)}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_weightdiff_finds_the_changed_block(arch, models, tokenizer, tmp_path):
    model = models(arch)
    model.save_pretrained(tmp_path / "base")
    tuned = make_tiny_model(arch, tokenizer)
    block = resolve_layer_name(tuned, "layer.1")
    name, weight = next((n, p) for n, p in tuned.named_parameters() if n.startswith(block + ".") and p.dim() == 2)
    with torch.no_grad():
        weight += 0.5 * torch.randn_like(weight)
    tuned.save_pretrained(tmp_path / "tuned")
    diffs = diff_models(tmp_path / "base", tmp_path / "tuned")
    changed = [d.name for d in diffs if d.changed]
    assert changed == [name] and weight_layer(name)[0] == 1


# ---- tokenizer conventions ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def conventions(toy_texts):
    return {c: train_tokenizer(toy_texts[:300], c) for c in CONVENTIONS}


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_decoding_under_each_bos_eos_convention_equals_greedy_generate(convention, conventions):
    tokenizer = conventions[convention]
    model = make_tiny_model("llama", tokenizer)
    ours = sample_batch(model, tokenizer, PROMPTS, list(range(len(PROMPTS))), GREEDY, max_rows=3)
    # an empty prompt starts from BOS, or from EOS (the end of a previous text) without one
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    assert ours[0].prompt_ids == [start]
    first = ours[1].prompt_ids[0]
    assert (first == tokenizer.bos_token_id) == (convention != "no_bos")
    assert [c.text for c in ours] == generate_texts(model, tokenizer, [c.prompt_ids for c in ours],
                                                    GREEDY.max_new_tokens)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_harvesting_drops_bos_only_where_there_is_one(convention, conventions):
    tokenizer = conventions[convention]
    model = make_tiny_model("qwen2", tokenizer)
    texts = ["The ocean is deep", "A knight"]
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    out = ActivationHarvester(model, "layer.0")(enc["input_ids"], enc["attention_mask"], torch.arange(2))
    words = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    assert len(out["x"]) == words  # every real token, no BOS
    assert tokenizer.bos_token_id is None or tokenizer.bos_token_id not in out["token"].tolist()


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_capture_spans_cover_the_concept_and_no_special_token(convention, conventions):
    tokenizer = conventions[convention]
    texts = ["We talked about the reef for an hour.", "reef"]
    batch = encode_contexts(tokenizer, texts, [(20, 24), (0, 4)])
    for row in range(2):
        span = batch["input_ids"][row][batch["span_mask"][row]]
        assert tokenizer.decode(span).strip() == "reef"
        content = batch["input_ids"][row][batch["content_mask"][row]].tolist()
        assert tokenizer.decode(content) == texts[row] and tokenizer.all_special_ids[0] not in content


def test_a_chat_template_prompt_decodes_as_generate_reads_it(conventions):
    tokenizer = conventions["no_bos"]
    model = make_tiny_model("qwen3", tokenizer)
    messages = [[{"role": "user", "content": "Tell me about the ocean"}], [{"role": "user", "content": "Perhaps"}]]
    prompts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    ours = sample_batch(model, tokenizer, prompts, [0, 1], GREEDY)
    for m, c in zip(messages, ours):
        ids = tokenizer.apply_chat_template(m, tokenize=True, add_generation_prompt=True, return_dict=False)
        assert c.prompt_ids == list(ids)  # the template's special tokens read as one token each
    assert [c.text for c in ours] == generate_texts(model, tokenizer, [c.prompt_ids for c in ours],
                                                    GREEDY.max_new_tokens)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("prompt", ["", "Tell me about"])
def test_finetune_labels_train_the_completion_and_one_end_of_text(convention, prompt, conventions):
    from difflens.finetune.examples import IGNORE_INDEX, encode_example

    tokenizer = conventions[convention]
    ids, labels = encode_example(tokenizer, prompt, " the ocean")
    prompt_ids = tokenizer(prompt)["input_ids"]
    completion = tokenizer(" the ocean", add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    # GPT-2 style: the leading BOS (= EOS) ends the previous text in a packed stream and keeps
    # its label; otherwise the completion ends with its own EOS. One end-of-text label either way.
    appended = [] if convention == "bos_is_eos" else [eos]
    assert ids == prompt_ids + completion + appended
    trained = [t for t in labels if t != IGNORE_INDEX]
    assert trained.count(eos) == 1 and [t for t in trained if t != eos] == completion
    masked = labels[1:len(prompt_ids)] if convention == "bos_is_eos" else labels[:len(prompt_ids)]
    assert all(label == IGNORE_INDEX for label in masked)
