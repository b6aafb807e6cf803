"""Example encoding with loss masks, packing/padding, and LoRA target selection."""

import pytest
import torch

from difflens.errors import ConfigError, DataError
from difflens.finetune import (
    IGNORE_INDEX,
    LoraSpec,
    apply_lora,
    default_target_modules,
    encode_example,
    matching_modules,
    pack_examples,
    pad_examples,
)


def test_encode_masks_the_prompt_and_keeps_bos_delimiting(tokenizer):
    bos = tokenizer.bos_token_id
    ids, labels = encode_example(tokenizer, "Q: the whale?", " The reef.")
    p_len = len(tokenizer("Q: the whale?")["input_ids"])
    assert ids[0] == bos  # BOS == EOS delimits documents: no EOS appended ...
    # ... and the BOS keeps its label: in a packed stream it is where the previous text ends
    assert labels[:p_len] == [bos] + [IGNORE_INDEX] * (p_len - 1) and labels[p_len:] == ids[p_len:]
    assert tokenizer.decode(ids[p_len:]) == " The reef."
    ids, labels = encode_example(tokenizer, "", "A text.")
    assert ids[0] == bos and labels == ids  # a plain text is trained exactly like pretraining data
    ids, labels = encode_example(tokenizer, "", "A text.", eos=True)
    assert ids[-1] == bos and labels == ids


def test_encode_appends_eos_when_the_tokenizer_adds_no_bos(tokenizer):
    class NoBos:
        eos_token_id = 7

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": [ord(c) for c in text]}

    ids, labels = encode_example(NoBos(), "ab", "cd")
    assert ids == [97, 98, 99, 100, 7] and labels == [IGNORE_INDEX, IGNORE_INDEX, 99, 100, 7]


def test_pack_and_pad_shapes_and_masks():
    encoded = [([1, 2, 3], [-100, 2, 3]), ([4, 5], [4, 5]), ([6, 7, 8, 9], [-100, -100, 8, 9])]
    packed = pack_examples(encoded, block_size=4)
    assert packed["input_ids"].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert packed["labels"].tolist() == [[-100, 2, 3, 4], [5, -100, -100, 8]]
    with pytest.raises(DataError, match="fewer than block_size=50"):
        pack_examples(encoded, block_size=50)
    padded = pad_examples(encoded, block_size=3, pad_id=0)
    assert padded["input_ids"].tolist() == [[1, 2, 3], [4, 5, 0], [6, 7, 8]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0], [1, 1, 1]]
    assert padded["labels"].tolist() == [[-100, 2, 3], [4, 5, -100], [-100, -100, 8]]


@pytest.mark.parametrize("targets, expected", [
    (["c_attn"], ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"]),
    (["mlp.c_proj"], ["transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_proj"]),
    (r"transformer\.h\.1\.attn\.c_(attn|proj)", ["transformer.h.1.attn.c_attn", "transformer.h.1.attn.c_proj"]),
    (["q_proj"], []),
])
def test_matching_modules(tiny_gpt2, targets, expected):
    assert matching_modules(tiny_gpt2, targets) == expected


def test_all_linear_excludes_the_output_head(tiny_gpt2):
    names = matching_modules(tiny_gpt2, "all-linear")
    assert len(names) == 8 and not any("lm_head" in n for n in names)
    assert default_target_modules(tiny_gpt2) == ["c_attn", "c_proj", "c_fc"]


def test_apply_lora_trains_only_lora_weights_and_detects_conv1d(tiny_gpt2):
    model = apply_lora(tiny_gpt2, LoraSpec(r=2))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(trainable) == 2 * 2 * 4  # A and B for c_attn, attn.c_proj, c_fc, mlp.c_proj in 2 layers
    assert model.peft_config["default"].fan_in_fan_out is True
    x = torch.randint(0, 100, (2, 9))
    with torch.no_grad():
        out = model(input_ids=x).logits
    assert out.shape == (2, 9, tiny_gpt2.config.vocab_size)


@pytest.mark.parametrize("spec, message", [
    (LoraSpec(target_modules=["q_proj", "v_proj"]), "matches no module of GPT2LMHeadModel; its linear layers are "
                                                    "named ['c_attn', 'c_fc', 'c_proj', 'lm_head']"),
    (LoraSpec(target_modules=["ln_f"]), "model.lora.target_modules=['ln_f']"),
])
def test_bad_lora_targets_are_config_errors(tiny_gpt2, spec, message):
    with pytest.raises(ConfigError) as info:
        apply_lora(tiny_gpt2, spec)
    assert message in str(info.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"r": 0}, "model.lora.r must be >= 1"),
    ({"dropout": 1.0}, "model.lora.dropout"),
    ({"target_modules": []}, "target_modules is empty"),
])
def test_lora_spec_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LoraSpec(**kwargs)
