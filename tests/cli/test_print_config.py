"""``--print_config`` and ``--help`` of the commands that read a config dataclass.

What ``--print_config`` prints is read back by ``--config`` to the same config, with the
override flags given applied; ``--help`` lists the file's keys with their field docstrings.
"""

from __future__ import annotations

import importlib

import pytest

from cli.main import main
from tests.conftest import REPO

# command argv before --config, the module that reads its config, a config of configs/,
# one override flag with the setting it changes
COMMANDS = [
    (["discover"], "cli.discover", "configs/quickstart/discover.yaml", ["--n-clusters", "7"], ("n_clusters", 7)),
    (["pipeline"], "cli.pipeline", "configs/quickstart/pipeline.yaml", ["--decoding", "exhaustive"],
     ("decoding", "exhaustive")),
    (["audit"], "cli.audit", "configs/audit/llama31_8b_lora.yaml", ["--output-dir", "runs/elsewhere"],
     ("output_dir", "runs/elsewhere")),
    (["encyclopedia", "refine"], "cli.encyclopedia", "configs/encyclopedia/refine_toyworld.yaml",
     ["--final-stage", "1"], ("final_stage", 1)),
]


@pytest.mark.parametrize("command, module, config, override, changed", COMMANDS, ids=lambda c: str(c))
def test_print_config_reads_back_as_the_same_config(command, module, config, override, changed, tmp_path, capsys):
    load_config = importlib.import_module(module).load_config
    assert main([*command, "--config", str(REPO / config), "--print_config"]) == 0
    printed = tmp_path / "printed.yaml"
    printed.write_text(capsys.readouterr().out)
    assert load_config(printed) == load_config(REPO / config)

    assert main([*command, "--config", str(REPO / config), "--print_config", *override]) == 0
    printed.write_text(capsys.readouterr().out)
    key, value = changed
    assert getattr(load_config(printed), key) == value


@pytest.mark.parametrize("command, key_line", [
    (["discover"], "proposal.contrast.rounds: residual rounds at most (0 turns the stage off). (type: int"),
    (["pipeline"], "stages[].done_when: a file whose existence means the stage is complete."),
    (["audit"], "base.adapter: a peft adapter directory applied on top"),
    (["encyclopedia", "refine"], "stage3.pairs: confused pairs to separate (stage 3)."),
])
def test_help_lists_the_config_keys_with_their_docstrings(command, key_line, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # help text is wrapped
    assert "--print_config" in out and key_line in out
