"""The end-to-end pipeline as data: stages, each a ``difflens`` command and the file that marks it done.

A pipeline YAML names its stages in order. A stage whose ``done_when`` file exists is skipped;
one that is not done is run again, and each command resumes its own partial work (decoding
skips written texts, validation skips made judgements, finetuning is atomic). A stage can be
tied to one decoding mode (``decoding: active`` or ``exhaustive``) and arguments may use
``{decoding}`` and ``{decode_dir}``, so one file serves both modes::

    decoding: active
    decode_dirs: {active: runs/quickstart/active, exhaustive: runs/quickstart/decode}
    report: runs/quickstart/report.md
    stages:
      - name: discover
        run: [discover, --config, configs/quickstart/discover.yaml, --texts, "{decode_dir}/texts.jsonl"]
        done_when: runs/quickstart/{decoding}/discover/hypotheses.jsonl
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from difflens.errors import ConfigError

DECODING_MODES = ("active", "exhaustive")


@dataclass
class PipelineStage:
    """One stage.

    Attributes:
        name: short name (``--only`` takes it).
        run: the ``difflens`` arguments (``[fit, --config, ...]``).
        done_when: a file whose existence means the stage is complete.
        decoding: run only in this decoding mode (None: always).
        optional_config: skip the stage, with a message, when this file does not exist (a
            stage that another part of the project provides).
        skip_when_empty: skip the stage, with a message, when this file exists but holds no
            records (validation when discovery proposed no hypothesis: nothing differs enough).
    """

    name: str
    run: list[str]
    done_when: str
    decoding: str | None = None
    optional_config: str | None = None
    skip_when_empty: str | None = None

    def __post_init__(self) -> None:
        if not self.run or not all(isinstance(a, str) for a in self.run):
            raise ConfigError(f"stage {self.name!r}: run must be a non-empty list of strings")
        if self.decoding not in (None, *DECODING_MODES):
            raise ConfigError(f"stage {self.name!r}: decoding must be one of {DECODING_MODES} or absent")


@dataclass
class PipelineConfig:
    """A pipeline.

    Attributes:
        stages: the stages in order.
        decoding: ``active`` or ``exhaustive``: which decoding stages run.
        decode_dirs: the decoding output directory of each mode (``{decode_dir}`` in arguments).
        report: where ``report.md`` goes (its plots go beside it).
        discover_dir: the discovery stage's output directory (``map.png``, hypotheses).
        validate_dir: the validation stage's output directory (SAFFRON results, recovery).
        ground_truths: the intervention's ``ground_truths.json`` (listed in the report).
        weightdiff_dir: the weight-difference report directory (plots in the report), if any.
        tensorboard: the log directory to point the reader at.
    """

    stages: list[PipelineStage]
    decoding: str = "active"
    decode_dirs: dict[str, str] = field(default_factory=dict)
    report: str = "runs/pipeline/report.md"
    discover_dir: str | None = None
    validate_dir: str | None = None
    ground_truths: str | None = None
    weightdiff_dir: str | None = None
    tensorboard: str = "runs"

    def __post_init__(self) -> None:
        if self.decoding not in DECODING_MODES:
            raise ConfigError(f"decoding must be one of {DECODING_MODES}, got {self.decoding!r}")
        missing = set(DECODING_MODES) - set(self.decode_dirs)
        if missing:
            raise ConfigError(f"decode_dirs needs a directory for {sorted(missing)}")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"stage names must be unique, got {names}")
        if not self.stages:
            raise ConfigError("a pipeline needs at least one stage")

    @property
    def decode_dir(self) -> str:
        return self.decode_dirs[self.decoding]

    def resolve(self, text: str) -> str:
        """``text`` with ``{decoding}`` and ``{decode_dir}`` filled in."""
        return text.replace("{decoding}", self.decoding).replace("{decode_dir}", self.decode_dir)

    def active_stages(self) -> list[PipelineStage]:
        """The stages of this decoding mode, with their arguments resolved."""
        return [PipelineStage(s.name, [self.resolve(a) for a in s.run], self.resolve(s.done_when), s.decoding,
                              s.optional_config, s.skip_when_empty and self.resolve(s.skip_when_empty))
                for s in self.stages if s.decoding in (None, self.decoding)]

    def path(self, text: str) -> Path:
        return Path(self.resolve(text))
