"""``difflens validate-null``: A/A runs on one model find (almost) nothing and resume."""

import json

import pytest
import torch

from cli.main import main
from tests.validation_data import write_inputs


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


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
