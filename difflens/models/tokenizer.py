"""Train a byte-level BPE tokenizer locally, wrapped as a transformers fast tokenizer.

A plain ``tokenizers.Tokenizer`` (BPE model, ByteLevel pre-tokenizer and decoder) is used
rather than the ``ByteLevelBPETokenizer`` convenience class, whose wrapped form breaks
``truncation=True`` in transformers 5.
"""

from __future__ import annotations

from collections.abc import Iterable

from difflens.errors import DataError

BOS_EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 2048, model_max_length: int = 1024):
    """Train a byte-level BPE tokenizer on ``texts``.

    Every encoded text starts with ``<|endoftext|>`` (BOS, which is also EOS, as in GPT-2), so
    free generation can start from BOS and the activation code knows position 0 is BOS.
    Padding uses a separate ``<|pad|>`` token so that no real token is masked.

    Returns:
        A ``PreTrainedTokenizerFast`` ready for ``save_pretrained``.

    Raises:
        DataError: ``texts`` is empty.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    if not any(t.strip() for t in texts):
        raise DataError("cannot train a tokenizer on an empty corpus: give the datamodule some text")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS_EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS_EOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS_EOS} $A", pair=f"{BOS_EOS} $A {BOS_EOS} $B", special_tokens=[(BOS_EOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_EOS,
        eos_token=BOS_EOS,
        pad_token=PAD,
        model_max_length=model_max_length,
    )
