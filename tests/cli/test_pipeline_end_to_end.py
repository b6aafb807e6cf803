"""`difflens pipeline` end to end on tiny models: active decoding -> discovery -> (validation) -> report.

Every stage is the real command in its own process. Random tiny models give the offline
proposer nothing it can name, so discovery writes an empty hypotheses file and the pipeline
skips validation instead of failing (the A/A case); the quickstart run in the report of
issue 9 covers validation on real models. The second run skips every finished stage.
"""

import json
import os

import pytest
import yaml

from cli.pipeline import load_config, run_stages
from difflens.report import write_report
from tests.conftest import REPO, make_tiny_gpt2


@pytest.mark.slow
def test_pipeline_runs_the_stages_skips_empty_validation_then_skips_them(tmp_path, tiny_model_dir, tokenizer,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # an intervention with a behaviour the offline proposer can name: the final layer norm's bias
    # points along the embedding of " the", so its texts say "the" far more often
    other = tmp_path / "intervention"
    model = make_tiny_gpt2(tokenizer, seed=0)
    the = tokenizer(" the")["input_ids"][-1]
    direction = model.transformer.wte.weight.data[the]
    model.transformer.ln_f.bias.data = 2.0 * direction / direction.norm() ** 2
    model.save_pretrained(other)
    tokenizer.save_pretrained(other)
    truths = tmp_path / "ground_truths.json"
    truths.write_text(json.dumps({"ground_truths": [
        {"id": "ocean", "description": "The model talks about the ocean far more often",
         "toyworld": {"topics": {"ocean": 1}}}]}))
    trainer = {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False,
               "logger": {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                          "init_args": {"save_dir": "runs", "name": "e2e", "version": "active"}}}
    active = {
        "seed_everything": 0,
        "trainer": {**trainer, "callbacks": [{"class_path": "DecodedTextWriter",
                                              "init_args": {"output_dir": "runs/active"}}]},
        "model": {"class_path": "ActiveSampler", "init_args": {
            "base": {"name_or_path": str(tiny_model_dir)}, "intervention": {"name_or_path": str(other)},
            "num_threads": 1,
            "active": {"budget": 40, "round_size": 10, "n_clusters": 3, "areas_per_round": 2, "representatives": 4,
                       "embedding_cache": "runs/embedding_cache"}}},
        "data": {"class_path": "ActivePromptDataModule",
                 "init_args": {"free": 20, "toyworld": {"n": 10, "words": 2}, "batch_size": 16, "max_new_tokens": 12}},
    }
    discover = {"texts": "runs/active/texts.jsonl", "output_dir": "runs/discover", "n_clusters": 3,
                "embedding_cache": "runs/embedding_cache",
                "proposal": {"max_pairs": 2, "alpha": 1.0, "min_effect": 0.0, "texts_per_side": 10,
                             "proposal_fraction": 0.6, "global_texts_per_side": 10}}
    validate = {
        "seed_everything": 0,
        "trainer": {**trainer, "logger": False, "callbacks": [
            {"class_path": "SaffronCallback", "init_args": {"alpha": 0.05}},
            {"class_path": "GroundTruthRecoveryCallback",
             "init_args": {"ground_truths": str(truths), "matcher": "toyworld"}}]},
        "model": {"class_path": "HypothesisValidator", "init_args": {"assistant": {"backend": "offline"}}},
        "data": {"class_path": "HypothesisValidationDataModule", "init_args": {
            "texts": "runs/active/texts.jsonl", "hypotheses": "runs/discover/hypotheses.jsonl",
            "out_dir": "runs/validate", "n_per_model": 4, "base": {"name_or_path": str(tiny_model_dir)},
            "intervention": {"name_or_path": str(other)}}},
    }
    for name, config in (("active", active), ("discover", discover), ("validate", validate)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(config))
    pipeline = {
        "decoding": "active", "decode_dirs": {"active": "runs/active", "exhaustive": "runs/decode"},
        "report": "runs/report/report.md", "discover_dir": "runs/discover", "validate_dir": "runs/validate",
        "ground_truths": str(truths),
        "stages": [
            {"name": "decode_active", "decoding": "active", "run": ["predict", "--config", "active.yaml"],
             "done_when": "runs/active/texts.jsonl"},
            {"name": "discover", "run": ["discover", "--config", "discover.yaml"],
             "done_when": "runs/discover/hypotheses.jsonl"},
            {"name": "validate", "run": ["test", "--config", "validate.yaml",
                                         "--data.init_args.pool_sources", "[free, toyworld]"],
             "done_when": "runs/validate/recovery.json", "skip_when_empty": "runs/discover/hypotheses.jsonl"},
        ]}
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    config = load_config(tmp_path / "pipeline.yaml")

    timings = run_stages(config)
    assert timings.keys() == {"decode_active", "discover"} and None not in timings.values()
    texts = [json.loads(line) for line in (tmp_path / "runs/active/texts.jsonl").read_text().splitlines()]
    assert sum(t["model"] == "base" for t in texts) == 40  # seed 30 + one round of 10: the budget
    assert {t["prompt_id"].split(":")[0] for t in texts} == {"free", "toyworld", "active001"}
    assert (tmp_path / "runs/discover/hypotheses.jsonl").read_text() == ""
    assert not (tmp_path / "runs/validate").exists()
    report = write_report(config, timings).read_text()
    assert "| decoding (runs/active) | 40 | 40 | 80 |" in report
    assert "Discovery proposed no hypotheses" in report and "stopped by **budget**" in report
    assert run_stages(config) == {"decode_active": None, "discover": None}  # done: skipped, nothing rerun
