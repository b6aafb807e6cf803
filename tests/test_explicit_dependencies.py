"""LightningModules, DataModules and Callbacks receive what they need explicitly.

A module that needs more of its data module than batches takes it as its ``data`` argument; a
callback reads its own arguments and the module passed to its hooks. None of them reaches
another component through the trainer (``trainer.datamodule``, ``trainer.lightning_module``,
``trainer.callbacks``, or the same through ``getattr``) or probes one with ``hasattr``.
"""

import re

import pytest

from tests.conftest import REPO

PACKAGES = ("lightning_modules", "datamodules", "callbacks")

REACH = re.compile(r"trainer\.(datamodule|lightning_module|callbacks)\b"
                   r"|getattr\([^,()]*trainer[^,()]*,\s*[\"'](datamodule|lightning_module|callbacks)[\"']"
                   r"|\bhasattr\(")


def reaches(root=REPO) -> list[str]:
    """``path:line: code`` of every line of ``PACKAGES`` that reaches or probes another component."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if REACH.search(line):
                    found.append(f"{path.relative_to(root).as_posix()}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("line, is_reach", [
    ("dm = self.trainer.datamodule", True),
    ("tokenizer = trainer.datamodule.tokenizer", True),
    ("sampler = trainer.lightning_module", True),
    ("writers = [cb for cb in self.trainer.callbacks]", True),
    ('data = getattr(self.trainer, "datamodule", None)', True),
    ('return getattr(trainer, "lightning_module", None)', True),
    ('if hasattr(data, "tasks"):', True),
    ("data = pl_module.data", False),
    ("rank, world = trainer.global_rank, trainer.world_size", False),
    ('codes = getattr(pl_module, "last_codes", None)', False),
])
def test_the_pattern_finds_each_kind_of_reach(line, is_reach):
    assert bool(REACH.search(line)) == is_reach


def test_no_component_reaches_another_through_the_trainer_or_probes_it():
    found = reaches()
    assert not found, ("these lines reach another component through the trainer or probe it with hasattr; "
                       "pass it as a constructor argument instead:\n" + "\n".join(found))
