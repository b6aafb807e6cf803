import pytest

from difflens.assistants import Assistant, OfflineAssistant, build_assistant
from difflens.assistants import offline as offline_module
from difflens.errors import ConfigError


def test_build_offline_by_default_without_loading_the_embedder():
    before = dict(offline_module._EMBEDDERS)
    assistant = build_assistant(seed=3)
    assert isinstance(assistant, OfflineAssistant) and isinstance(assistant, Assistant)
    assert assistant.backend == "offline" and assistant.seed == 3
    assert offline_module._EMBEDDERS == before  # constructors are cheap


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown assistant backend 'ofline'.*Did you mean 'offline'"):
        build_assistant("ofline")


def test_unknown_argument_is_a_config_error():
    with pytest.raises(ConfigError, match="offline.*temprature"):
        build_assistant("offline", temprature=0.5)


def test_bad_offline_arguments_name_the_flag():
    with pytest.raises(ConfigError, match="max_ngram"):
        OfflineAssistant(max_ngram=0)
