"""``difflens validate-null``: A/A runs on one model find (almost) nothing and resume."""

import json

import pytest

from cli.main import main
from tests.validation_data import write_inputs

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_aa_check_runs_resumes_and_reports(tmp_path, tiny_model_dir, capsys):
    _, hypotheses = write_inputs(tmp_path / "in", n_texts=40)
    argv = ["validate-null", "--model", str(tiny_model_dir), "--hypotheses", str(hypotheses), "--seeds", "3",
            "--n-per-model", "6", "--max-new-tokens", "10", "--assistant", "tests.judges.ToyWorldJudge",
            "--out", str(tmp_path / "null"), "--threads", "1"]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "null/validate_null.json").read_text())
    assert summary["seeds"] == 3 and summary["n_hypotheses"] == 4
    assert summary["seeds_with_none"] + summary["seeds_with_any_discovery"] == 3
    for seed in range(3):
        texts = (tmp_path / f"null/seed{seed}/texts.jsonl").read_text().splitlines()
        assert len(texts) == 2 * 4 * 6
        rows = (tmp_path / f"null/seed{seed}/saffron_results.jsonl").read_text().splitlines()
        assert len(rows) == 4
    # a rerun reuses every finished seed
    before = (tmp_path / "null/seed0/saffron_results.jsonl").stat().st_mtime_ns
    assert main(argv) == 0
    assert (tmp_path / "null/seed0/saffron_results.jsonl").stat().st_mtime_ns == before
    assert main([*argv, "--out", str(tmp_path / "x"), "--alpha", "1.5"]) == 2
    assert "alpha must be in (0, 1)" in capsys.readouterr().err


def test_settings_come_from_the_validation_config_unless_flags_say_otherwise():
    import argparse

    from cli.validate_null import add_arguments, resolve
    from tests.conftest import REPO

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = resolve(parser.parse_args(["--config", str(REPO / "configs/quickstart/validate.yaml"), "--seeds", "3"]))
    assert (args.model, args.n_per_model, args.test, args.assistant, args.alpha, args.method, args.seeds) == (
        "runs/quickstart/base_lm/model", "auto", "paired", "offline", 0.05, "saffron", 3)
    assert args.positive_threshold == 0.75
    assert args.hypotheses == "runs/quickstart/discover/hypotheses.jsonl"
    assert resolve(parser.parse_args([])).n_per_model == 20


def test_paired_aa_pairs_differ_and_auto_n_plans_from_a_pilot_it_never_judges(tmp_path, tiny_model_dir):
    import yaml

    from difflens.records import DecodedText, read_records
    from difflens.validation.plan import complete_pairs
    from tests.conftest import REPO

    _, hypotheses = write_inputs(tmp_path / "in", n_texts=40)
    config = yaml.safe_load((REPO / "configs/quickstart/validate.yaml").read_text())
    assert config["model"]["init_args"]["test"] == "paired" and config["data"]["init_args"]["n_per_model"] == "auto"
    config["data"]["init_args"]["auto_n"].update(pilot_per_model=6, n_min=3, n_max=5)
    path = tmp_path / "validate.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = ["validate-null", "--config", str(path), "--model", str(tiny_model_dir), "--hypotheses", str(hypotheses),
            "--seeds", "2", "--max-new-tokens", "10", "--assistant", "tests.judges.ToyWorldJudge",
            "--out", str(tmp_path / "null"), "--threads", "1"]
    assert main(argv) == 0
    for seed in range(2):
        run = tmp_path / f"null/seed{seed}"
        summary = json.loads((run / "null_summary.json").read_text())
        assert summary["tested"] == 4 and set(summary["n_per_model"].values()) <= {3, 4, 5}
        pilot = {t.text_id for t in read_records(run / "texts.jsonl", DecodedText)}
        assert len(pilot) == 12
        judged = [json.loads(x) for x in (run / "plan.jsonl").read_text().splitlines()[1:]]
        assert len(judged) == 2 * sum(summary["n_per_model"].values())
        assert not pilot & {t["text_id"] for t in judged}
        # each judged pair is one model drawn twice: two seeds, so (almost always) two texts
        pairs = complete_pairs(read_records(run / "fresh_pairs.jsonl", DecodedText))
        assert len(pairs) >= len(judged) // 2
        assert all(p["base"].seed != p["intervention"].seed for p in pairs.values())
        assert sum(p["base"].text != p["intervention"].text for p in pairs.values()) >= len(pairs) - 1
