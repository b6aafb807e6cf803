"""ActivationDataModule on the tiny GPT-2: hooks, masks, contexts, shards, cache and errors."""

import pytest
import torch

from datamodules import ActivationDataModule
from difflens.activations import CONTEXT_BEFORE, ActivationHarvester, splice_losses
from difflens.corpus import ToyWorldCorpus
from difflens.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def make_dm(tiny_model_dir, **kw):
    args = dict(model=str(tiny_model_dir), hook_name="transformer.h.1", toyworld=ToyWorldCorpus(n_documents=60, seed=3),
                context_length=32, lm_batch_size=8, batch_size=64, buffer_size=256, val_texts=8)
    args.update(kw)
    dm = ActivationDataModule(**args)
    dm.setup("fit")
    return dm


def test_harvester_drops_padding_and_bos_and_keeps_contexts(tiny_gpt2, tokenizer):
    texts = ["the ocean was calm", "a short one"]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    harvester = ActivationHarvester(tiny_gpt2, "transformer.h.0", "transformer.h.0.mlp")
    out = harvester(enc["input_ids"], enc["attention_mask"], torch.tensor([7, 9]))
    n_real = int(enc["attention_mask"].sum()) - 2  # minus the BOS of each text
    assert out["x"].shape == (n_real, 36) and out["y"].shape == (n_real, 36)
    assert (out["pos"] > 0).all() and set(out["doc"].tolist()) == {7, 9}
    assert (out["token"] != tokenizer.pad_token_id).all()
    assert torch.equal(out["context"][:, CONTEXT_BEFORE], out["token"])
    # the activation is the block's output at that position
    with torch.no_grad():
        hidden = tiny_gpt2(**enc, output_hidden_states=True).hidden_states[1]
    row = 0
    assert torch.allclose(out["x"][row], hidden[0, out["pos"][row]], atol=1e-5)


def test_bad_hook_name_lists_close_names(tiny_gpt2):
    with pytest.raises(ConfigError, match=r"close names: transformer.h.1"):
        ActivationHarvester(tiny_gpt2, "transformer.h.1x")


def test_batches_ranks_and_cache(tiny_model_dir, tmp_path):
    dm = make_dm(tiny_model_dir)
    batches = list(dm.iterate_train())
    assert len(batches) == dm.batches_per_epoch > 0
    assert all(b["x"].shape == (64, 36) for b in batches)
    docs = torch.cat([b["doc"] for b in batches])
    assert len(set(docs.tolist())) > 10  # mixed across many documents
    assert not set(docs.tolist()) & set(dm.val_docs)
    # rank 1 of 2 reads the other half of the documents
    other = ActivationDataModule(model=str(tiny_model_dir), hook_name="transformer.h.1",
                                 toyworld=ToyWorldCorpus(n_documents=60, seed=3), context_length=32, val_texts=8,
                                 batch_size=64)
    other.rank, other.world_size = 1, 2
    dm.rank, dm.world_size = 0, 2
    dm.lm = None
    dm.setup()
    other.setup()
    assert not set(dm.train_docs) & set(other.train_docs)
    assert sorted(dm.train_docs + other.train_docs) == list(range(8, 60))
    # the cache: the first epoch writes it, the second reads the same activations back
    cached = make_dm(tiny_model_dir, cache_dir=str(tmp_path / "cache"))
    first = list(cached.iterate_train())
    assert (tmp_path / "cache" / "world1_rank0.json").exists()
    cached.harvester = None  # reading the cache must not need the LM
    second = list(cached.iterate_train())
    def by_token(bs):
        return {(d, p): x for b in bs for d, p, x in zip(b["doc"].tolist(), b["pos"].tolist(), b["x"])}

    a, b = by_token(first), by_token(second)
    assert len(second) == len(first) == cached.batches_per_epoch
    common = set(a) & set(b)
    assert len(common) > len(a) // 2
    assert all(torch.equal(a[key], b[key]) for key in common)

def test_splice_identity_keeps_loss_and_zero_ablation_hurts(tiny_gpt2, tokenizer):
    enc = tokenizer(["the ocean was calm today", "we saw a ship"], padding=True, return_tensors="pt")
    losses = splice_losses(tiny_gpt2, enc["input_ids"], enc["attention_mask"], "transformer.h.0", lambda a: a)
    assert torch.allclose(losses["clean"], losses["spliced"], atol=1e-6)
    assert losses["zero"] != losses["clean"]
