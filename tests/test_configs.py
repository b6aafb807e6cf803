"""Every YAML under configs/ parses and instantiates (without training or loading weights).

Lightning configs go through the LightningCLI; configs of the project's own subcommands are
claimed by the subcommand's module through a ``CONFIG_GLOBS`` tuple and parsed by its
``load_config(path)``. Constructors validate arguments but never load weights or data, which
is what keeps this test fast.
"""

import importlib
from pathlib import Path

import pytest
import yaml

from cli.main import TOOL_COMMANDS
from tests.conftest import REPO

CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def tool_for(path: Path) -> str | None:
    rel = path.relative_to(REPO).as_posix()
    for name, module_name in TOOL_COMMANDS.items():
        module = importlib.import_module(module_name)
        if any(Path(rel).match(glob) for glob in getattr(module, "CONFIG_GLOBS", ())):
            return name
    return None


def test_there_are_configs():
    assert REPO.joinpath("configs/quickstart/base_lm.yaml") in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_config_instantiates(path, run_dir):
    tool = tool_for(path)
    if tool is not None:
        importlib.import_module(TOOL_COMMANDS[tool]).load_config(path)
        return
    from cli.lightning import DifflensCLI

    raw = yaml.safe_load(path.read_text())
    assert {"model", "data"} <= set(raw), f"{path} is neither a Lightning config nor claimed by a subcommand"
    cli = DifflensCLI(args=["--config", str(path)], run=False)
    assert cli.model is not None and cli.datamodule is not None and cli.trainer is not None
