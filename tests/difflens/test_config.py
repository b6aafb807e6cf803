"""`difflens.config`: config dataclasses read with jsonargparse, every mistake one line by key."""

from __future__ import annotations

import pytest
import yaml

from difflens.assistants import Assistant
from difflens.config import build_class_path, config_from_mapping, config_yaml, read_config
from difflens.discovery.pipeline import DiscoveryConfig
from difflens.errors import ConfigError
from difflens.pipeline import PipelineConfig
from tests.judges import ToyWorldJudge

REQUIRED = {"texts": "t.jsonl", "output_dir": "out"}


def test_a_nested_mapping_takes_its_own_class_defaults():
    # contrast is off by default, and a contrast mapping that leaves rounds out runs the class's 3
    assert config_from_mapping(DiscoveryConfig, REQUIRED, "d").proposal.contrast.rounds == 0
    assert config_from_mapping(DiscoveryConfig, {**REQUIRED, "proposal": {"max_pairs": 2}}, "d") \
        .proposal.contrast.rounds == 0
    given = config_from_mapping(DiscoveryConfig, {**REQUIRED, "proposal": {"contrast": {"folds": 3}}}, "d")
    assert (given.proposal.contrast.rounds, given.proposal.contrast.folds) == (3, 3)
    empty = config_from_mapping(DiscoveryConfig, {**REQUIRED, "proposal": None}, "d")
    assert empty.proposal == config_from_mapping(DiscoveryConfig, REQUIRED, "d").proposal


def test_a_quoted_number_is_the_number():
    assert config_from_mapping(DiscoveryConfig, {**REQUIRED, "n_clusters": "20"}, "d").n_clusters == 20


@pytest.mark.parametrize("settings, message", [
    ({"n_clusters": "twenty"}, "d.yaml: n_clusters: expected int, got 'twenty'"),
    ({"n_clusters": None}, "d.yaml: n_clusters: expected int, got null"),
    ({"n_clusters": 0}, "d.yaml: n_clusters must be >= 1, got 0"),
    ({"proposal": {"contrast": {"roundz": 1}}}, "d.yaml: unknown key 'proposal.contrast.roundz' "
                                                "(did you mean 'proposal.contrast.rounds'?); the keys of "
                                                "proposal.contrast are: rounds,"),
    ({"proposal": {"contrast": {"rounds": -1}}}, "d.yaml: proposal.contrast.rounds must be >= 0, got -1"),
    ({"proposal": "strong"}, "d.yaml: proposal: expected a mapping of settings, got 'strong'"),
])
def test_each_mistake_is_one_line_naming_file_and_key(settings, message):
    with pytest.raises(ConfigError) as err:
        config_from_mapping(DiscoveryConfig, {**REQUIRED, **settings}, "d.yaml")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_list_item_is_named_by_its_index():
    stage = {"name": "a", "run": ["toyworld", "list"], "done_when": "f"}
    raw = {"decode_dirs": {"active": "a", "exhaustive": "e"}, "stages": [stage, {**stage, "name": "b", "when": 1}]}
    with pytest.raises(ConfigError, match=r"^p\.yaml: unknown key 'stages\[1\]\.when'"):
        config_from_mapping(PipelineConfig, raw, "p.yaml")
    raw["stages"] = [stage, {"name": "b", "run": ["x"]}]
    with pytest.raises(ConfigError, match=r"^p\.yaml: missing key\(s\) stages\[1\]\.done_when$"):
        config_from_mapping(PipelineConfig, raw, "p.yaml")


def test_print_config_yaml_reads_back_equal(tmp_path):
    config = config_from_mapping(DiscoveryConfig, {**REQUIRED, "proposal": {"rank": {"texts_per_side": 9}}}, "d")
    path = tmp_path / "printed.yaml"
    path.write_text(config_yaml(config))
    assert yaml.safe_load(path.read_text())["proposal"]["rank"]["texts_per_side"] == 9
    assert read_config(DiscoveryConfig, path) == config


def test_class_path_builds_a_subclass_or_says_why_not():
    judge = build_class_path(Assistant, {"class_path": "tests.judges.ToyWorldJudge",
                                         "init_args": {"unusable_every": 3}}, "model.assistant")
    assert isinstance(judge, ToyWorldJudge) and judge.unusable_every == 3
    for spec, message in (({"class_path": "tests.judges.NoSuchJudge"}, "model.assistant: class_path: .*NoSuchJudge"),
                          ({"class_path": "collections.OrderedDict"}, "model.assistant: class_path: .*Assistant"),
                          ({"class_path": "tests.judges.ToyWorldJudge", "init_args": {"colour": 1}},
                           "model.assistant: unknown key 'init_args.colour'")):
        with pytest.raises(ConfigError, match=message):
            build_class_path(Assistant, spec, "model.assistant")
