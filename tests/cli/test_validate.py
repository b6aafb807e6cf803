"""``difflens test --config configs/quickstart/validate.yaml`` through the real CLI: killed
with SIGKILL midway, rerun, and compared with an uninterrupted run."""

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

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


def uninterrupted_rows(tmp_path, hypotheses):
    import pytorch_lightning as pl

    from callbacks import SaffronCallback
    from datamodules import HypothesisValidationDataModule
    from lightning_modules import HypothesisValidator
    from tests.judges import ToyWorldJudge

    settings = yaml.safe_load((REPO / "configs/quickstart/validate.yaml").read_text())["model"]["init_args"]
    data = HypothesisValidationDataModule(str(tmp_path / "in/texts.jsonl"), str(hypotheses),
                                          out_dir=str(tmp_path / "reference"), n_per_model=15)
    validator = HypothesisValidator(test=settings["test"], positive_threshold=settings.get("positive_threshold", 0.5),
                                    data=data)
    validator.judge = ToyWorldJudge()
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
               callbacks=[SaffronCallback(alpha=0.05)]).test(validator, datamodule=data, verbose=False)
    return [json.loads(x) for x in (tmp_path / "reference/saffron_results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_quickstart_validate_config_killed_midway_and_rerun(tmp_path, capsys):
    _, hypotheses = write_inputs(tmp_path / "in")
    truths = tmp_path / "ground_truths.json"
    truths.write_text(json.dumps({"ground_truths": [
        {"id": "ocean", "description": "The model talks about the ocean far more often",
         "toyworld": {"topics": {"ocean": 1}}},
        {"id": "hedging", "description": "The model hedges its statements",
         "toyworld": {"styles": {"hedging": 1.0}}}]}))
    config = config_for(tmp_path, hypotheses, truths)

    # 1. a slow judge, killed with SIGKILL once 20 judgements are on disk
    slow = ["--model.init_args.assistant",
            '{"class_path": "tests.judges.SlowToyWorldJudge", "init_args": {"delay": 0.3}}',
            "--data.init_args.batch_size", "4"]
    proc = subprocess.Popen([sys.executable, "-m", "cli", "test", "--config", str(config), *slow], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "out/judgements/rank0.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 20):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = journal.read_text().splitlines()
    assert 20 <= len(first) < 120 and not (tmp_path / "out/saffron_results.jsonl").exists()

    # 2. the rerun (in this process, through the same entry point) finishes: every planned
    #    text judged exactly once over both runs ...
    from cli.main import main

    assert main(["test", "--config", str(config)]) == 0
    indices = [json.loads(x)["index"] for x in journal.read_text().splitlines()]
    assert len(indices) == len(set(indices)) == 120
    # ... with the decisions of an uninterrupted run, the true hypotheses validated, both truths recovered
    rows = [json.loads(x) for x in (tmp_path / "out/saffron_results.jsonl").read_text().splitlines()]
    assert rows == uninterrupted_rows(tmp_path, hypotheses)
    assert [r["rejected"] for r in rows] == [True, False, True, False]
    recovery = json.loads((tmp_path / "out/recovery.json").read_text())
    assert recovery["recall"] == 1.0 and recovery["recall_one_to_one"] == 1.0 and recovery["precision"] == 1.0
    assert "2 of 4 hypotheses validated" in (tmp_path / "out/discoveries.md").read_text()

    # 3. a hypotheses file that references unknown text ids: one line on stderr, exit code 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(hypotheses.read_text().replace('"base/p0/0"', '"base/p0/missing"'))
    capsys.readouterr()
    assert main(["test", "--config", str(config_for(tmp_path, bad, truths)), "--data.init_args.out_dir",
                 str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "references 1 text id(s) not in the texts file" in err and "Traceback" not in err
