"""``difflens encyclopedia``: config checks, and the refine loop end to end on the tiny GPT-2."""

import json

import pytest
import yaml

from cli.encyclopedia import load_config
from cli.main import main
from difflens.encyclopedia import EncyclopediaStage
from difflens.errors import ConfigError


def write_config(path, model_dir, run_dir, **overrides):
    cfg = {
        "model": str(model_dir), "run_dir": str(run_dir),
        "concepts": {"source": "toyworld", "topics": ["ocean", "chess", "music"]},
        "final_stage": 2,
        "capture": {"layers": [0, 1], "poolings": ["span_mean", "context_mean"], "batch_size": 16},
        "stage1": {"samples_per_concept": 4, "fraction": 0.5},
        "stage2": {"samples_per_concept": 3, "fraction": 0.4},
        "stage3": {"samples_per_concept": 4, "pairs": 3},
        "interpreter": {"d_model": 16, "n_heads": 2, "n_layers": 1, "max_epochs": 3, "batch_size": 32},
        "heldout_samples": 2,
    }
    cfg.update(overrides)
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_errors(tmp_path):
    path = write_config(tmp_path / "c.yaml", "m", "r", colour="blue")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(path)
    with pytest.raises(ConfigError, match="final_stage"):
        load_config(write_config(tmp_path / "c.yaml", "m", "r", final_stage=7))
    with pytest.raises(ConfigError, match="interpreter pooling 'span_last' is not captured"):
        load_config(write_config(tmp_path / "c.yaml", "m", "r", interpreter={"pooling": "span_last"}))
    with pytest.raises(ConfigError, match=r"unknown key.*interpreter.epochs"):
        load_config(write_config(tmp_path / "c.yaml", "m", "r", interpreter={"epochs": 3}))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_missing_wordnet_is_one_line_error(tmp_path, capsys, tiny_model_dir):
    path = write_config(tmp_path / "c.yaml", tiny_model_dir, tmp_path / "run",
                        concepts={"source": "wordnet", "path": str(tmp_path / "no_wordnet")})
    assert main(["encyclopedia", "refine", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("difflens: error: WordNet directory not found") and "\n" not in err


@pytest.mark.slow
def test_refine_writes_stages_checkpoint_and_report(tmp_path, tiny_model_dir, capsys):
    run = tmp_path / "run"
    path = write_config(tmp_path / "c.yaml", tiny_model_dir, run)
    assert main(["encyclopedia", "refine", "--config", str(path)]) == 0
    for name in ("stage0.h5", "stage1.h5", "stage2.h5", "heldout.h5", "described.h5", "probe.h5",
                 "interpreter_stage2.ckpt", "report.md", "report.json", "convergence.json"):
        assert (run / name).exists(), name
    stage1, stage2 = EncyclopediaStage(run / "stage1.h5"), EncyclopediaStage(run / "stage2.h5")
    chosen1 = json.loads((run / "stage1_concepts.json").read_text())["concepts"]
    assert len(chosen1) == 15 and stage1.n_samples == 15 * 4 and stage1.header.contexts == "templates"
    assert stage2.n_samples == 12 * 3 and stage2.header.contexts == "assistant"
    report = json.loads((run / "report.json").read_text())
    methods = {(r["stage"], r["task"], r["method"]) for r in report["rows"]}
    for stage in (0, 1, 2):
        for task in ("named", "described"):
            for method in ("interpreter", "nearest_centroid", "linear_probe", "input_only"):
                assert (stage, task, method) in methods
    assert (2, "described", "random_label_control") in methods
    assert any(t["target"].startswith("[span_mean] stage 2: interpreter top-1 beats") for t in report["targets"])
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    md = (run / "report.md").read_text()
    assert "Task (b) hard" in md and ("NOT met" in md or "met:" in md)
    # resume: captures are skipped, the report is rewritten
    capsys.readouterr()
    assert main(["encyclopedia", "refine", "--config", str(path), "--final-stage", "3"]) == 0
    out = capsys.readouterr().out
    assert "stage1.h5: exists, skipped" in out and "stage2.h5: exists, skipped" in out
    pairs = json.loads((run / "stage3_pairs.json").read_text())
    if pairs:  # stage 3: contrastive contexts for the confused pairs
        stage3 = EncyclopediaStage(run / "stage3.h5")
        assert stage3.header.contexts == "contrastive" and stage3.n_samples == len(pairs) * 2 * 4
        assert any(pairs[0][1] in c for c in stage3.sample_contexts())
    # convergence subcommand on the run's files
    assert main(["encyclopedia", "convergence", "--stage", str(run / "stage1.h5"), "--reference",
                 str(run / "heldout.h5"), "--ns", "1", "2", "4", "--out", str(tmp_path / "conv.json")]) == 0
    conv = json.loads((tmp_path / "conv.json").read_text())
    assert conv["n_concepts"] == 15 and [r["n"] for r in conv["by_n"]] == [1, 2, 4]
