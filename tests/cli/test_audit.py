"""`difflens audit` end to end on two tiny local models: a base and the base plus a LoRA adapter.

Every stage is the real command in its own process, as a user runs it: once with the offline
assistant and active sampling and no ground truths, once with the OpenAI-compatible backend
against the loopback server, exhaustive decoding and a ground truth to score recovery against.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from cli.main import main
from datamodules.validation import HypothesisValidationDataModule
from difflens.audit import AuditConfig, render_audit
from difflens.config import config_from_mapping
from difflens.errors import ConfigError
from tests.conftest import REPO
from tests.difflens.assistants.openai_server import FakeChatServer

KEY_ENV = "DIFFLENS_TEST_AUDIT_KEY"


def audit_yaml(tmp_path, base, adapter, **settings) -> str:
    config = {
        "output_dir": str(tmp_path / "runs/audit"),
        "base": {"name_or_path": str(base), "dtype": "float32"},
        "intervention": {"name_or_path": str(base), "adapter": str(adapter), "dtype": "float32"},
        "prompts": {"free": 20, "toyworld": {"n": 10, "words": 2}},
        "sampling": {"max_new_tokens": 12},
        "trainer": {"accelerator": "cpu", "devices": 1},
        "num_threads": 1, "max_rows": 16, "batch_size": 16,
        "active": {"budget": 40, "round_size": 10, "n_clusters": 3, "areas_per_round": 2, "representatives": 4},
        "discover": {"n_clusters": 3, "proposal": {"max_pairs": 2, "alpha": 1.0, "min_effect": 0.0,
                                                   "texts_per_side": 10, "proposal_fraction": 0.6,
                                                   "global_texts_per_side": 10}},
        "validate": {"n_per_model": 4},
        **settings,
    }
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def read_texts(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_audit(monkeypatch, tmp_path, config_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    assert main(["audit", "--config", config_path]) == 0
    return tmp_path / "runs/audit"


@pytest.mark.slow
def test_audit_with_the_offline_assistant_and_active_sampling(tmp_path, tiny_model_dir, tiny_adapter_dir, monkeypatch):
    out = run_audit(monkeypatch, tmp_path, audit_yaml(tmp_path, tiny_model_dir, tiny_adapter_dir))
    texts = read_texts(out / "active/texts.jsonl")
    base = {t["text_id"].split("/", 1)[1]: t["text"] for t in texts if t["model"] == "base"}
    tuned = {t["text_id"].split("/", 1)[1]: t["text"] for t in texts if t["model"] == "intervention"}
    assert len(base) == len(tuned) == 40 and base.keys() == tuned.keys()  # seed 30 + one round of 10
    assert sum(base[k] != tuned[k] for k in base) > 20  # the adapter was applied
    meta = json.loads((out / "active/decode_meta.json").read_text())
    assert meta["models"]["intervention_adapter"] == str(tiny_adapter_dir)
    stage = yaml.safe_load((out / "configs/active.yaml").read_text())
    assert stage["model"]["class_path"] == "ActiveSampler"
    assert not any(c["class_path"] == "GroundTruthRecoveryCallback"
                   for c in yaml.safe_load((out / "configs/validate.yaml").read_text())["trainer"]["callbacks"])
    # validation's fresh samples would come from the same two models: the adapter included
    data = yaml.safe_load((out / "configs/validate.yaml").read_text())["data"]["init_args"]
    spec = HypothesisValidationDataModule(**data).model_spec("intervention")
    assert (spec.name_or_path, spec.adapter, spec.dtype) == (str(tiny_model_dir), str(tiny_adapter_dir), "float32")
    report = (out / "report.md").read_text()
    assert "| decoding (" in report and "| 40 | 40 | 80 |" in report
    assert "No ground truths were given" in report
    assert json.loads((out / "audit.json").read_text())["intervention"]["adapter"] == str(tiny_adapter_dir)
    # a second run skips every finished stage
    assert main(["audit", "--config", str(tmp_path / "audit.yaml"), "--list"]) == 0


@pytest.mark.slow
def test_audit_with_an_openai_compatible_judge_exhaustive_decoding_and_ground_truths(
        tmp_path, tiny_model_dir, tiny_adapter_dir, monkeypatch):
    truths = tmp_path / "ground_truths.json"
    truths.write_text(json.dumps({"ground_truths": [
        {"id": "ocean", "description": "The model talks about the ocean far more often",
         "toyworld": {"topics": {"ocean": 1}}}]}))
    monkeypatch.setenv(KEY_ENV, "test-key")
    with FakeChatServer() as server:
        assistant = {"backend": "openai", "model": "fake-model", "base_url": server.base_url,
                     "api_key_env": KEY_ENV, "concurrency": 2, "timeout": 30.0, "max_retries": 2,
                     "backoff": 0.01, "cache_path": str(tmp_path / "runs/audit/assistant_cache.sqlite")}
        config = audit_yaml(tmp_path, tiny_model_dir, tiny_adapter_dir, decoding="exhaustive",
                            assistant=assistant, ground_truths=str(truths))
        out = run_audit(monkeypatch, tmp_path, config)
        requests = list(server.requests)
    assert len(read_texts(out / "exhaustive/texts.jsonl")) == 2 * 30
    hypotheses = read_texts(out / "discover/hypotheses.jsonl")
    assert hypotheses and all("ocean" in h["text"] for h in hypotheses)  # the server's proposals
    results = read_texts(out / "validate/saffron_results.jsonl")
    assert len(results) == len(hypotheses)  # every hypothesis judged, in order, each once
    judged = [r for r in requests if r["body"]["messages"][-1]["content"].startswith("Hypothesis:")]
    assert len(judged) >= len(hypotheses) * 8  # 4 texts per model per hypothesis
    assert all(r["authorization"] == "Bearer test-key" for r in requests)
    recovery = json.loads((out / "validate/recovery.json").read_text())
    assert recovery["n_validated"] == sum(r["rejected"] for r in results)
    report = (out / "report.md").read_text()
    assert "Ground-truth recovery" in report and "**Recall" in report


def test_audit_config_errors_name_the_key(tmp_path):
    good = {"output_dir": "runs/a", "base": {"name_or_path": "m"},
            "intervention": {"name_or_path": "m", "adapter": "a"}}
    config_from_mapping(AuditConfig, good, "audit.yaml")
    for bad, message in (({**good, "decodng": "active"}, "audit.yaml: unknown key 'decodng'"),
                         ({**good, "base": {"name_or_path": "m", "dtyp": "bf16"}},
                          r"unknown key 'base\.dtyp' \(did you mean 'base\.dtype'\?\)"),
                         ({**good, "base": {"name_or_path": "m", "quantization": "3bit"}}, "quantization"),
                         ({**good, "prompts": {}}, "prompts needs at least one source"),
                         ({**good, "discover": {"texts": "x"}}, "set by the audit"),
                         ({k: v for k, v in good.items() if k != "base"}, r"missing key\(s\) base\.name_or_path")):
        with pytest.raises(ConfigError, match=message):
            config_from_mapping(AuditConfig, bad, "audit.yaml")
    config_path = tmp_path / "bad.yaml"
    config_path.write_text(yaml.safe_dump({**good, "decoding": "greedy"}))
    assert main(["audit", "--config", str(config_path)]) == 2


def test_audit_stage_configs_carry_each_sides_loading(tmp_path):
    config = config_from_mapping(AuditConfig, {
        "output_dir": str(tmp_path), "decoding": "exhaustive",
        "base": {"name_or_path": "org/base", "dtype": "bfloat16", "revision": "v1"},
        "intervention": {"name_or_path": "org/base", "adapter": "lora/", "quantization": "4bit",
                         "tokenizer": "org/tok"},
        "prompts": {"prefixes": 10, "files": [{"path": "bank.txt", "format": "lines"}]}}, "audit.yaml")
    configs, pipeline = render_audit(config)
    model = configs["exhaustive"]["model"]["init_args"]
    assert (model["base"]["dtype"], model["base"]["revision"], model["intervention"]["adapter"],
            model["intervention"]["quantization"], model["intervention"]["tokenizer"]) == \
        ("bfloat16", "v1", "lora/", "4bit", "org/tok")
    assert model["intervention"]["dtype"] == "auto"  # the checkpoint's own, as audits always loaded
    assert configs["validate"]["data"]["init_args"]["intervention"] == model["intervention"]
    assert configs["validate"]["data"]["init_args"]["pool_sources"] == ["prefixes", "bank.txt"]
    assert [s.name for s in pipeline.active_stages()] == ["decode_exhaustive", "discover", "validate"]
    assert pipeline.active_stages()[-1].done_when.endswith("discoveries.md")  # no ground truths: no recovery
