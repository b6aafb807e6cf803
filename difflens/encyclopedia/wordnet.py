"""WordNet nouns as concepts, read with nltk from a local WordNet directory (never downloaded).

Works with a Princeton-format WordNet directory: the one Debian's ``wordnet-base`` installs in
``/usr/share/wordnet``, or ``nltk_data/corpora/wordnet``. Two quirks are handled here:

- Debian leaves out the ``lexnames`` file that nltk always opens; `LocalWordNetReader` serves
  the 45 standard lexicographer file names from memory when the file is missing.
- nltk 3.10 opens corpora only below a directory on ``nltk.data.path``; the directory is
  added there (resolved, so no symlink leaves the root).

The multilingual sense-key map that nltk builds at start-up (seconds) is skipped: only English
nouns are used.
"""

from __future__ import annotations

import io
import random
from functools import lru_cache
from pathlib import Path

from difflens.encyclopedia.concepts import Concept, hide_name
from difflens.errors import DataError

# lexnames(5WN): number, name, syntactic category.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_LEX_POS = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}

REQUIRED_FILES = ("data.noun", "index.noun")

HOW_TO_PROVIDE = ("install one with `apt-get install wordnet-base` (then use /usr/share/wordnet), or copy "
                  "an nltk_data/corpora/wordnet folder to this machine; difflens never downloads it")


def lexnames_text() -> str:
    """The ``lexnames`` file as WordNet 3.0 ships it: ``NN\\tname\\tpos`` per line."""
    return "".join(f"{i:02d}\t{name}\t{_LEX_POS[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def _reader_class():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class LocalWordNetReader(WordNetCorpusReader):
        """`WordNetCorpusReader` for a local directory that may lack ``lexnames``; no OMW map."""

        def open(self, file):
            if file == "lexnames" and not (Path(self.root.path) / "lexnames").exists():
                return io.StringIO(lexnames_text())
            if file.endswith(".exc") and not (Path(self.root.path) / file).exists():
                return io.StringIO("")
            return super().open(file)

        def map_wn(self, version="wordnet"):
            return None  # only English is read; the OMW sense-key map costs seconds

    return LocalWordNetReader


@lru_cache(maxsize=4)
def open_wordnet(directory: str):
    """A WordNet reader over ``directory`` (cached per process).

    Raises:
        DataError: the directory is missing or is not a WordNet database; the message says how
            to provide one.
    """
    import warnings

    import nltk

    path = Path(directory).expanduser()
    if not path.is_dir():
        raise DataError(f"WordNet directory not found: {str(path)!r}; {HOW_TO_PROVIDE}")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise DataError(f"{str(path)!r} is not a WordNet database (missing {', '.join(missing)}); {HOW_TO_PROVIDE}")
    root = str(path.resolve())
    if root not in nltk.data.path:
        nltk.data.path.append(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return _reader_class()(root, None)


def _category(synset) -> str:
    """The first lemma of the synset's hypernym; of several, the first by synset name.

    nltk keeps a synset's pointers in a set, so their order changes with the process's string
    hash seed: "first in the list" would give a different category on each run (and rank).
    """
    hypernyms = synset.hypernyms() or synset.instance_hypernyms()
    if not hypernyms:
        return ""
    return min(hypernyms, key=lambda h: h.name()).lemma_names()[0].replace("_", " ")


def wordnet_concepts(directory: str, max_concepts: int | None = None, seed: int = 0,
                     min_depth: int = 4, single_word: bool = False) -> list[Concept]:
    """Noun concepts: each synset's first lemma, a hypernym as category (`_category`), its gloss.

    A lemma is used once (its most frequent sense, the first synset that lists it first), so
    concepts are unambiguous names. Very general synsets (shallower than ``min_depth`` in the
    hypernym tree: "entity", "object") are skipped. The full list is read once per process.

    Args:
        directory: a WordNet database directory (``/usr/share/wordnet``).
        max_concepts: a seeded random sample of this many (all by default).
        seed: seed of the sample.
        min_depth: skip synsets closer than this to the root.
        single_word: keep only one-word lemmas.

    Raises:
        DataError: missing or malformed directory.
    """
    concepts = list(_noun_concepts(str(directory), min_depth, single_word))
    if not concepts:
        raise DataError(f"no noun synset found in {str(directory)!r}; {HOW_TO_PROVIDE}")
    if max_concepts is not None and max_concepts < len(concepts):
        concepts = random.Random(seed).sample(concepts, max_concepts)
    return concepts


@lru_cache(maxsize=4)
def _noun_concepts(directory: str, min_depth: int, single_word: bool) -> tuple[Concept, ...]:
    # Cached: parsing every noun synset takes seconds, and a stage, its sample and the next
    # stage each ask for the list.
    wn = open_wordnet(directory)
    concepts, seen = [], set()
    for synset in wn.all_synsets("n"):
        name = synset.lemma_names()[0].replace("_", " ")
        if name in seen or (single_word and " " in name) or synset.min_depth() < min_depth:
            continue
        seen.add(name)
        concepts.append(Concept(name, _category(synset), hide_name(synset.definition(), name)))
    return tuple(concepts)
