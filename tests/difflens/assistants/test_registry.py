import pytest

from difflens.assistants import Assistant, OfflineAssistant, build_assistant
from difflens.assistants import offline as offline_module
from difflens.errors import ConfigError


def test_build_offline_by_default_without_loading_the_embedder():
    before = dict(offline_module._EMBEDDERS)
    assistant = build_assistant(seed=3)
    assert isinstance(assistant, OfflineAssistant) and isinstance(assistant, Assistant)
    assert assistant.backend == "offline" and assistant.seed == 3
    assert before == offline_module._EMBEDDERS  # constructors are cheap


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown assistant backend 'ofline'.*Did you mean 'offline'"):
        build_assistant("ofline")


def test_unknown_argument_is_a_config_error():
    with pytest.raises(ConfigError, match=r"offline.*temprature"):
        build_assistant("offline", temprature=0.5)


def test_bad_offline_arguments_name_the_flag():
    with pytest.raises(ConfigError, match="max_ngram"):
        OfflineAssistant(max_ngram=0)


def test_every_backend_builds_cheaply(tmp_path):
    from difflens.assistants import LocalChatAssistant, OpenAICompatibleAssistant

    assert isinstance(build_assistant("openai", model="m", cache_path=str(tmp_path / "c.sqlite")),
                      OpenAICompatibleAssistant)
    local = build_assistant("local", model="/not/loaded/yet")
    assert isinstance(local, LocalChatAssistant) and local._lm is None


def test_load_assistant_config(tmp_path):
    from difflens.assistants import load_assistant_config
    from difflens.errors import DataError

    path = tmp_path / "a.yaml"
    path.write_text("backend: offline\nseed: 4\n")
    assert load_assistant_config(path).seed == 4
    path.write_text("- backend\n")
    with pytest.raises(DataError, match="mapping"):
        load_assistant_config(path)
    with pytest.raises(DataError, match="not found"):
        load_assistant_config(tmp_path / "missing.yaml")


def test_every_backend_pickles(tmp_path):
    # DataLoader workers and spawned processes receive assistants by pickle.
    import pickle

    offline = OfflineAssistant(seed=2)
    offline._lock.acquire(), offline._lock.release()
    copy = pickle.loads(pickle.dumps(offline))
    assert copy.seed == 2 and copy.write_examples("hedges", 2) == offline.write_examples("hedges", 2)
    for backend, kwargs in (("openai", {"model": "m", "api_key_env": None}), ("local", {"model": "x"})):
        assistant = build_assistant(backend, cache_path=str(tmp_path / "c.sqlite"), **kwargs)
        _ = assistant.cache  # an open connection must not travel
        copy = pickle.loads(pickle.dumps(assistant))
        assert copy.model == assistant.model and copy.stats.requests == 0 and len(copy.cache) == 0
