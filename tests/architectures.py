"""Tiny random-initialised copies of the eleven decoder architectures difflens is tested on.

Odd sizes (hidden 48 over 3 heads of 16, one key/value head, MLP width 67, two blocks) so that
a shape bug cannot hide behind a square matrix; an 8-token sliding window where the architecture
has one, so that the window matters on 40-token texts; gemma2's soft-capping on (it runs eager
attention, which applies it). The residual-stream module of block N is ``block_name(arch, N)``.
"""

from __future__ import annotations

import torch

ARCHITECTURES = ("gpt2", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3",
                 "gpt_neox", "olmo2")

# hidden 48 = 3 heads x 16; rotary embeddings need an even head size
_COMMON = {"hidden_size": 48, "intermediate_size": 67, "num_hidden_layers": 2, "num_attention_heads": 3,
           "num_key_value_heads": 1, "max_position_embeddings": 64}
_WINDOW = 8


def tiny_config(arch: str, vocab_size: int, bos: int, eos: int, pad: int):
    """A transformers config for ``arch`` (one of `ARCHITECTURES`) with the tiny sizes above."""
    import transformers as tf

    ids = {"vocab_size": vocab_size, "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad}
    if arch == "gpt2":
        return tf.GPT2Config(n_embd=48, n_head=3, n_layer=2, n_positions=64, **ids)
    if arch == "gpt_neox":
        return tf.GPTNeoXConfig(hidden_size=48, intermediate_size=67, num_hidden_layers=2, num_attention_heads=3,
                                max_position_embeddings=64, **ids)
    if arch == "mistral":
        return tf.MistralConfig(sliding_window=_WINDOW, **_COMMON, **ids)
    if arch == "gemma2":
        return tf.Gemma2Config(head_dim=16, sliding_window=_WINDOW, attn_logit_softcapping=5.0,
                               final_logit_softcapping=3.0, attn_implementation="eager", **_COMMON, **ids)
    if arch == "gemma3":
        return tf.Gemma3TextConfig(head_dim=16, sliding_window=_WINDOW,
                                   layer_types=["sliding_attention", "full_attention"], **_COMMON, **ids)
    classes = {"llama": tf.LlamaConfig, "qwen2": tf.Qwen2Config, "qwen3": tf.Qwen3Config, "gemma": tf.GemmaConfig,
               "phi3": tf.Phi3Config, "olmo2": tf.Olmo2Config}
    extra = {"head_dim": 16} if arch in ("qwen3", "gemma") else {}
    return classes[arch](**_COMMON, **extra, **ids)


def make_tiny_model(arch: str, tokenizer, seed: int = 0) -> torch.nn.Module:
    """A randomly initialised ``arch`` model sized for ``tokenizer``, in eval mode."""
    from transformers import AutoModelForCausalLM

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    config = tiny_config(arch, len(tokenizer), bos, tokenizer.eos_token_id, pad)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()


def block_name(arch: str, n: int) -> str:
    """The module whose output is the residual stream after block ``n``."""
    if arch == "gpt2":
        return f"transformer.h.{n}"
    if arch == "gpt_neox":
        return f"gpt_neox.layers.{n}"
    return f"model.layers.{n}"


# Tokenizer conventions: GPT-2's one token for BOS and EOS, prepended; Llama's separate <s> and
# </s>, <s> prepended; Qwen's no BOS at all, <|endoftext|> ending texts, and a ChatML template.
CONVENTIONS = ("bos_is_eos", "separate_bos", "no_bos")
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def train_tokenizer(texts: list[str], convention: str, vocab_size: int = 331):
    """A byte-level BPE tokenizer trained on ``texts`` in about a second, with ``convention``'s
    special tokens (`CONVENTIONS`); ``no_bos`` also carries a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if convention == "bos_is_eos":
        from difflens.models import train_bpe_tokenizer

        return train_bpe_tokenizer(texts, vocab_size=vocab_size, model_max_length=64)
    specials = {"separate_bos": ["<s>", "</s>", "<pad>"],
                "no_bos": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]}[convention]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    if convention == "separate_bos":
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", tok.token_to_id("<s>"))])
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                       model_max_length=64)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                      additional_special_tokens=["<|im_start|>", "<|im_end|>"], model_max_length=64)
    wrapped.chat_template = CHATML
    return wrapped
