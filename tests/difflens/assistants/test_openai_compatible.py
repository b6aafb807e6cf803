"""The OpenAI-compatible backend through the real ``openai`` SDK against a loopback server
that answers, stalls, returns 429/500 and garbage."""

import json
import logging
import subprocess
from pathlib import Path

import pytest

from difflens.assistants import AssistantError, BudgetExceededError, OpenAICompatibleAssistant, build_assistant
from difflens.errors import ConfigError
from tests.difflens.assistants.openai_server import FakeChatServer

KEY_ENV = "DIFFLENS_TEST_ENDPOINT_KEY"
KEY = "sk-difflens-test-0123456789-secret"
HYPOTHESIS = "Texts from the intervention model mention the ocean more often"
TEXTS = [f"The wave number {i} hits the shore." if i % 2 == 0 else f"The pawn number {i} takes the rook."
         for i in range(12)]


@pytest.fixture
def server():
    # A stall outlasts the client's timeout; the timeout is generous so that a slow, shared
    # machine never times out an ordinary request (which would change the retry counts).
    with FakeChatServer(stall_seconds=4.0) as s:
        yield s


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def make(server_or_url, run_dir, **kwargs):
    base_url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    defaults = dict(model="fake-model", base_url=base_url, api_key_env=KEY_ENV, concurrency=3, timeout=2.0,
                    max_retries=3, backoff=0.01, max_backoff=0.05, cache_path=str(run_dir / "assistant_cache.sqlite"),
                    input_price=1.0, output_price=2.0)
    return OpenAICompatibleAssistant(**{**defaults, **kwargs})


def expected(text):
    return 0.9 if "wave" in text else 0.1


def test_judge_survives_faults_then_replays_from_the_cache(server, key, run_dir):
    log_file = run_dir / "assistant.log"
    handler = logging.FileHandler(log_file)
    loggers = [logging.getLogger(n) for n in ("difflens", "openai", "httpx", "httpcore", "httpx2")]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        server.faults = ["stall", "429", "500", "garbage", "unreadable"]
        assistant = make(server, run_dir)
        scores = assistant.judge_batch(HYPOTHESIS, TEXTS)
        # Every text judged once: the unreadable reply is None (never a guess), the rest are right.
        assert scores.count(None) == 1
        assert all(s == expected(t) for s, t in zip(scores, TEXTS) if s is not None)
        stats = assistant.stats
        assert (stats.requests, stats.retries, stats.completions, stats.unparsed, stats.failed) == (16, 4, 12, 1, 0)
        assert len(server.requests) == 16 and len(assistant.cache) == 12
        assert stats.cost == pytest.approx(12 * (100 * 1.0 + 10 * 2.0) / 1e6)
        assert assistant.unparsed[0]["reply"] == "I would rather not say."
        answered = [json.dumps(r["body"]["messages"]) for r in server.requests if r["fault"] in (None, "unreadable")]
        assert len(answered) == len(set(answered)) == 12  # no text answered twice
        assert all(r["authorization"] == f"Bearer {key}" for r in server.requests)  # the key was used

        # A second run is served entirely from the cache: the endpoint is not even needed.
        url = server.base_url
        server.__exit__(None, None, None)
        replay = make(url, run_dir)
        assert replay.judge_batch(HYPOTHESIS, TEXTS) == scores
        assert (replay.stats.cache_hits, replay.stats.requests) == (12, 0)
        _write_tensorboard(run_dir / "tb", assistant)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        handler.close()
    assert log_file.read_text()  # something was logged, so the grep below means something
    _assert_key_nowhere(run_dir, key)
    assert subprocess.run(["grep", "-r", "-l", key, str(run_dir)], capture_output=True).returncode == 1


def _write_tensorboard(logdir: Path, assistant):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    state = {k: v for k, v in vars(assistant).items()}
    writer.add_text("assistant/state", json.dumps(state, default=repr))
    for name, value in assistant.stats.as_dict().items():
        writer.add_scalar(f"assistant/{name}", value)
    writer.close()


def _assert_key_nowhere(root: Path, key: str):
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files) and any("tfevents" in p.name for p in files)
    leaks = [str(p) for p in files if key.encode() in p.read_bytes()]
    assert leaks == []


def test_persistent_failure_is_none_and_retried_next_run(server, key, run_dir):
    server.faults = ["500"] * 3
    assistant = make(server, run_dir, max_retries=2)
    assert assistant.judge(HYPOTHESIS, TEXTS[0]) is None
    assert (assistant.stats.failed, assistant.stats.requests, len(assistant.cache)) == (1, 3, 0)
    again = make(server, run_dir, max_retries=2)
    assert again.judge(HYPOTHESIS, TEXTS[0]) == 0.9 and again.stats.requests == 1


def test_budget_stops_without_losing_paid_replies(server, key, run_dir):
    assistant = make(server, run_dir, max_requests=3, concurrency=1)
    with pytest.raises(BudgetExceededError, match="raise max_requests and rerun") as err:
        assistant.judge_batch(HYPOTHESIS, TEXTS[:5])
    assert KEY not in str(err.value)
    assert len(assistant.cache) == 3 and len(server.requests) == 3
    rerun = make(server, run_dir, max_requests=2, concurrency=1)
    assert rerun.judge_batch(HYPOTHESIS, TEXTS[:5]) == [expected(t) for t in TEXTS[:5]]
    assert (rerun.stats.cache_hits, rerun.stats.requests) == (3, 2)


def test_refused_request_is_one_line_error_without_the_key(server, key, run_dir):
    server.faults = ["401"]
    with pytest.raises(AssistantError, match=r"HTTP 401.*DIFFLENS_TEST_ENDPOINT_KEY") as err:
        make(server, run_dir).judge(HYPOTHESIS, TEXTS[0])
    assert KEY not in str(err.value) and "\n" not in str(err.value)


def test_propose_and_write_examples_through_the_sdk(server, key, run_dir):
    assistant = build_assistant("openai", model="fake-model", base_url=server.base_url, api_key_env=KEY_ENV,
                                examples_per_request=5, cache_path=str(run_dir / "c.sqlite"))
    hypotheses = assistant.propose(["a chess text"], ["an ocean text"], 3, avoid=["mentions chess"])
    assert hypotheses == [f"Texts from the intervention model mention the ocean ({i})" for i in range(3)]
    assert "mentions chess" in server.requests[0]["body"]["messages"][1]["content"]
    examples = assistant.write_examples("talks about the sea", 12)
    assert examples == [f"Example {i} about the sea." for i in range(1, 13)]
    assert len(server.requests) == 1 + 3


def test_missing_key_names_the_variable(server, run_dir, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"environment variable {KEY_ENV} is not set"):
        make(server, run_dir).judge(HYPOTHESIS, "text")
    assert server.requests == []


def test_keyless_server_and_bad_arguments(server, run_dir):
    assert make(server, run_dir, api_key_env=None).judge(HYPOTHESIS, TEXTS[0]) == 0.9
    with pytest.raises(ConfigError, match="NAME of an environment variable"):
        OpenAICompatibleAssistant(model="m", api_key_env=KEY)
    with pytest.raises(ConfigError, match="concurrency"):
        OpenAICompatibleAssistant(model="m", concurrency=0)


def test_propose_about_the_base_model_tells_the_server_which_group_is_which(server, key, run_dir):
    """Proposals about what the intervention does less are about the base model's texts (group B)."""
    assistant = build_assistant("openai", model="fake-model", base_url=server.base_url, api_key_env=KEY_ENV,
                                cache_path=str(run_dir / "c.sqlite"))
    assistant.propose(["an intervention text"], ["a base text"], 2, subject="base")
    prompt = server.requests[0]["body"]["messages"][1]["content"]
    assert "Group A was written by the intervention model, group B by the base model" in prompt
    assert 'starts with "Texts from the base model"' in prompt
    with pytest.raises(ConfigError, match="subject must be"):
        assistant.propose(["a"], ["b"], 1, subject="tuned")


def test_proposal_without_a_reply_is_an_error_and_the_rerun_asks_only_it(server, key, run_dir):
    groups = [(["a chess text"], [f"an ocean text {i}"]) for i in range(3)]
    server.faults = ["500", "500"]  # the first request fails both of its attempts
    with pytest.raises(AssistantError, match="no reply to 1 of 3 proposal requests") as err:
        make(server, run_dir, max_retries=1, concurrency=1).propose_batch(groups, 2)
    assert "\n" not in str(err.value)
    sent = len(server.requests)
    again = make(server, run_dir, max_retries=1, concurrency=1).propose_batch(groups, 2)
    assert len(again) == 3 and all(len(h) == 2 for h in again)
    assert len(server.requests) - sent == 1


def test_model_without_chat_template_falls_back_to_completions(server, key, run_dir, caplog):
    server.chat_template = False
    assistant = make(server, run_dir, concurrency=1)
    with caplog.at_level(logging.WARNING, logger="difflens.assistants"):
        scores = assistant.judge_batch(HYPOTHESIS, TEXTS[:6])
    assert scores == [expected(t) for t in TEXTS[:6]]
    # one refused chat request, then every request on the completions route
    assert [r["route"] for r in server.requests] == ["chat"] + ["completions"] * 6
    assert assistant.route == "completions"
    assert sum("using the completions route" in r.getMessage() for r in caplog.records) == 1
    prompt = server.requests[1]["body"]["prompt"]
    assert prompt.startswith("You are a careful annotator.") and prompt.endswith("Answer:\n")
    # a rerun starting on auto finds those replies in the cache: nothing is asked again
    again = make(server, run_dir, concurrency=1)
    assert again.judge_batch(HYPOTHESIS, TEXTS[:6]) == scores and again.stats.requests == 0


def test_route_chat_does_not_fall_back(server, key, run_dir):
    server.chat_template = False
    assistant = make(server, run_dir, route="chat", max_retries=0)
    assert assistant.judge(HYPOTHESIS, TEXTS[0]) is None
    assert [r["route"] for r in server.requests] == ["chat"]
    with pytest.raises(ConfigError, match="route"):
        make(server, run_dir, route="legacy")


def test_drop_unparsed_lets_a_rerun_ask_again(server, key, run_dir, capsys):
    from cli.main import main

    server.faults = ["unreadable"]
    cache = run_dir / "assistant_cache.sqlite"
    first = make(server, run_dir, concurrency=1).judge_batch(HYPOTHESIS, TEXTS[:3])
    assert first[0] is None and first[1:] == [expected(t) for t in TEXTS[1:3]]
    # the unreadable reply is cached, so a rerun would read it again ...
    assert make(server, run_dir, concurrency=1).judge_batch(HYPOTHESIS, TEXTS[:3])[0] is None
    assert main(["assistant", "cache", str(cache), "--drop-unparsed"]) == 0
    assert "dropped 1 unparsed replies" in capsys.readouterr().out
    # ... and after dropping it a rerun asks exactly that request
    sent = len(server.requests)
    again = make(server, run_dir, concurrency=1)
    assert again.judge_batch(HYPOTHESIS, TEXTS[:3]) == [expected(t) for t in TEXTS[:3]]
    assert len(server.requests) - sent == 1


def test_a_transient_500_is_retried_not_taken_for_a_missing_chat_template(server, key, run_dir):
    server.faults = ["500"]
    assistant = make(server, run_dir, concurrency=1)
    assert assistant.judge(HYPOTHESIS, TEXTS[0]) == 0.9
    assert assistant.route == "auto" and all(r.get("route", "chat") == "chat" for r in server.requests)
