"""``difflens test --config configs/quickstart/validate.yaml`` through the real CLI."""

import json

import pytest
import yaml

from tests.cli.test_cli import difflens
from tests.conftest import REPO
from tests.validation_data import write_inputs


def config_for(tmp_path, hypotheses, ground_truths):
    config = yaml.safe_load((REPO / "configs/quickstart/validate.yaml").read_text())
    config["trainer"]["logger"]["init_args"]["save_dir"] = str(tmp_path / "tb")
    config["trainer"]["callbacks"][1]["init_args"]["ground_truths"] = str(ground_truths)
    config["model"]["init_args"]["assistant"] = {"class_path": "tests.judges.ToyWorldJudge"}
    config["data"]["init_args"].update(texts=str(tmp_path / "in/texts.jsonl"), hypotheses=str(hypotheses),
                                       out_dir=str(tmp_path / "out"), n_per_model=15)
    path = tmp_path / "validate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_quickstart_validate_config_end_to_end(tmp_path, capsys):
    _, hypotheses = write_inputs(tmp_path / "in")
    truths = tmp_path / "ground_truths.json"
    truths.write_text(json.dumps({"ground_truths": [
        {"id": "ocean", "description": "The model talks about the ocean far more often", "toyworld": {"topics": {"ocean": 1}}},
        {"id": "hedging", "description": "The model hedges its statements", "toyworld": {"styles": {"hedging": 1.0}}}]}))
    out = difflens("test", "--config", str(config_for(tmp_path, hypotheses, truths)))
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(x) for x in (tmp_path / "out/saffron_results.jsonl").read_text().splitlines()]
    assert [r["rejected"] for r in rows] == [True, False, True, False]
    recovery = json.loads((tmp_path / "out/recovery.json").read_text())
    assert recovery["recall"] == 1.0 and recovery["recall_one_to_one"] == 1.0 and recovery["precision"] == 1.0
    assert "2 of 4 hypotheses validated" in (tmp_path / "out/discoveries.md").read_text()
    # a hypotheses file that references unknown text ids: one line on stderr, exit code 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(hypotheses.read_text().replace('"base/p0/0"', '"base/p0/missing"'))
    from cli.main import main

    capsys.readouterr()
    assert main(["test", "--config", str(config_for(tmp_path, bad, truths)), "--data.init_args.out_dir",
                 str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "references 1 text id(s) not in the texts file" in err and "Traceback" not in err
