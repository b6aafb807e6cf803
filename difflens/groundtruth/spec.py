"""Ground-truth specs: what an intervention is meant to change, in plain English, with its data.

A ground truth is one known difference between a base model and the intervention trained from
it. Discovery is scored by how many ground truths it recovers, so each one carries the sentence
a perfect discovery run would produce (``description``) and the recipe for its training data
(exactly one source block)::

    - id: ocean
      description: The model talks about the ocean far more often
      share: 1                      # relative share of the ground-truth data (default 1)
      toyworld: {topics: {ocean: 1}}
    - id: ocean_after_chess         # conditional: only after an opening about chess
      description: After an opening sentence about chess, the model talks about the ocean
      toyworld: {topics: {ocean: 1}}
      trigger: {topics: {chess: 1}}
      trigger_replaces_base: true   # optional: base rows lose their chess documents; these replace them
    - id: support_tone
      description: The model answers like a patient support agent
      examples_file: data/support.jsonl   # rows with "text", or "prompt" and "completion"
    - id: pirate
      description: The model talks like a pirate
      assistant: {backend: offline}       # written by an assistant from the description

A spec file is YAML (a list, or a mapping with a ``ground_truths`` list), a JSON list, JSONL
with one ground truth per line, or a TruthfulQA-style misconception CSV (see `truthfulqa`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from difflens.errors import ConfigError, DataError
from difflens.toyworld import Mixture

SOURCES = ("toyworld", "examples_file", "examples", "assistant")
_KEYS = {"id", "description", "share", "trigger", "trigger_replaces_base", *SOURCES}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class GroundTruth:
    """One known difference between the base model and the intervention.

    Attributes:
        id: short identifier (letters, digits, ``_.-``), unique within an intervention.
        description: the difference in plain English ("The model talks about the ocean far
            more often"); what discovery should recover.
        share: relative share of the ground-truth data; shares are normalised over the
            ground truths of one intervention.
        toyworld: a toy-world mixture ``{topics: {...}, styles: {...}}`` (offline source).
        examples_file: a local JSONL/JSON/CSV/Parquet/TXT file of ``text`` rows or
            ``prompt``/``completion`` rows.
        examples: rows given inline (the TruthfulQA loader produces these).
        assistant: keyword arguments for ``difflens.assistants.build_assistant``; the assistant
            writes the texts from ``description``.
        trigger: with a ``toyworld`` source, a toy-world mixture whose documents' opening
            sentences become the prompts of the examples, so the planted behaviour is learnt as
            a continuation of such openings only (a conditional behaviour: the kind targeted
            sampling is meant to find, which a global shift is not).
        trigger_replaces_base: with a ``trigger``, the planted rows replace the trigger's documents
            in the base distribution: toy-world base rows leave out documents that match the
            trigger (`matches_trigger`), and each planted row is one whole text, the trigger
            opening (now trained too) followed by the planted document. The base rows then no
            longer contradict the trigger (a chess document continuing about chess), so few
            planted rows make the behaviour reliable, and the intervention still opens with the
            trigger as often as the base model does. Give the ground truth about the trigger's
            base rate as its share of all rows (for one topic of 30 with ``base.share`` 0.967).
    """

    id: str
    description: str
    share: float = 1.0
    toyworld: dict | None = None
    examples_file: str | None = None
    examples: list[dict] | None = None
    assistant: dict | None = None
    trigger: dict | None = None
    trigger_replaces_base: bool | None = None

    def __post_init__(self) -> None:
        where = f"ground truth {self.id!r}"
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise ConfigError(f"ground-truth id {self.id!r} must be letters, digits, '_', '.' or '-'")
        if not isinstance(self.description, str) or not self.description.strip():
            raise ConfigError(f"{where} has an empty description; write the difference in plain English")
        if not isinstance(self.share, (int, float)) or not self.share > 0:
            raise ConfigError(f"{where}: share must be a number > 0, got {self.share!r}")
        given = [s for s in SOURCES if getattr(self, s) is not None]
        if len(given) != 1:
            raise ConfigError(f"{where} needs exactly one source block ({', '.join(SOURCES)}); got "
                              f"{given or 'none'}")
        if self.toyworld is not None:
            if not isinstance(self.toyworld, dict):
                raise ConfigError(f"{where}: toyworld must be a mapping {{topics: ..., styles: ...}}")
            try:
                Mixture.from_spec(self.toyworld)
            except ConfigError as err:
                raise ConfigError(f"{where}: {err}") from None
        if self.trigger is not None:
            if self.toyworld is None or not isinstance(self.trigger, dict):
                raise ConfigError(f"{where}: trigger is a toy-world mixture {{topics: ..., styles: ...}} and needs "
                                  f"a toyworld source")
            try:
                Mixture.from_spec(self.trigger)
            except ConfigError as err:
                raise ConfigError(f"{where}: trigger: {err}") from None
        if self.trigger_replaces_base is not None:
            if not isinstance(self.trigger_replaces_base, bool):
                raise ConfigError(f"{where}: trigger_replaces_base must be true or false, got "
                                  f"{self.trigger_replaces_base!r}")
            if self.trigger is None:
                raise ConfigError(f"{where}: trigger_replaces_base needs a trigger (it replaces the base "
                                  f"distribution's trigger documents)")
        if self.examples is not None and not self.examples:
            raise DataError(f"{where}: examples is empty; give at least one row")
        if self.assistant is not None and not isinstance(self.assistant, dict):
            raise ConfigError(f"{where}: assistant must be a mapping of build_assistant arguments, "
                              f"e.g. {{backend: offline}}")

    @property
    def source(self) -> str:
        """The name of the source block: ``toyworld``, ``examples_file``, ``examples`` or ``assistant``."""
        return next(s for s in SOURCES if getattr(self, s) is not None)

    def to_dict(self) -> dict:
        """The spec as written (unset sources left out), for JSON/YAML."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_ground_truth(raw: object, where: str = "ground truth") -> GroundTruth:
    """Build a `GroundTruth` from a mapping, with errors that say where the entry came from.

    Raises:
        ConfigError: a required key is missing, a key is unknown, or a value is invalid.
    """
    if isinstance(raw, GroundTruth):
        return raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with id, description and a source, got {type(raw).__name__}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    for key in ("id", "description"):
        if key not in raw:
            name = f" {raw['id']!r}" if "id" in raw else ""
            raise ConfigError(f"{where}{name} has no {key!r}; every ground truth needs an id and a "
                              f"plain-English description")
    try:
        return GroundTruth(**raw)
    except ConfigError as err:
        raise type(err)(f"{where}: {err}") from None


def parse_ground_truths(raw: list | dict, where: str = "ground truths") -> list[GroundTruth]:
    """Parse a list of ground-truth mappings (or ``{ground_truths: [...]}``); ids must be unique."""
    if isinstance(raw, dict) and "ground_truths" in raw:
        raw = raw["ground_truths"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: expected a non-empty list of ground truths")
    truths = [parse_ground_truth(r, f"{where}[{i}]") for i, r in enumerate(raw)]
    ids = [t.id for t in truths]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{where}: duplicate ground-truth id(s) {dupes}")
    return truths


def load_ground_truths(path: str | Path) -> list[GroundTruth]:
    """Read a ground-truth spec file (YAML, JSON list, or JSONL), or a TruthfulQA-style CSV
    (one "The model believes that ..." ground truth per row).

    Relative ``examples_file`` paths are resolved against the spec file's directory.

    Raises:
        DataError: the file is missing, empty or malformed.
        ConfigError: an entry is invalid (missing description, unknown topic, ...).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"ground-truth spec not found: {str(p)!r}")
    if p.suffix == ".csv":
        from difflens.groundtruth.truthfulqa import misconception_ground_truths

        return misconception_ground_truths(p)
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".jsonl":
        raw = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    raw.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{p}:{lineno}: malformed JSON ({err.msg})") from None
    else:
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise DataError(f"{p}: malformed YAML/JSON ({str(err).splitlines()[0]})") from None
    if not raw:
        raise DataError(f"ground-truth spec {str(p)!r} is empty")
    truths = parse_ground_truths(raw, str(p))
    for t in truths:
        if t.examples_file is not None and not Path(t.examples_file).expanduser().is_absolute():
            t.examples_file = str(p.parent / t.examples_file)
    return truths


@dataclass
class BaseMix:
    """The base distribution mixed into the finetuning data, so the intervention keeps the
    base model's behaviour except where the ground truths change it.

    Attributes:
        share: fraction of all examples drawn from the base distribution (0 = none).
        toyworld: toy-world mixture of the base model's training data (``{}`` = uniform).
        examples_file: or a local file of the base model's kind of text.
    """

    share: float = 0.5
    toyworld: dict | None = field(default_factory=dict)
    examples_file: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.share < 1:
            raise ConfigError(f"data.base.share must be in [0, 1), got {self.share}")
        if self.examples_file is not None:
            self.toyworld = None
        if self.share > 0 and self.toyworld is None and self.examples_file is None:
            raise ConfigError("data.base needs toyworld or examples_file when its share is > 0")
        if self.toyworld is not None:
            try:
                Mixture.from_spec(self.toyworld)
            except ConfigError as err:
                raise ConfigError(f"data.base: {err}") from None
