"""A judge that cannot answer is never a result: ``difflens test`` against a closed port stops
with one line and writes no results; a rerun against a working OpenAI-compatible server (on
loopback) sends exactly the requests still missing."""

import json
import socket

import yaml

from cli.main import main
from tests.cli.test_validate import config_for
from tests.difflens.assistants.openai_server import FakeChatServer
from tests.validation_data import write_inputs

N_PER_MODEL = 6
N_HYPOTHESES = 4
PLANNED = N_HYPOTHESES * 2 * N_PER_MODEL


def _closed_port_url() -> str:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _config(tmp_path, base_url: str, on_failure: str = "stop"):
    _, hypotheses = write_inputs(tmp_path / "in", n_texts=60)
    truths = tmp_path / "ground_truths.json"
    truths.write_text(json.dumps({"ground_truths": [
        {"id": "ocean", "description": "The model talks about the ocean far more often",
         "toyworld": {"topics": {"ocean": 1}}}]}))
    path = config_for(tmp_path, hypotheses, truths)
    config = yaml.safe_load(path.read_text())
    config["model"]["init_args"]["assistant"] = {
        "backend": "openai", "model": "fake-model", "base_url": base_url, "api_key_env": None,
        "concurrency": 1, "timeout": 5.0, "max_retries": 1, "backoff": 0.01, "max_backoff": 0.01,
        "cache_path": str(tmp_path / "cache.sqlite")}
    config["model"]["init_args"]["on_judge_failure"] = on_failure
    config["data"]["init_args"].update(n_per_model=N_PER_MODEL, batch_size=4)
    path.write_text(yaml.safe_dump(config))
    return path


def _journal(tmp_path) -> list[dict]:
    path = tmp_path / "out/judgements/rank0.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_closed_port_stops_then_rerun_asks_exactly_the_missing(tmp_path, capsys):
    out = tmp_path / "out"
    config = _config(tmp_path, _closed_port_url())
    assert main(["test", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "gave no usable answer" in err and "on_judge_failure" in err
    assert _journal(tmp_path) == []
    assert not (out / "saffron_results.jsonl").exists() and not (out / "recovery.json").exists()

    # A working server that fails one request (both attempts) midway: the run stops again,
    # keeping every judgement it made.
    with FakeChatServer() as server:
        server.faults = [None] * 5 + ["500", "500"]
        config = _config(tmp_path, server.base_url)
        assert main(["test", "--config", str(config)]) == 2
        assert "gave no usable answer for 1 of " in capsys.readouterr().err
        made = _journal(tmp_path)
        # every answered request of the batches reached is journaled; the failed one is not
        assert len(made) == len(server.requests) - 2 and all(j["score"] is not None for j in made)
        assert not (out / "saffron_results.jsonl").exists() and not (out / "recovery.json").exists()

        # The rerun asks only what is missing: the request that failed and the tasks not reached
        # (the batch's other answers were cached).
        sent_before = len(server.requests)
        assert main(["test", "--config", str(config)]) == 0
        printed = capsys.readouterr().out
        assert f"resuming {out}: {len(made)} of {PLANNED} planned judgements already made" in printed
        assert len(server.requests) - sent_before == PLANNED - len(made)
    indices = [j["index"] for j in _journal(tmp_path)]
    assert sorted(indices) == list(range(PLANNED))
    assert (out / "recovery.json").exists()
    rows = [json.loads(x) for x in (out / "saffron_results.jsonl").read_text().splitlines()]
    assert [r["n"] for r in rows] == [2 * N_PER_MODEL] * N_HYPOTHESES


def test_untested_option_spends_no_wealth(tmp_path, capsys):
    with FakeChatServer() as server:
        # The first hypothesis's first request fails both attempts; everything else answers.
        server.faults = ["500", "500"]
        config = _config(tmp_path, server.base_url, on_failure="untested")
        assert main(["test", "--config", str(config)]) == 0
    assert "1 hypotheses untested" in capsys.readouterr().out
    out = tmp_path / "out"
    rows = [json.loads(x) for x in (out / "saffron_results.jsonl").read_text().splitlines()]
    state = json.loads((out / "fdr_state.json").read_text())
    assert [u["hypothesis_id"] for u in state["untested"]] == ["h0000"]
    assert [r["hypothesis_id"] for r in rows] == ["h0001", "h0002", "h0003"]
    assert rows[0]["t"] == 1 and rows[0]["wealth"] > 0  # the first test starts with the initial wealth
    assert "## Untested" in (out / "discoveries.md").read_text()
