"""One layer convention: ``layer N`` reads the same tensor in SAE hooks, activation harvesting,
concept capture and weightdiff, in every architecture family."""

from __future__ import annotations

import pytest
import torch

from difflens.activations import ActivationHarvester, capture
from difflens.encyclopedia.pooling import capture_batch, encode_contexts, resolve_layers
from difflens.errors import ConfigError
from difflens.models import decoder_blocks, resolve_layer_name
from difflens.weightdiff.report import weight_layer
from tests.architectures import block_name, make_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# one per block layout: GPT-2's transformer.h, NeoX's parallel residual, Llama's model.layers,
# gemma2's norm after the MLP, olmo2's norm-after-sublayer
FAMILIES = ("gpt2", "gpt_neox", "llama", "gemma2", "olmo2")
TEXTS = ["The ocean is deep and the waves roll", "Perhaps we saw a very small knight"]


@pytest.mark.parametrize("arch", FAMILIES)
def test_layer_names_resolve_to_the_architectures_block_modules(arch, tokenizer):
    model = make_tiny_model(arch, tokenizer)
    assert decoder_blocks(model) == (block_name(arch, 0)[:-2], 2)
    assert resolve_layer_name(model, "layer.0") == block_name(arch, 0)
    assert resolve_layer_name(model, "layer.-1.mlp:input") == f"{block_name(arch, 1)}.mlp:input"
    assert resolve_layer_name(model, "transformer.h.0") == "transformer.h.0"  # module names pass through
    with pytest.raises(ConfigError, match="layer 2 is out of range"):
        resolve_layer_name(model, "layer.2")


@pytest.mark.parametrize("arch", FAMILIES)
def test_the_same_layer_reads_the_same_tensor_in_every_stage(arch, tokenizer):
    model = make_tiny_model(arch, tokenizer)
    enc = tokenizer(TEXTS, return_tensors="pt", padding=True)
    batch = encode_contexts(tokenizer, TEXTS, [None, None])
    with torch.no_grad():
        hidden_states = model(**enc, output_hidden_states=True).hidden_states
    for layer in (0, -1):
        index = resolve_layers([layer], 2)[0]
        # SAE / transcoder hook and activation harvesting
        with capture(model, [f"layer.{layer}"]) as store, torch.no_grad():
            model(**enc)
        hooked = store[f"layer.{layer}"]  # (B, T, H)
        with capture(model, [block_name(arch, index)]) as by_module, torch.no_grad():
            model(**enc)
        torch.testing.assert_close(hooked, by_module[block_name(arch, index)], rtol=0, atol=0)
        harvested = ActivationHarvester(model, hook=f"layer.{layer}")(
            enc["input_ids"], enc["attention_mask"], torch.arange(2))
        keep = enc["attention_mask"].bool().clone()
        keep[:, 0] = False
        torch.testing.assert_close(harvested["x"], hooked[keep].float())
        # encyclopedia capture: the mean over a row's content tokens of the same tensor
        pooled = capture_batch(model, batch, [index], ["context_mean"])[index, "context_mean"]  # (B, H)
        content = batch["content_mask"].unsqueeze(-1).float()  # (B, T, 1)
        torch.testing.assert_close(pooled, (hooked.float() * content).sum(1) / content.sum(1))
        # weightdiff: the block's weights are layer N there too
        block = resolve_layer_name(model, f"layer.{layer}")
        weights = [n for n, p in model.named_parameters() if n.startswith(block + ".") and n.endswith(".weight")]
        assert weights and {weight_layer(n)[0] for n in weights} == {index}
    # N below the last block is hidden_states[N + 1]; the last block's output is before the final
    # norm, which transformers' hidden_states[-1] is not
    torch.testing.assert_close(store_of(model, enc, "layer.0"), hidden_states[1])
    assert not torch.allclose(store_of(model, enc, "layer.-1"), hidden_states[-1])


def store_of(model, enc, spec):
    with capture(model, [spec]) as store, torch.no_grad():
        model(**enc)
    return store[spec]
