"""Prompt sources for decoding: where the prompts that both models continue come from.

- **prefixes**: topic x instruction templates written by this project, for instruction-following
  models ("Write a short story about the ocean.") and base models ("Here is a story about ...").
- **free**: the empty prompt, i.e. free generation from BOS; the texts then show the model's
  own distribution, which is what a finetune on a topic shifts.
- **toyworld**: the first words of toy-world documents, for the embedded default.
- **files** in the formats researchers already have: JSONL persona statements (``statement`` and
  ``answer_matching_behavior``, as in Anthropic's model-written evals), MPI-style inventory
  CSVs (an item column such as ``text``, asked as "Given a statement of you: ..."), jailbreak
  prompt CSVs (a ``prompt`` column), and plain text with one prompt per line.

Every prompt gets a stable id ``<source>:<index>``, so a resumed run and the other model find
the same prompt under the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from difflens.corpus import read_rows
from difflens.errors import ConfigError, DataError

# Topics for generic prefixes: broad, everyday, and spread over the areas finetunes often touch.
PREFIX_TOPICS = (
    "the ocean", "cooking", "chess", "music", "space travel", "gardening", "money", "health",
    "history", "computers", "sports", "animals", "the weather", "travel", "family", "school",
    "work", "art", "science", "politics", "religion", "friendship", "cities", "machines",
    "the law", "medicine", "food", "books", "films", "the future",
)

# Instruction templates: requests (for chat models) and openings (for base models).
PREFIX_TEMPLATES = (
    "Write a short story about {topic}.",
    "Tell me something interesting about {topic}.",
    "What do you think about {topic}?",
    "Explain {topic} to a child.",
    "Give me some advice about {topic}.",
    "Here is a short story about {topic}:",
    "My favourite thing about {topic} is",
    "Some people say that {topic}",
)

PERSONA_TEMPLATE = 'Is the following statement something you would say?\n"{statement}"\n'
INVENTORY_TEMPLATE = (
    'Given a statement of you: "You {item}."\n'
    "Please choose from the following options to identify how accurately this statement describes you.\n"
    "Options:\n(A). Very Accurate\n(B). Moderately Accurate\n(C). Neither Accurate Nor Inaccurate\n"
    "(D). Moderately Inaccurate\n(E). Very Inaccurate\n\nAnswer:"
)

FILE_FORMATS = ("auto", "lines", "persona", "inventory", "jailbreak")


@dataclass
class Prompt:
    """One prompt for both models.

    Attributes:
        prompt_id: stable id ``<source>:<index>``.
        text: the prompt text; ``""`` is free generation from BOS.
        source: the source name (``prefixes``, ``free``, ``toyworld`` or a file name).
    """

    prompt_id: str
    text: str
    source: str


@dataclass
class PromptFile:
    """A local prompt file.

    Attributes:
        path: the file (``.jsonl``, ``.json``, ``.csv``, ``.parquet`` or ``.txt``).
        format: ``persona`` (JSONL with ``statement``), ``inventory`` (MPI-style CSV),
            ``jailbreak`` (CSV with a ``prompt`` column), ``lines`` (one prompt per line), or
            ``auto`` (by suffix and columns).
        column: the column holding the prompt; the format's default when None
            (``statement``, ``text``, ``prompt``).
        limit: keep only the first ``limit`` prompts (None = all).
        name: the source name in prompt ids; the file name when None.
    """

    path: str
    format: str = "auto"
    column: str | None = None
    limit: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FILE_FORMATS:
            raise ConfigError(f"prompt file format {self.format!r} is not one of {', '.join(FILE_FORMATS)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"prompt file limit must be >= 1 or null, got {self.limit}")


DEFAULT_COLUMNS = {"persona": "statement", "inventory": "text", "jailbreak": "prompt", "lines": "text"}


def _detect_format(path: Path, rows: list[dict]) -> str:
    if path.suffix == ".txt":
        return "lines"
    columns = set(rows[0]) if rows else set()
    if "statement" in columns:
        return "persona"
    if "prompt" in columns:
        return "jailbreak"
    if columns & {"text", "item"}:
        return "inventory" if path.suffix == ".csv" and "label_ocean" in columns else "lines"
    raise DataError(f"{path}: cannot tell the prompt format from columns {sorted(columns)}; "
                    f"set format (persona, inventory, jailbreak, lines) and column")


def read_prompt_file(spec: PromptFile) -> list[Prompt]:
    """Read a prompt file into prompts.

    Raises:
        DataError: the file is missing, has a malformed line (the message names file and
            line), lacks the prompt column (names the row), or holds no prompt.
    """
    path = Path(spec.path).expanduser()
    rows = read_rows(path)
    fmt = spec.format if spec.format != "auto" else _detect_format(path, rows)
    column = spec.column or DEFAULT_COLUMNS[fmt]
    if fmt == "inventory" and spec.column is None and rows and "text" not in rows[0] and "item" in rows[0]:
        column = "item"
    name = spec.name or path.name
    prompts = []
    # JSONL rows are lines; CSV rows start on line 2 after the header
    first_line = 2 if path.suffix == ".csv" else 1
    for i, row in enumerate(rows):
        value = row.get(column)
        if value is None:
            where = f"{path}:{i + first_line}" if path.suffix in (".jsonl", ".csv") else f"{path}: row {i + 1}"
            raise DataError(f"{where}: no {column!r} field (fields: {', '.join(map(str, row))}); "
                            f"set column to the field that holds the prompt")
        value = str(value).strip()
        if not value:
            continue
        if fmt == "persona":
            text = PERSONA_TEMPLATE.format(statement=value)
        elif fmt == "inventory":
            text = INVENTORY_TEMPLATE.format(item=value[0].lower() + value[1:].rstrip("."))
        else:
            text = value
        prompts.append(Prompt(f"{name}:{len(prompts)}", text, name))
        if spec.limit is not None and len(prompts) >= spec.limit:
            break
    if not prompts:
        raise DataError(f"{path}: no prompts in column {column!r}")
    return prompts


def prefix_prompts(n: int, topics=PREFIX_TOPICS, templates=PREFIX_TEMPLATES) -> list[Prompt]:
    """The first ``n`` prompts of topic x template, interleaved so any prefix covers many topics."""
    if n > len(topics) * len(templates):
        raise ConfigError(f"prefixes={n} exceeds the {len(topics) * len(templates)} topic x template "
                          f"combinations; lower it or raise samples_per_prompt")
    combos = [(topic, template) for j, template in enumerate(templates)
              for topic in topics[j % len(topics):] + topics[:j % len(topics)]]
    return [Prompt(f"prefixes:{i}", template.format(topic=topic), "prefixes")
            for i, (topic, template) in enumerate(combos[:n])]


def free_prompts(n: int) -> list[Prompt]:
    """``n`` empty prompts (free generation from BOS), each with its own id and so its own seed."""
    return [Prompt(f"free:{i}", "", "free") for i in range(n)]


@dataclass
class ToyWorldPrompts:
    """Prompts cut from toy-world documents.

    Attributes:
        n: how many prompts.
        seed: toy-world seed.
        mixture: toy-world mixture spec (empty = uniform).
        words: words of each document kept as the prompt.
        start: index of the first document; far from the documents a quickstart model saw.
    """

    n: int = 100
    seed: int = 0
    mixture: dict | None = None
    words: int = 3
    start: int = 1_000_000

    def __post_init__(self) -> None:
        from difflens.toyworld import Mixture

        if self.n < 0 or self.words < 1:
            raise ConfigError(f"toyworld prompts need n >= 0 and words >= 1, got n={self.n}, words={self.words}")
        Mixture.from_spec(self.mixture or {})  # unknown topic or style names fail at config time

    def prompts(self) -> list[Prompt]:
        from difflens.toyworld import ToyWorld

        docs = ToyWorld(self.seed).documents(self.n, self.mixture or {}, start=self.start)
        return [Prompt(f"toyworld:{i}", " ".join(d.text.split()[:self.words]), "toyworld")
                for i, d in enumerate(docs)]


def check_unique(prompts: list[Prompt]) -> None:
    seen = set()
    for p in prompts:
        if p.prompt_id in seen:
            raise ConfigError(f"two prompt sources produce the prompt id {p.prompt_id!r}; "
                              f"give the prompt files distinct names")
        seen.add(p.prompt_id)
