"""The discriminative stage: a classifier that tells the models apart, and residual search.

Clusters follow topics, so a difference spread over every cluster (a style, a register, a
refusal habit) changes no cluster's size and has one weak chance in the global contrast. A
classifier does not care where a difference lives: logistic regression on each text's
embedding and its word n-grams, trained to tell the intervention's texts from the base's,
ranks every text by how much it looks like one model's. Its most confident texts of one model,
shown to a proposer against the other model's texts, are where any kind of difference shows.

Out-of-fold probabilities (k-fold cross-validation) score each text with a classifier that did
not see it, so a text's rank says something about the model and not about the text's own
noise; their AUC, with its Mann–Whitney p-value, says whether there is anything left to find.

**Residual search** (the seed system's "verified diversity promoter"): once hypotheses are
accepted, the texts they explain (scored above ``explained_threshold`` by the judge) leave the
pool and the classifier is trained again on the rest, so the next proposal shows the proposer
what the last did not explain; it stops when the classifier can no longer tell the remaining
texts apart, when a round proposes nothing new, or after ``rounds``.

Both directions are proposed, one after the other within a round: the intervention's most
confident texts against base texts (what the intervention does more), then the base's most
confident texts against intervention texts (what it does less, as unlearning does; such
hypotheses are about the base model's texts, ``direction="base"``).

Only proposal-pool texts are used (the caller passes them): what the classifier and the judge
see here is never validation material.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from difflens.errors import ConfigError
from difflens.stats import mann_whitney_auc

MODEL_SIDES = ("intervention", "base")


@dataclass
class ContrastSettings:
    """The discriminative stage's settings.

    Attributes:
        rounds: residual rounds at most (0 turns the stage off).
        texts_per_side: the classifier's most confident texts shown as group B, and as many
            texts of the other model as group A.
        hypotheses_per_round: hypotheses asked for per direction and round.
        folds: cross-validation folds for the out-of-fold probabilities.
        alpha: a proposal is made only while the classifier's out-of-fold AUC is significant
            at this level (one-sided Mann–Whitney; 1 = no test) ...
        min_auc: ... and at least this. Lenient by default (0.5: no better than chance stops
            it): when a minority of texts differ (a style in a sixth of them) the AUC over every
            text stays near 0.5 although the classifier's most confident texts are where the
            difference is; what is proposed from them is tested by the proposer's own statistics
            and then by validation. Cross-validation pulls a null AUC below 0.5, so a search
            that has explained everything stops here.
        explained_threshold: a pool text the judge scores above this for an accepted
            hypothesis counts as explained and leaves the pool.
        max_ngram: longest word n-gram feature.
        min_df: an n-gram is a feature when it occurs in at least this many texts.
        regularization: inverse L2 strength ``C`` of the logistic regression (strong: hundreds
            of texts, thousands of features).
        directions: which directions to propose: ``intervention`` (more in the intervention's
            texts), ``base`` (more in the base's, i.e. less in the intervention's).
        max_texts_per_side: the stage works on at most this many proposal-pool texts per model
            (a seeded uniform sample above it), so that its cost (the classifier's folds, and
            the judge scoring every remaining text after each round) stays bounded with
            millions of texts; a few thousand texts per model train the classifier as well.
    """

    rounds: int = 3
    texts_per_side: int = 40
    hypotheses_per_round: int = 2
    folds: int = 5
    alpha: float = 0.5
    min_auc: float = 0.0
    explained_threshold: float = 0.75
    max_ngram: int = 2
    min_df: int = 3
    regularization: float = 0.1
    directions: list[str] = field(default_factory=lambda: list(MODEL_SIDES))
    max_texts_per_side: int = 4000

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ConfigError(f"proposal.contrast.rounds must be >= 0, got {self.rounds}")
        if min(self.texts_per_side, self.hypotheses_per_round, self.max_ngram, self.min_df,
               self.max_texts_per_side) < 1:
            raise ConfigError("proposal.contrast: texts_per_side, hypotheses_per_round, max_ngram, min_df and "
                              "max_texts_per_side must be >= 1")
        if self.folds < 2:
            raise ConfigError(f"proposal.contrast.folds must be >= 2, got {self.folds}")
        if not 0 < self.alpha <= 1 or not 0 <= self.min_auc < 1:
            raise ConfigError("proposal.contrast: alpha must be in (0, 1] and min_auc in [0, 1)")
        if not 0 < self.explained_threshold < 1:
            raise ConfigError("proposal.contrast.explained_threshold must be in (0, 1)")
        if not self.directions or set(self.directions) - set(MODEL_SIDES):
            raise ConfigError(f"proposal.contrast.directions must be a non-empty subset of {list(MODEL_SIDES)}")


@dataclass
class Separability:
    """How well the classifier tells the models apart on the texts it was given.

    Attributes:
        probability: out-of-fold P(intervention) per text, ``(N,)``.
        auc: out-of-fold AUC (intervention texts as positives).
        p_value: one-sided Mann–Whitney p-value of that AUC.
    """

    probability: np.ndarray
    auc: float
    p_value: float


def text_features(texts: Sequence[str], embeddings: np.ndarray, max_ngram: int, min_df: int):
    """Each text's embedding beside its binary word n-grams: ``(N, D + V)`` sparse."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    try:
        grams = CountVectorizer(ngram_range=(1, max_ngram), min_df=min_df, binary=True,
                                token_pattern=r"(?u)\b\w+\b").fit_transform(texts)  # (N, V)
    except ValueError:  # no n-gram reaches min_df (tiny pools): embeddings alone
        grams = sparse.csr_matrix((len(texts), 0))
    return sparse.hstack([sparse.csr_matrix(embeddings), grams]).tocsr()


def separability(texts: Sequence[str], embeddings: np.ndarray, is_intervention: np.ndarray,
                 settings: ContrastSettings, seed: int) -> Separability:
    """Out-of-fold logistic-regression probabilities that each text is the intervention's.

    Args:
        texts: the pool texts, ``N`` of them.
        embeddings: their unit embeddings, ``(N, D)``.
        is_intervention: ``(N,)`` booleans, the label.
        settings: features, folds and regularisation.
        seed: fold assignment.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(is_intervention, dtype=int)
    folds = min(settings.folds, int(np.bincount(y, minlength=2).min()))
    if folds < 2:
        return Separability(np.full(len(y), 0.5), 0.5, 1.0)
    x = text_features(texts, embeddings, settings.max_ngram, settings.min_df)
    classifier = LogisticRegression(C=settings.regularization, class_weight="balanced", max_iter=2000)
    probability = cross_val_predict(classifier, x, y, method="predict_proba",
                                    cv=StratifiedKFold(folds, shuffle=True, random_state=seed))[:, 1]  # (N,)
    test = mann_whitney_auc(probability[y == 1], probability[y == 0])
    return Separability(probability, test.auc, test.p_value)


@dataclass
class ContrastProposal:
    """One round's proposal for one direction: what was shown and what came back."""

    round: int
    direction: str
    auc: float
    p_value: float
    shown_a: list[int]
    shown_b: list[int]
    statements: list[str]


def contrast_groups(probability: np.ndarray, is_intervention: np.ndarray, direction: str, n: int,
                    rng: random.Random) -> tuple[list[int], list[int]]:
    """Group B: the ``direction`` model's ``n`` texts the classifier is surest are its own (and
    surer than chance); group A: ``n`` texts of the other model at random. Indices into the pool."""
    mine = np.flatnonzero(is_intervention == (direction == "intervention"))
    other = np.flatnonzero(is_intervention != (direction == "intervention"))
    own_probability = probability if direction == "intervention" else 1.0 - probability
    ranked = mine[np.argsort(-own_probability[mine], kind="stable")]
    b = [int(i) for i in ranked[:n] if own_probability[i] > 0.5]
    a = sorted(rng.sample(list(map(int, other)), min(n, len(other))))
    return a, b


def residual_search(assistant, texts: Sequence[str], embeddings: np.ndarray, is_intervention: np.ndarray,
                    settings: ContrastSettings, accept: Callable[[list[str], str, list[int]], list[str]],
                    seed: int = 0, explained: np.ndarray | None = None,
                    known: Sequence[str] = ()) -> list[ContrastProposal]:
    """Propose from the classifier's most confident texts, round after round on what is left.

    Args:
        assistant: an `Assistant` (``propose(texts_a, texts_b, n, avoid, subject=)`` and ``judge_batch``).
        texts: the proposal-pool texts of both models.
        embeddings: ``(N, D)`` unit embeddings of ``texts``.
        is_intervention: ``(N,)`` which model wrote each text.
        settings: the stage's settings.
        accept: ``accept(statements, direction, shown)`` records the statements that are new
            (not duplicates of earlier hypotheses) as hypotheses and returns them; ``shown`` are
            pool indices of every text the proposer saw.
        seed: folds and group-A draws.
        explained: ``(N,)`` texts already explained before the first round (they start outside
            the pool), e.g. the texts of cluster pairs that already have hypotheses.
        known: statements accepted before this stage whose texts are not set aside by
            ``explained`` (the global contrast's): the texts they explain leave the pool first.

    Returns:
        Every round's proposals, in order (for the stage's report).
    """
    is_intervention = np.asarray(is_intervention, dtype=bool)
    remaining = np.ones(len(texts), dtype=bool) if explained is None else ~np.asarray(explained, dtype=bool)

    def set_aside(statements: Sequence[str]) -> None:
        pool = np.flatnonzero(remaining)
        for statement in statements:
            scores = assistant.judge_batch(statement, [texts[i] for i in pool])
            remaining[pool[[s is not None and s > settings.explained_threshold for s in scores]]] = False

    set_aside(known)
    history: list[ContrastProposal] = []
    accepted_all: list[str] = list(known)
    for round_ in range(settings.rounds):
        accepted_round: list[str] = []
        # One direction at a time, each on what the last left: a behaviour the intervention adds
        # also displaces what it would otherwise have written, and once its texts are explained
        # that displacement is gone instead of coming back as "the base model does more of X".
        for direction in settings.directions:
            pool = np.flatnonzero(remaining)
            if len(pool) < 2 * settings.folds:
                return history
            fit = separability([texts[i] for i in pool], embeddings[pool], is_intervention[pool], settings,
                               seed + len(history))
            if fit.p_value > settings.alpha or fit.auc < settings.min_auc:
                history.append(ContrastProposal(round_, "-", fit.auc, fit.p_value, [], [], []))
                return history
            rng = random.Random(f"{seed}:contrast:{round_}:{direction}")
            a, b = contrast_groups(fit.probability, is_intervention[pool], direction, settings.texts_per_side, rng)
            if not a or not b:
                continue
            statements = assistant.propose([texts[pool[i]] for i in a], [texts[pool[i]] for i in b],
                                           settings.hypotheses_per_round, avoid=accepted_all + accepted_round,
                                           subject=direction)
            statements = [s.strip() for s in statements if s and s.strip()]
            history.append(ContrastProposal(round_, direction, fit.auc, fit.p_value,
                                            [int(pool[i]) for i in a], [int(pool[i]) for i in b], statements))
            accepted_round += accept(statements, direction, [int(pool[i]) for i in a + b])
            # a duplicate of an earlier hypothesis explains its texts as well as a new statement would
            set_aside(statements)
        if not accepted_round:
            break
        accepted_all += accepted_round
    return history
