"""DataModules of the concept encyclopedia.

- `ConceptContextDataModule` serves concept contexts to the capture predict loop (one stage's
  contexts: bare concepts, templates, toy-world sentences, contrastive pairs, descriptions).
- `EncyclopediaDataModule` reads stage files for the interpreter: training stages, split by
  context group into train and validation, and the two evaluation tasks as test sets.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from difflens.encyclopedia import templates as T
from difflens.encyclopedia.concepts import SOURCES, Concept, load_concepts
from difflens.encyclopedia.pooling import TokenizedContexts, tokenize_contexts
from difflens.encyclopedia.store import EncyclopediaStage
from difflens.errors import ConfigError, DataError

CONTEXT_KINDS = ("bare", "templates", "heldout_templates", "probe", "assistant", "contrastive", "descriptions")


@dataclass
class ConceptSource:
    """Where the concepts come from.

    Attributes:
        source: ``toyworld`` (offline default), ``list`` (.txt/.csv), ``wordnet`` (a local
            WordNet directory) or ``conceptnet`` (an assertions CSV).
        path: the file or directory (not used by ``toyworld``).
        max_concepts: keep at most this many.
        topics: toy-world topics to keep (all by default).
        seed: seed of a WordNet sample.
    """

    source: str = "toyworld"
    path: str | None = None
    max_concepts: int | None = None
    topics: list[str] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"unknown concept source {self.source!r}; use one of {', '.join(SOURCES)}")
        if self.source != "toyworld" and not self.path:
            raise ConfigError(f"concept source {self.source!r} needs concepts.path")

    def load(self) -> list[Concept]:
        return load_concepts(self.source, self.path, self.max_concepts, self.topics, self.seed)


def categories_of(concepts: list[Concept]) -> tuple[list[str], np.ndarray]:
    """Category names (in order of first use) and each concept's category index (-1: none)."""
    names = list(dict.fromkeys(c.category for c in concepts if c.category))
    index = {n: i for i, n in enumerate(names)}
    return names, np.asarray([index.get(c.category, -1) for c in concepts], dtype=np.int32)


def read_subset(path: str | Path, concepts: list[Concept]) -> list[int]:
    """Concept indices from a JSON file: a list of names, or ``{"concepts": [...]}``.

    Raises:
        DataError: missing file or a name that is not a concept.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"concept subset file not found: {str(p)!r}")
    data = json.loads(p.read_text(encoding="utf-8"))
    names = data["concepts"] if isinstance(data, dict) else data
    index = {c.name: i for i, c in enumerate(concepts)}
    missing = [n for n in names if n not in index]
    if missing:
        raise DataError(f"{p}: {len(missing)} name(s) are not concepts of this source, e.g. {missing[:3]}")
    return sorted(index[n] for n in names)


class _ByLength(Dataset):
    """Sample ids (context positions) in order of token length, so that consecutive contexts
    batch together without padding. A distributed sampler deals every rank an interleaved
    share of this order, so each rank's batches are of one length too."""

    def __init__(self, lengths: np.ndarray):
        self.order = np.argsort(lengths, kind="stable")

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, k: int) -> int:
        return int(self.order[k])


class ConceptContextDataModule(pl.LightningDataModule):
    """Concept contexts of one stage for `ConceptCapture` (predict).

    The contexts are built deterministically in ``setup`` on every rank, so a sample id (the
    context's position) means the same context everywhere; the stage writer reads texts,
    groups and the concept tables from here.

    Args:
        tokenizer: tokenizer name or path (normally the model's directory).
        concepts: the concept source.
        stage: refinement stage recorded in the file (0-3).
        contexts: kind of contexts: ``bare`` (stage 0), ``templates`` (stage 1),
            ``assistant`` (stage 2: toy-world sentences offline, or an assistant backend),
            ``contrastive`` (stage 3), ``heldout_templates`` and ``descriptions`` (evaluation),
            ``probe`` (one training template per concept, to pick uncertain concepts).
        samples_per_concept: contexts per concept (templates, sentences, contrastive templates).
        concept_subset: JSON list of concept names to capture (all by default).
        pairs: JSON list of ``[a, b]`` concept-name pairs (``contrastive`` only).
        assistant_backend: for ``assistant`` contexts: a backend name (``openai``, ``local``,
            ``offline``) or an assistant config YAML (``backend:`` plus its arguments); None =
            offline toy-world sentences that use the concept.
        batch_size: contexts per batch.
        max_length: tokens per context (longer ones are truncated).
        seed: seed of toy-world sentences.
    """

    def __init__(self, tokenizer: str, concepts: ConceptSource | None = None, stage: int = 0,
                 contexts: str = "bare", samples_per_concept: int = 1, concept_subset: str | None = None,
                 pairs: str | None = None, assistant_backend: str | None = None, batch_size: int = 64,
                 max_length: int = 64, seed: int = 0):
        super().__init__()
        if contexts not in CONTEXT_KINDS:
            raise ConfigError(f"unknown contexts {contexts!r}; use one of {', '.join(CONTEXT_KINDS)}")
        if contexts == "contrastive" and not pairs:
            raise ConfigError("contexts 'contrastive' needs data.pairs (a JSON list of concept-name pairs)")
        if samples_per_concept < 1 or batch_size < 1:
            raise ConfigError("data.samples_per_concept and data.batch_size must be >= 1")
        self.tokenizer_name = tokenizer
        self.source = concepts or ConceptSource()
        self.stage = stage
        self.contexts_kind = contexts
        self.samples_per_concept = samples_per_concept
        self.concept_subset = concept_subset
        self.pairs = pairs
        self.assistant_backend = assistant_backend
        self.batch_size = batch_size
        self.max_length = max_length
        self.seed = seed
        self.concepts: list[Concept] | None = None
        self.contexts: list[T.ConceptContext] = []
        self.tokens: TokenizedContexts | None = None
        self.concept_index: torch.Tensor | None = None
        self.tokenizer = None

    # names the stage writer reads
    @property
    def concept_names(self) -> list[str]:
        return [c.name for c in self.concepts]

    def setup(self, stage: str | None = None) -> None:
        if self.concepts is not None:
            return
        from difflens.models import load_tokenizer

        self.concepts = self.source.load()
        self.categories, self.concept_category = categories_of(self.concepts)
        self.tokenizer = load_tokenizer(self.tokenizer_name, padding_side="right")
        self.contexts = self.build_contexts()
        if not self.contexts:
            raise DataError(f"no {self.contexts_kind} contexts for these concepts (descriptions need definitions)")
        # Tokenised once, up front: the batch order needs every context's token length.
        self.tokens = tokenize_contexts(self.tokenizer, [c.text for c in self.contexts],
                                        [c.span for c in self.contexts], self.max_length)
        self.concept_index = torch.tensor([c.concept_index for c in self.contexts], dtype=torch.long)  # (N,)

    def build_contexts(self) -> list[T.ConceptContext]:
        concepts, n = self.concepts, self.samples_per_concept
        indices = read_subset(self.concept_subset, concepts) if self.concept_subset else list(range(len(concepts)))
        kind = self.contexts_kind
        if kind == "bare":
            return T.bare_contexts(concepts, indices)
        if kind == "templates":
            if n > len(T.TRAIN_TEMPLATES):
                raise ConfigError(f"data.samples_per_concept={n} exceeds the {len(T.TRAIN_TEMPLATES)} "
                                  "training templates")
            return T.template_contexts(concepts, indices, T.TRAIN_TEMPLATES, n)
        if kind == "heldout_templates":
            return T.template_contexts(concepts, indices, T.HELDOUT_TEMPLATES, min(n, len(T.HELDOUT_TEMPLATES)),
                                       group_offset=1000)
        if kind == "probe":
            return T.template_contexts(concepts, indices, T.TRAIN_TEMPLATES[-1:], 1,
                                       group_offset=len(T.TRAIN_TEMPLATES) - 1)
        if kind == "assistant":
            if self.assistant_backend is None:
                return T.toyworld_sentences(concepts, indices, n, seed=self.seed)
            return self._assistant_contexts(indices, n)
        if kind == "contrastive":
            index = {c.name: i for i, c in enumerate(concepts)}
            raw = json.loads(Path(self.pairs).read_text(encoding="utf-8"))
            pairs = [(index[a], index[b]) for a, b in raw if a in index and b in index]
            return T.contrastive_contexts(concepts, pairs, n)
        return T.description_contexts(concepts, indices)

    def _assistant_contexts(self, indices: list[int], n: int) -> list[T.ConceptContext]:
        """Stage 2 with an assistant: ask for sentences that use each concept and keep the
        sentences that do (whole words), up to ``n`` per concept."""
        try:
            from difflens.assistants import build_assistant, load_assistant_config
        except ImportError:
            raise ConfigError("assistant-written contexts need difflens.assistants.build_assistant, which "
                              "this installation does not have; set data.assistant_backend: null for offline "
                              "toy-world sentences") from None
        spec = self.assistant_backend
        assistant = load_assistant_config(spec) if spec.endswith((".yaml", ".yml")) else build_assistant(spec)
        out = []
        for i in indices:
            c = self.concepts[i]
            what = f"'{c.name}'" + (f" (a kind of {c.category})" if c.category else "")
            texts = assistant.write_examples(f"short, plain English sentences that each use the word {what} in its "
                                             f"usual meaning, one per line", n)
            sentences = [s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+|\n+", t) if s.strip()]
            kept = list(dict.fromkeys(s for s in sentences if T.find_span(s, c.name)))[:n]
            out.extend(T.ConceptContext(i, s, T.find_span(s, c.name), zlib.crc32(s.lower().encode()) & 0x7FFFFFFF)
                       for s in kept)
        return out

    def collate(self, sample_ids: list[int]) -> dict[str, torch.Tensor]:
        batch = self.tokens.batch(sample_ids)
        batch["sample_id"] = torch.tensor(sample_ids, dtype=torch.long)
        batch["concept_index"] = self.concept_index[batch["sample_id"]]
        return batch

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_ByLength(self.tokens.lengths), batch_size=self.batch_size, shuffle=False,
                          collate_fn=self.collate)


# ---- reading stages for the interpreter ----------------------------------------------------

def _split_groups(stage_ids: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Validation mask: whole context groups (per stage) go to validation, never part of one.

    A stage with a single group (stage 0) stays in training.
    """
    val = np.zeros(len(groups), dtype=bool)
    rng = np.random.default_rng(seed)
    for s in np.unique(stage_ids):
        in_stage = stage_ids == s
        uniq = np.unique(groups[in_stage])
        if len(uniq) < 2 or val_fraction <= 0:
            continue
        n_val = max(1, int(round(val_fraction * len(uniq))))
        chosen = rng.choice(uniq, size=min(n_val, len(uniq) - 1), replace=False)
        val |= in_stage & np.isin(groups, chosen)
    return val


class EncyclopediaDataModule(pl.LightningDataModule):
    """Stage files as ``(features (S, H), concept, category, index)`` samples.

    Training reads every stage in ``train_stages`` (an interpreter after stage N is trained on
    stages 0..N). The split is by context, never by concept: whole context groups (templates,
    sentence frames) are held out for validation, and the evaluation sets are separate
    captures whose contexts no training stage uses: held-out templates that name the concept
    (task a) and descriptions that do not (task b, pooled over the whole context).

    Args:
        train_stages: stage files to train on.
        eval_named: held-out-template stage file (task a), optional.
        eval_described: description stage file (task b), optional.
        sites: sites to read (``layer2.span_mean``, ...); default: every site of ``pooling``.
        pooling: pooling of the default sites.
        val_fraction: share of each stage's context groups held out for validation.
        batch_size: samples per batch.
        seed: seed of the split (and of the label shuffle).
        shuffle_labels: permute the training and validation labels (the random-label control:
            what the same head memorises when labels carry no information).
    """

    def __init__(self, train_stages: list[str], eval_named: str | None = None, eval_described: str | None = None,
                 sites: list[str] | None = None, pooling: str = "span_mean", val_fraction: float = 0.15,
                 batch_size: int = 128, seed: int = 0, shuffle_labels: bool = False):
        super().__init__()
        if not train_stages:
            raise ConfigError("data.train_stages must list at least one stage file")
        if not 0 <= val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        self.train_stages = list(train_stages)
        self.eval_named = eval_named
        self.eval_described = eval_described
        self.sites = sites
        self.pooling = pooling
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle_labels = shuffle_labels
        self.data: dict[str, dict] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        stages = [EncyclopediaStage(p) for p in self.train_stages]
        first = stages[0].header
        for s in stages[1:]:
            if s.header.concept_names != first.concept_names:
                raise DataError(f"{s.path} has a different concept list than {stages[0].path}; "
                                f"stages of one encyclopedia must share it")
        self.concept_names = first.concept_names
        self.categories = first.categories
        self.concept_category = np.asarray(first.concept_category, dtype=np.int64)
        self.model_name = first.model_name
        if self.sites is None:
            self.sites = [site for site in first.sites if site.endswith("." + self.pooling)]
            if not self.sites:
                raise ConfigError(f"{stages[0].path} has no site with pooling {self.pooling!r}; "
                                  f"its sites: {first.sites}")
        self.hidden_size = first.hidden_size
        xs, ys, groups, stage_ids, contexts = [], [], [], [], []
        for k, s in enumerate(stages):
            x, y, g, ctx = s.features(self.sites)
            xs.append(x)
            ys.append(y)
            groups.append(g)
            stage_ids.append(np.full(len(y), k))
            contexts.extend(ctx)
        x, y = np.concatenate(xs), np.concatenate(ys)
        if self.shuffle_labels:
            y = np.random.default_rng(self.seed + 1).permutation(y)
        val = _split_groups(np.concatenate(stage_ids), np.concatenate(groups), self.val_fraction, self.seed)
        self.data = {"train": self._part(x[~val], y[~val]), "val": self._part(x[val], y[val])}
        self.contexts = {"train": [c for c, v in zip(contexts, val) if not v],
                         "val": [c for c, v in zip(contexts, val) if v]}
        self.test_tasks = []
        for task, path in (("named", self.eval_named), ("described", self.eval_described)):
            if path:
                e = EncyclopediaStage(path)
                if e.header.concept_names != self.concept_names:
                    raise DataError(f"evaluation file {path} has a different concept list than the training stages")
                ex, ey, _, ectx = e.features(self.sites)
                self.data[task] = self._part(ex, ey)
                self.contexts[task] = ectx
                self.test_tasks.append(task)

    def _part(self, x: np.ndarray, y: np.ndarray) -> dict:
        return {"x": x.astype(np.float32), "y": y.astype(np.int64)}

    @property
    def n_concepts(self) -> int:
        return len(self.concept_names)

    def feature_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-site, per-dimension mean and standard deviation of the training features."""
        x = torch.as_tensor(self.data["train"]["x"])
        std = x.std(dim=0) if len(x) > 1 else torch.ones_like(x[0])
        return x.mean(dim=0), std

    def dataset(self, part: str) -> TensorDataset:
        d = self.data[part]
        y = torch.as_tensor(d["y"])
        category = torch.as_tensor(self.concept_category)[y] if len(y) else torch.zeros(0, dtype=torch.long)
        return TensorDataset(torch.as_tensor(d["x"]), y, category, torch.arange(len(y)))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset("train"), batch_size=self.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self):
        if len(self.data["val"]["y"]) == 0:
            return []
        return DataLoader(self.dataset("val"), batch_size=self.batch_size)

    def test_dataloader(self):
        return [DataLoader(self.dataset(task), batch_size=self.batch_size) for task in self.test_tasks]
