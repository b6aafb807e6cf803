import pytest
import torch

from difflens.errors import ConfigError, DataError, ModelLoadError
from difflens.models import get_module, load_causal_lm, load_tokenizer, train_bpe_tokenizer


def test_trained_tokenizer_prepends_bos_pads_and_truncates(tokenizer):
    enc = tokenizer(["The salty wave drifts.", "A"], padding=True, truncation=True, max_length=4)
    assert all(ids[0] == tokenizer.bos_token_id for ids in enc["input_ids"])
    assert all(len(ids) <= 4 for ids in enc["input_ids"])
    assert tokenizer.pad_token_id not in (tokenizer.bos_token_id, tokenizer.eos_token_id)
    text = "The salty wave drifts near the reef."
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text


def test_tokenizer_on_empty_corpus_is_a_clear_error():
    with pytest.raises(DataError, match="empty corpus"):
        train_bpe_tokenizer(["", "  "])


def test_saved_model_loads_by_path_with_the_same_logits(tiny_model_dir, tokenizer):
    from transformers import GPT2LMHeadModel

    reference = GPT2LMHeadModel.from_pretrained(tiny_model_dir).eval()
    model = load_causal_lm(str(tiny_model_dir), dtype="float32")
    tok = load_tokenizer(str(tiny_model_dir))
    ids = tok(["We saw a salty wave."], return_tensors="pt")["input_ids"]
    assert not model.training
    torch.testing.assert_close(model(ids).logits, reference(ids).logits)
    assert tok.get_vocab() == tokenizer.get_vocab()


def test_8bit_quantised_load_runs_forward_on_cpu(tiny_model_dir):
    import bitsandbytes as bnb

    model = load_causal_lm(str(tiny_model_dir), quantization="8bit", dtype="float32")
    assert any(isinstance(m, bnb.nn.Linear8bitLt) for m in model.modules()) or \
        any("8bit" in type(m).__name__ for m in model.modules())
    logits = model(torch.tensor([[0, 5, 9, 11]])).logits
    assert logits.shape == (1, 4, model.config.vocab_size) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name, message", [
    ("runs/no/such/model", "does not exist"),
    ("./missing-model", "does not exist"),
    ("some-org/definitely-not-a-cached-model", "HF_HUB_OFFLINE is set"),
])
def test_unresolvable_models_are_one_line_errors(name, message):
    with pytest.raises(ModelLoadError) as err:
        load_causal_lm(name)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_directory_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match=r"has no config.json"):
        load_causal_lm(str(tmp_path))


def test_unknown_dtype_and_quantization_are_config_errors(tiny_model_dir):
    with pytest.raises(ConfigError, match="unknown dtype 'fp33'"):
        load_causal_lm(str(tiny_model_dir), dtype="fp33")
    with pytest.raises(ConfigError, match="quantization must be"):
        load_causal_lm(str(tiny_model_dir), quantization="3bit")


def test_get_module_lists_close_names(tiny_gpt2):
    assert get_module(tiny_gpt2, "transformer.h.1.mlp") is tiny_gpt2.transformer.h[1].mlp
    with pytest.raises(ConfigError) as err:
        get_module(tiny_gpt2, "transformer.h.1.mlpp")
    assert "transformer.h.1.mlp" in str(err.value)
