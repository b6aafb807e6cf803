"""``difflens samples collect``: the sample report for a saved SAE that was never trained here,
leaving it untouched; ``samples similar`` checks sizes and finds the run's SAE from elsewhere."""

import hashlib
import json

import pytest
import torch

from cli.main import main
from difflens.sae.config import SAEConfig
from difflens.sae.registry import build_sae

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_collect_samples_for_an_untrained_sae(tiny_model_dir, tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    sae = build_sae(SAEConfig(architecture="topk", d_in=36, d_sae=48, k=4, hook_name="transformer.h.1",
                              model_name=str(tiny_model_dir)))
    sae_dir = sae.save(tmp_path / "run" / "their_sae")
    before = digest(sae_dir)
    out = tmp_path / "run" / "samples"
    monkeypatch.chdir(tmp_path / "run")
    assert main(["samples", "collect", "their_sae", "--model", str(tiny_model_dir), "--out", "samples",
                 "--documents", "40", "--context-length", "24", "--batch-size", "64", "-k", "3",
                 "--n-features", "5"]) == 0
    assert "wrote the activation-sample report" in capsys.readouterr().out
    assert digest(sae_dir) == before  # read, never written
    summary = json.loads((out / "collection_summary.json").read_text())
    assert summary["collected_without_training"] and summary["d_sae"] == 48 and summary["tokens_seen"] > 0
    assert summary["hook_name"] == "transformer.h.1" and summary["sae_dir"] == str(sae_dir.resolve())
    assert "## Most active features" in (out / "interpretability_report.md").read_text()
    # the codes are the saved SAE's own: the sample with the top activation for a feature is reproduced
    feature = summary["feature_files"][0]
    record = json.loads((out / f"feature_{feature:05d}_samples.json").read_text())
    assert record["samples"] and record["samples"][0]["activation"] > 0

    # `similar` from another directory finds the SAE; an SAE of another size is refused
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["samples", "similar", str(out), str(feature), "-n", "3"]) == 0
    assert "features nearest to" in capsys.readouterr().out
    other = build_sae(SAEConfig(architecture="topk", d_in=36, d_sae=60, k=4)).save(tmp_path / "other_sae")
    assert main(["samples", "similar", str(out), str(feature), "--sae", str(other)]) == 2
    assert "has 60 features but these samples were collected from one with 48" in capsys.readouterr().err


def test_collect_checks_its_arguments(tiny_model_dir, tmp_path, capsys):
    sae_dir = build_sae(SAEConfig(architecture="topk", d_in=36, d_sae=48, k=4)).save(tmp_path / "sae")
    assert main(["samples", "collect", str(sae_dir), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o")]) == 2
    assert "names no hook: pass --hook" in capsys.readouterr().err
    assert main(["samples", "collect", str(sae_dir), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"),
                 "--hook", "transformer.h.1"]) == 2
    assert "context_length=128 is longer than" in capsys.readouterr().err
    assert main(["samples", "collect", str(sae_dir), "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"),
                 "--hook", "transformer.h.1.mlp.c_fc", "--context-length", "24", "--documents", "20",
                 "--batch-size", "64"]) == 2
    assert "d_in=36" in capsys.readouterr().err
