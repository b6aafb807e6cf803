"""Weight-difference analysis: spectrum statistics, low-rank SVD, model and adapter diffs, report."""

import json
import math

import pytest
import torch

from difflens.errors import ModelLoadError
from difflens.finetune import LoraSpec, apply_lora
from difflens.weightdiff import (
    diff,
    diff_adapter,
    diff_models,
    effective_rank,
    energy_top_k,
    lowrank_singular_values,
    stable_rank,
    write_report,
)
from tests.conftest import make_tiny_gpt2


@pytest.mark.parametrize("sv, eff, energy1, stable", [
    ([3.0, 0.0, 0.0], 1.0, 1.0, 1.0),
    ([1.0, 1.0, 1.0, 1.0], 4.0, 0.25, 4.0),
    ([2.0, 1.0], math.exp(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))), 0.8, 1.25),
    ([0.0, 0.0], 0.0, 0.0, 0.0),
])
def test_spectrum_statistics(sv, eff, energy1, stable):
    sv = torch.tensor(sv)
    assert effective_rank(sv) == pytest.approx(eff)
    assert energy_top_k(sv, 1) == pytest.approx(energy1)
    assert stable_rank(sv) == pytest.approx(stable)


@pytest.mark.parametrize("m, n, r", [(37, 23, 3), (5, 40, 5), (64, 64, 1)])
def test_lowrank_singular_values_match_the_dense_svd(m, n, r):
    g = torch.Generator().manual_seed(m + n + r)
    b, a = torch.randn(m, r, generator=g), torch.randn(r, n, generator=g)
    dense = torch.linalg.svdvals(0.5 * b @ a)[:r]
    torch.testing.assert_close(lowrank_singular_values(b, a, 0.5), dense, rtol=1e-4, atol=1e-5)


@pytest.fixture
def lora_dirs(tokenizer, tmp_path):
    """A base model, a LoRA adapter on two c_attn layers with random B, and the merged model."""
    base = make_tiny_gpt2(tokenizer)
    base.save_pretrained(tmp_path / "base")
    model = apply_lora(make_tiny_gpt2(tokenizer), LoraSpec(r=3, alpha=6, target_modules=["c_attn"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    model.save_pretrained(tmp_path / "adapter")
    model.merge_and_unload().save_pretrained(tmp_path / "merged")
    return tmp_path


def test_merged_lora_layers_rank_first_and_match_the_adapter_spectra(lora_dirs):
    merged = diff_models(lora_dirs / "base", lora_dirs / "merged", top_k=2)
    touched = {"transformer.h.0.attn.c_attn.weight", "transformer.h.1.attn.c_attn.weight"}
    assert {d.name for d in merged[:2]} == touched
    assert all(d.relative_change > 0 for d in merged[:2]) and all(not d.changed for d in merged[2:])
    adapter = {d.name: d for d in diff_adapter(lora_dirs / "base", lora_dirs / "adapter", top_k=2)}
    assert set(adapter) == touched
    for d in merged[:2]:
        assert d.effective_rank <= 3 + 1e-6
        assert adapter[d.name].effective_rank == pytest.approx(d.effective_rank, rel=1e-3)
        assert adapter[d.name].singular_values[:3] == pytest.approx(d.singular_values[:3], rel=1e-3)
        assert adapter[d.name].relative_change == pytest.approx(d.relative_change, rel=1e-3)
    assert [d.name for d in diff(lora_dirs / "base", lora_dirs / "adapter")] == [d.name for d in merged[:2]]


def test_full_finetune_changes_every_matrix(tokenizer, tmp_path):
    make_tiny_gpt2(tokenizer, seed=0).save_pretrained(tmp_path / "a")
    make_tiny_gpt2(tokenizer, seed=1).save_pretrained(tmp_path / "b")
    layers = diff_models(tmp_path / "a", tmp_path / "b")
    assert all(d.changed for d in layers) and len(layers) == 10  # wte, wpe and 4 per block
    assert [d.relative_change for d in layers] == sorted((d.relative_change for d in layers), reverse=True)


def test_report_writes_summary_plots_and_tensorboard(lora_dirs):
    out = lora_dirs / "report"
    layers = diff_models(lora_dirs / "base", lora_dirs / "merged")
    report = write_report(layers, out, "base", "merged", top_k=2)
    saved = json.loads((out / "summary.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["n_changed"] == 2 and saved["ranking"][0].endswith("attn.c_attn.weight")
    assert len(saved["unchanged"]) == 8
    for png in ("changes.png", "spectra.png", "layers.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out), size_guidance={"images": 0})
    events.Reload()
    assert set(events.Tags()["images"]) == {"weightdiff/changes", "weightdiff/spectra", "weightdiff/layers"}
    relative = [e.value for e in events.Scalars("weightdiff/relative_change")]
    assert relative == pytest.approx([d["relative_change"] for d in saved["layers"]])
    assert [e.value for e in events.Scalars("weightdiff/n_changed")] == [2]


def test_mismatched_or_missing_models_are_clear_errors(lora_dirs, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        diff_models(lora_dirs / "base", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="holds no"):
        diff_models(lora_dirs / "base", tmp_path / "empty")
