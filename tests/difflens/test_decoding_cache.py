"""The decoder hands its KV cache to the model under the name the forward reads, and refuses to
return texts when the model did not write into it."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest
import torch

from difflens.decoding import CacheNotUsedError, SamplingConfig, cache_keyword, sample_batch
from difflens.errors import ConfigError
from tests.architectures import make_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

PROMPTS = ["", "The ocean is", "We saw a very small", "Perhaps", "A knight moves across the board and the waves"]
GREEDY = SamplingConfig(max_new_tokens=12, temperature=0)


def greedy_generate(model, tokenizer, prompts, max_new_tokens):
    """``generate``'s greedy texts, one prompt at a time (no padding)."""
    texts = []
    for prompt in prompts:
        enc = tokenizer([prompt], return_tensors="pt")
        out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id)
        texts.append(tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    return texts


class _OldNameModel(torch.nn.Module):
    def forward(self, input_ids=None, past_key_values=None, **kwargs):
        raise AssertionError("not called")


class _NoCacheModel(torch.nn.Module):
    def forward(self, input_ids=None, **kwargs):
        raise AssertionError("not called")


def test_cache_keyword_is_the_name_the_forward_has(tiny_gpt2):
    import transformers
    from packaging.version import Version

    assert cache_keyword(tiny_gpt2) in inspect.signature(tiny_gpt2.forward).parameters
    if Version(transformers.__version__) >= Version("5.24"):  # the release that renamed it
        assert cache_keyword(tiny_gpt2) == "cache"
    assert cache_keyword(_OldNameModel()) == "past_key_values"
    with pytest.raises(ConfigError, match="takes no KV cache argument"):
        cache_keyword(_NoCacheModel())


def test_cache_keyword_of_a_peft_model_is_the_wrapped_models(tiny_gpt2):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(tiny_gpt2, LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    assert cache_keyword(peft_model) == cache_keyword(peft_model.get_base_model())


def test_a_forward_that_ignores_its_cache_raises_instead_of_returning_texts(tokenizer, monkeypatch):
    model = make_tiny_model("llama", tokenizer)
    forward = model.forward
    keyword = cache_keyword(model)

    # what a forward does after a keyword rename it does not know: it builds and fills its own cache
    def ignoring(*args, **kwargs):
        kwargs.pop(keyword)
        return forward(*args, **kwargs)

    ignoring.__wrapped__ = forward  # keeps the real signature, as a deprecation decorator does
    monkeypatch.setattr(model, "forward", ignoring)
    with pytest.raises(CacheNotUsedError, match="wrote 0 columns into the KV cache"):
        sample_batch(model, tokenizer, PROMPTS, list(range(len(PROMPTS))), GREEDY)


# Runs with transformers' past_key_values alias removed, as it will be in 5.40: the deprecation
# decorator is made a no-op for that name before any model module is imported, so a model
# called with past_key_values= swallows it in **kwargs.
_WITHOUT_ALIAS = r"""
import json, sys
import torch
import transformers.utils
import transformers.utils.deprecation as deprecation

original = deprecation.deprecate_kwarg

def deprecate_kwarg(old_name, *args, **kwargs):
    if old_name == "past_key_values":
        return lambda function: function
    return original(old_name, *args, **kwargs)

deprecation.deprecate_kwarg = transformers.utils.deprecate_kwarg = deprecate_kwarg

from transformers import AutoModelForCausalLM, AutoTokenizer
from difflens.decoding import SamplingConfig, sample_batch
from difflens.kv_cache import RowCache

torch.set_num_threads(1)
prompts, out = json.loads(sys.argv[1]), {}
for name, path in json.loads(sys.argv[2]).items():
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    old_name = RowCache()
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 2, 3]]), past_key_values=old_name, use_cache=True)
    texts = sample_batch(model, tokenizer, prompts, list(range(len(prompts))),
                         SamplingConfig(max_new_tokens=12, temperature=0), max_rows=2)
    out[name] = {"old_name_filled": old_name.get_seq_length(), "texts": [c.text for c in texts]}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_decoding_equals_generate_with_the_past_key_values_alias_removed(tokenizer, tmp_path):
    paths, expected = {}, {}
    for arch in ("gpt2", "llama", "gemma2", "gpt_neox"):
        model = make_tiny_model(arch, tokenizer)
        if cache_keyword(model) == "past_key_values":
            pytest.skip("this transformers predates the rename to `cache`: there is no alias to remove")
        expected[arch] = greedy_generate(model, tokenizer, PROMPTS, GREEDY.max_new_tokens)
        paths[arch] = str(tmp_path / arch)
        model.save_pretrained(paths[arch])
        tokenizer.save_pretrained(paths[arch])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", _WITHOUT_ALIAS, json.dumps(PROMPTS), json.dumps(paths)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    for arch in paths:
        # the simulation is real: a cache under the old name is ignored by the model
        assert result[arch]["old_name_filled"] == 0, arch
        assert result[arch]["texts"] == expected[arch], arch
