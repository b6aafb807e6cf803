"""`difflens pipeline`: config checks, stage skipping and failure, and the report."""

import json
import os

import pytest

from cli.pipeline import load_config, run_stages
from difflens.config import config_from_mapping
from difflens.errors import ConfigError
from difflens.pipeline import PipelineConfig
from difflens.report import write_report
from tests.conftest import REPO

DIRS = {"active": "a", "exhaustive": "e"}


def test_quickstart_pipeline_config_parses_and_resolves():
    config = load_config(REPO / "configs/quickstart/pipeline.yaml")
    names = [s.name for s in config.active_stages()]
    assert names == ["base_lm", "finetune", "weightdiff", "decode_active", "discover", "validate"]
    discover = config.active_stages()[4]
    assert "runs/quickstart/active/texts.jsonl" in discover.run
    assert discover.done_when == "runs/quickstart/discover_active/hypotheses.jsonl"
    config.decoding = "exhaustive"
    assert "decode_exhaustive" in [s.name for s in config.active_stages()]
    assert "runs/quickstart/decode/texts.jsonl" in config.active_stages()[4].run


@pytest.mark.parametrize("raw, match", [
    ({"stages": [], "decode_dirs": DIRS}, "at least one stage"),
    ({"stages": [{"name": "a", "run": ["x"], "done_when": "f"}], "decode_dirs": DIRS, "decoding": "lazy"}, "decoding"),
    ({"stages": [{"name": "a", "run": ["x"], "done_when": "f"}] * 2, "decode_dirs": DIRS}, "unique"),
    ({"stages": [{"name": "a", "run": ["x"], "done_when": "f", "when": 1}], "decode_dirs": DIRS},
     r"unknown key 'stages\[0\]\.when'"),
    ({"stages": [{"name": "a", "run": ["x"], "done_when": "f"}], "decode_dirs": {"active": "a"}}, "exhaustive"),
    ({"stages": [{"name": "a", "run": [], "done_when": "f"}], "decode_dirs": DIRS}, "non-empty"),
    ({"stage": []}, r"unknown key 'stage' \(did you mean 'stages'\?\)"),
    ({"stages": [{"name": "a", "run": "x", "done_when": "f"}], "decode_dirs": DIRS},
     r"stages\[0\]\.run: expected list, got 'x'"),
    ({"stages": [{"name": "a", "run": ["x"]}], "decode_dirs": DIRS}, r"missing key\(s\) stages\[0\]\.done_when"),
])
def test_bad_configs_are_one_line_errors(raw, match):
    with pytest.raises(ConfigError, match=match):
        config_from_mapping(PipelineConfig, raw, "pipeline.yaml")


def test_stages_skip_when_done_and_stop_on_failure(tmp_path, monkeypatch, capsys):
    # cheap real commands (toyworld imports no model library): the runner, not the stages, is under test
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = tmp_path / "done.json"
    done.write_text("{}")
    stages = [
        {"name": "finished", "run": ["toyworld", "sample", "--topic", "no-such-topic"], "done_when": str(done)},
        {"name": "sae", "run": ["fit", "--config", "configs/quickstart/none.yaml"],
         "done_when": str(tmp_path / "sae"), "optional_config": str(tmp_path / "absent.yaml")},
        {"name": "broken", "run": ["toyworld", "sample", "--topic", "no-such-topic"],
         "done_when": str(tmp_path / "never")},
        {"name": "after", "run": ["toyworld", "list"], "done_when": str(tmp_path / "after")},
    ]
    config = config_from_mapping(PipelineConfig, {"decode_dirs": DIRS, "report": str(tmp_path / "report.md"),
                                                  "stages": stages}, "pipeline.yaml")
    with pytest.raises(SystemExit, match="stage broken failed"):
        run_stages(config)
    out = capsys.readouterr().out
    assert "finished: complete" in out and "absent.yaml does not exist, skipped" in out
    assert "after:" not in out  # nothing runs after a failed stage
    with pytest.raises(SystemExit, match="ended without writing"):
        run_stages(config, only=["after"])  # it succeeds but leaves no done_when file
    assert run_stages(config, only=["finished", "sae"]) == {"finished": None}
    with pytest.raises(ConfigError, match="unknown stage"):
        run_stages(config, only=["nope"])


def test_report_lists_texts_discoveries_and_recovery(tmp_path):
    decode = tmp_path / "active"
    (decode / "active").mkdir(parents=True)
    texts = [{"model": m, "text_id": f"{m}/free:{i}/0"} for m in ("base", "intervention") for i in range(3)]
    (decode / "texts.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts))
    (decode / "active" / "summary.json").write_text(json.dumps(
        {"rounds": 1, "stop_reason": "stable", "texts_per_model": 3, "texts": 6}))
    (decode / "active" / "round_001.json").write_text(json.dumps(
        {"round": 1, "texts_per_model": 3, "max_abs_h": 0.5, "n_divergent": 1, "ari": None, "top_changed": True,
         "prompts": [{"text": "x"}], "stop_reason": None}))
    validate = tmp_path / "validate"
    validate.mkdir()
    rows = [{"t": 1, "method": "saffron", "alpha": 0.05, "text": "Texts mention the ocean", "n": 200, "auc": 0.8,
             "p_value": 1e-6, "alpha_t": 5e-3, "rejected": True},
            {"t": 2, "method": "saffron", "alpha": 0.05, "text": "Texts are long", "n": 200, "auc": 0.5,
             "p_value": 0.4, "alpha_t": 4e-3, "rejected": False}]
    (validate / "saffron_results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (validate / "fresh_texts.jsonl").write_text(json.dumps({"model": "base"}) + "\n")
    pair = [{"model": "base"}, {"model": "intervention"}]
    (validate / "fresh_pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in pair))
    (validate / "recovery.json").write_text(json.dumps(
        {"recall": 0.5, "recall_one_to_one": 0.5, "precision": 1.0, "n_validated": 1, "matcher": "toyworld",
         "matches": {"ocean": {"hypothesis_ids": ["h0001"]}, "hedging": {"hypothesis_ids": []}}}))
    config = config_from_mapping(PipelineConfig, {
        "decode_dirs": {"active": str(decode), "exhaustive": "e"}, "report": str(tmp_path / "out" / "report.md"),
        "validate_dir": str(validate), "discover_dir": str(tmp_path / "discover"),
        "stages": [{"name": "a", "run": ["x"], "done_when": "f"}]}, "pipeline.yaml")
    report = write_report(config, {"decode_active": 12.0, "discover": None}).read_text()
    assert "1 of 2 hypotheses validated by saffron" in report
    assert "Texts mention the ocean" in report and "Texts are long" not in report
    assert "**Recall 0.50**" in report and "| hedging |  | none |" in report
    assert "| **all** | 5 | 4 | **9** |" in report  # 6 decoded + 1 fresh sample + 1 fresh pair
    assert "stopped by **stable**" in report
    assert "cluster map (both models' texts): not available" in report
    assert (tmp_path / "out" / "saffron_levels.png").stat().st_size > 1000
    assert "Recurring themes" not in report  # one discovery is one theme: nothing to group


def test_report_groups_validated_paraphrases_into_themes():
    from difflens.report import themes_section

    statements = ["Texts from the intervention model talk about the ocean and the sea more often, mentioning shore",
                  "Texts from the intervention model talk about physics more often, mentioning lens and laser",
                  "Texts from the intervention model mention waves, tides and whales more often"]
    validated = [{"hypothesis_id": f"h{i}", "text": s, "direction": "intervention", "p_value": 10.0 ** -(i + 2)}
                 for i, s in enumerate(statements)]
    section = "\n".join(themes_section(validated))
    assert "3 validated hypotheses make 2 distinct claims" in section
    assert "| h0, h2 | 1.00e-04 |" in section and "| h1 | 1.00e-03 |" in section


def test_quickstart_skips_stages_whose_config_is_absent(tmp_path, monkeypatch, capsys):
    import argparse

    import cli.quickstart as quickstart

    done = tmp_path / "report.md"
    done.write_text("done")
    monkeypatch.setattr(quickstart, "STAGES", (
        quickstart.Stage("pipeline", ("pipeline", "--config", "x.yaml"), str(done)),
        quickstart.Stage("sae", ("fit", "--config", str(tmp_path / "sae.yaml")), str(tmp_path / "sae"),
                         needs=str(tmp_path / "sae.yaml")),
    ))
    quickstart.run(argparse.Namespace(only=None, force=False, list=False))
    out = capsys.readouterr().out
    assert "pipeline: complete" in out and "sae.yaml does not exist, skipped" in out
    assert "runs/quickstart/report_active/report.md" in out and "tensorboard --logdir runs" in out
    assert [s.name for s in quickstart.STAGES] == ["pipeline", "sae"]


def test_real_quickstart_stages_start_with_the_pipeline():
    from cli.quickstart import STAGES

    assert STAGES[0].argv == ("pipeline", "--config", "configs/quickstart/pipeline.yaml")
    assert {s.name: s.needs for s in STAGES[1:]} == {"sae": "configs/quickstart/sae.yaml",
                                                     "encyclopedia": "configs/quickstart/encyclopedia.yaml"}
