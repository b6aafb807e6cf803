"""Propose hypotheses from the cluster pairs that differ, keeping proposal texts apart.

Validity rule (../shared/DESIGN.md): a hypothesis is never validated on a text used to propose
it. Texts are split once, by a hash of their id, into a proposal pool (``proposal_fraction``)
and a held-out pool; proposers only ever see proposal-pool texts, and each hypothesis records
the exact texts it was shown (``proposal_text_ids``). Because the split hashes ids, a text
keeps its side when more texts are decoded later.

Texts that answer a targeted prompt (active sampling's targeted rounds, `DecodedText.targeted`)
are never validation material (validation's ``pool_sources`` leaves them out), so all of them
may be shown to a proposer: a small area where active sampling put most of its texts then gives
the proposer enough examples.

Which pairs differ: a two-proportion test of the pair's share of each model's texts. Targeted
texts (both models answer the same aimed prompts) can hide a difference as well as reveal one:
prompts aimed at an area the intervention visits more often send both models there and shrink
the gap, while prompts that open like a rare trigger send only the intervention there. So when
some texts are targeted, each pair is also tested on the untargeted texts alone, which measure
how often each model goes there on its own, and passes when either test does (Bonferroni over
both tests of every pair).

For a pair where the intervention puts more of its texts (Cohen's h > 0), the proposer
contrasts the intervention's texts in that cluster (group B) with base texts from everywhere
(group A): "what is this area the intervention moved into". "Everywhere" means the untargeted
texts only: targeted prompts over-sample the areas they were aimed at, in both models alike, so
base texts from them would put the area itself into group A and hide what sets it apart. For a
pair the intervention under-uses, it contrasts the two sides of the pair: base texts of the
cluster (A) against the intervention's texts of its matched cluster (B): "what does the
intervention do differently here". Either way the proposer characterises group B, the
intervention.

Differences spread over every cluster (a style) change no cluster's size; an optional last
proposal from the texts outside the selected clusters (``global_texts_per_side``) catches them,
in both directions: what the intervention's texts have more of, and what the base's have more
of (a style the intervention uses less, spread over every cluster as well).
Both models answered the same prompts there, so targeted texts may take part, but only those
the proposal split would have taken anyway: all of them would tilt the contrast towards the
areas active sampling aimed at (and dilute a style shown in free generation).

Last, the discriminative stage (`difflens.discovery.contrast`): a classifier trained to tell
the models' proposal-pool texts apart shows the proposer each model's texts it is surest of,
round after round on the texts no accepted hypothesis explains (residual search). It starts
with the texts of the cluster pairs that already have hypotheses set aside, so it looks for
what the clusters did not explain; it proposes decreases too (``direction="base"``).

Ranking (`difflens.discovery.ranking`, ``rank``): the accepted hypotheses are written
strongest first, by their judged flag rates on one sample of proposal-split texts, since
SAFFRON's levels favour the hypotheses it tests first.

Diversification: each proposal is embedded; one too similar (cosine) to an accepted hypothesis
is dropped as a duplicate, and the proposer is told which themes are already covered.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from difflens.discovery.contrast import ContrastSettings, residual_search
from difflens.discovery.matching import ClusterPair, Matching, cohens_h, two_proportion_test
from difflens.discovery.openings import openings_leading_in
from difflens.discovery.ranking import RankSettings, rank_hypotheses, rename_ids
from difflens.errors import ConfigError
from difflens.likelihood import text_divergence
from difflens.records import DecodedText, Hypothesis

log = logging.getLogger(__name__)


@dataclass
class ProposalSettings:
    """Which cluster pairs get hypotheses, and from how many texts.

    Attributes:
        max_pairs: propose from at most this many pairs (the most different first).
        alpha: a pair is judged different when its z-test p-value is below ``alpha`` divided
            by the number of tests (Bonferroni: one per pair, two when some texts are targeted) ...
        min_effect: ... and ``|Cohen's h|`` is at least this (0.2 is a "small" effect).
        hypotheses_per_pair: hypotheses asked for per pair.
        texts_per_side: texts shown to the proposer from each group.
        proposal_fraction: share of the untargeted texts that may be shown to a proposer; the
            rest are held out for validation (targeted texts may all be shown).
        dedupe_similarity: a hypothesis whose cosine similarity to an accepted one reaches
            this is dropped as a duplicate.
        global_texts_per_side: after the cluster pairs, one more proposal from this many
            texts per model drawn from outside the selected clusters (0 = none): differences spread over every
            cluster, such as a style, change no cluster's size but show here. Its hypotheses
            have no cluster ids.
        condition_prompts: also state each cluster pair's hypotheses conditionally (0 = no):
            a twin hypothesis, right after the unconditional one, whose condition is up to this
            many openings of the pair's texts of the over-represented model (prompt plus the
            text's first sentence) that lead into the area from outside it (see
            `difflens.discovery.openings`; no twin when none does). A behaviour that only follows
            certain openings is diluted in free generation and concentrated on these prompts.
            When every text has a log-likelihood ratio (active sampling with ``kl_weight``),
            the openings of the texts the models disagree on most come first.
        condition_words: at most this many words of a text's first sentence in its opening.
        contrast: the discriminative stage with residual search (`ContrastSettings`;
            ``rounds: 0`` turns it off).
        rank: the order hypotheses are written in, strongest on the proposal split first
            (`RankSettings`; ``texts_per_side: 0`` keeps the order the proposers ran in).
        seed: seed of the proposal split and of the draws.
    """

    max_pairs: int = 8
    alpha: float = 0.05
    min_effect: float = 0.1
    hypotheses_per_pair: int = 3
    texts_per_side: int = 25
    proposal_fraction: float = 0.3
    dedupe_similarity: float = 0.9
    global_texts_per_side: int = 0
    condition_prompts: int = 0
    condition_words: int = 16
    contrast: ContrastSettings = field(default_factory=lambda: ContrastSettings(rounds=0))
    rank: RankSettings = field(default_factory=RankSettings)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.proposal_fraction < 1:
            raise ConfigError(f"proposal_fraction must be in (0, 1), got {self.proposal_fraction}")
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"alpha must be in (0, 1], got {self.alpha}")
        if min(self.max_pairs, self.hypotheses_per_pair, self.texts_per_side) < 1:
            raise ConfigError("max_pairs, hypotheses_per_pair and texts_per_side must be >= 1")
        if self.global_texts_per_side < 0:
            raise ConfigError(f"global_texts_per_side must be >= 0, got {self.global_texts_per_side}")
        if self.condition_prompts < 0 or self.condition_words < 1:
            raise ConfigError(f"condition_prompts must be >= 0 and condition_words >= 1, got "
                              f"{self.condition_prompts} and {self.condition_words}")


@dataclass
class ProposalResult:
    """Accepted hypotheses in proposal order, and what happened to the rest.

    Attributes:
        hypotheses: accepted hypotheses, ``order`` 0, 1, ...
        selected_pairs: pair ids proposed from, in order.
        dropped: ``{"text", "pair_id", "reason"}`` for every proposal not accepted.
        proposal_text_ids: every text shown to a proposer.
        untargeted_tests: ``pair_id -> (p-value, Cohen's h)`` of each pair's test on the
            untargeted texts alone (`untargeted_tests`); empty when no text is targeted.
        contrast: the discriminative stage's rounds (`ContrastProposal` rows as dicts).
        ranking: one row per hypothesis in the written order, with its flag counts on the
            ranking sample (`difflens.discovery.ranking`); empty when not ranked.
    """

    hypotheses: list[Hypothesis] = field(default_factory=list)
    selected_pairs: list[int] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    proposal_text_ids: set[str] = field(default_factory=set)
    untargeted_tests: dict[int, tuple[float, float]] = field(default_factory=dict)
    contrast: list[dict] = field(default_factory=list)
    ranking: list[dict] = field(default_factory=list)


def in_proposal_pool(text_id: str, fraction: float, seed: int) -> bool:
    """Whether a text may be shown to a proposer (a hash of the id, so stable as texts are added)."""
    digest = hashlib.sha256(f"proposal-split:{seed}:{text_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < fraction


def in_split(record: DecodedText, settings: ProposalSettings) -> bool:
    """Whether the proposal split (`in_proposal_pool`) puts the text on the proposal side."""
    return in_proposal_pool(record.text_id, settings.proposal_fraction, settings.seed)


def proposal_pool(records: Sequence[DecodedText], settings: ProposalSettings) -> np.ndarray:
    """Indices of the texts a proposer may see: every targeted text, and the untargeted ones the
    split puts there."""
    return np.array([i for i, r in enumerate(records) if r.targeted or in_split(r, settings)], dtype=np.int64)


def untargeted_tests(matching: Matching, base: Sequence[DecodedText],
                     intervention: Sequence[DecodedText]) -> dict[int, tuple[float, float]]:
    """Each pair's size test on the untargeted texts alone, ``pair_id -> (p-value, Cohen's h)``;
    empty when no text is targeted (the test on all texts is then the same test) or when one
    model has no untargeted text."""
    free_a = np.array([not r.targeted for r in base])
    free_b = np.array([not r.targeted for r in intervention])
    if (free_a.all() and free_b.all()) or not free_a.any() or not free_b.any():
        return {}
    n_a, n_b = int(free_a.sum()), int(free_b.sum())
    tests = {}
    for pair in matching.pairs:
        x_a = int((free_a & (matching.base.labels == pair.base_cluster)).sum())
        x_b = int((free_b & (matching.intervention.labels == pair.intervention_cluster)).sum())
        _, p_value = two_proportion_test(x_a, n_a, x_b, n_b)
        tests[pair.pair_id] = (p_value, cohens_h(x_a / n_a, x_b / n_b))
    return tests


def select_pairs(pairs: Sequence[ClusterPair], settings: ProposalSettings,
                 untargeted: dict[int, tuple[float, float]] | None = None) -> list[ClusterPair]:
    """Pairs judged different (Bonferroni z-test and minimum effect), most different first.

    With ``untargeted`` tests (`untargeted_tests`) a pair passes when its test on all texts or
    its test on the untargeted texts does, at ``alpha`` over twice the pairs; it is returned
    with the p-value and Cohen's h of the test that passed (the stronger when both do), which
    decide its rank and its proposal contrast.
    """
    threshold = settings.alpha / (max(len(pairs), 1) * (2 if untargeted else 1))
    chosen = []
    for pair in pairs:
        tests = [(pair.p_value, pair.cohens_h)]
        if untargeted and pair.pair_id in untargeted:
            tests.append(untargeted[pair.pair_id])
        passing = [(p, h) for p, h in tests if p < threshold and abs(h) >= settings.min_effect]
        if passing:
            p_value, h = min(passing, key=lambda t: (t[0], -abs(t[1])))
            chosen.append(replace(pair, p_value=p_value, cohens_h=h))
    return sorted(chosen, key=lambda p: (-abs(p.cohens_h), p.p_value))[: settings.max_pairs]


def _draw(indices: Sequence[int], n: int, rng: random.Random) -> list[int]:
    indices = list(indices)
    return sorted(rng.sample(indices, n)) if len(indices) > n else indices


def proposal_groups(pair: ClusterPair, matching: Matching, pool_a: np.ndarray, pool_b: np.ndarray,
                    everywhere_a: np.ndarray, n: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """Indices of the base texts (A) and intervention texts (B) to show for one pair
    (``everywhere_a``: the base's untargeted pool texts, group A of an over-represented pair)."""
    b_here = pool_b[matching.intervention.labels[pool_b] == pair.intervention_cluster]
    if pair.cohens_h > 0:
        return _draw(everywhere_a, n, rng), _draw(b_here, n, rng)
    a_here = pool_a[matching.base.labels[pool_a] == pair.base_cluster]
    return _draw(a_here, n, rng), _draw(b_here, n, rng)


class _Accepted:
    """The hypotheses accepted so far, in proposal order, and their embeddings for deduplication."""

    def __init__(self, result: ProposalResult, embed: Callable[[Sequence[str]], np.ndarray], dedupe: float):
        self.result, self.embed, self.dedupe = result, embed, dedupe
        self.vectors: list[np.ndarray] = []
        self.ids: list[str] = []  # the hypothesis each vector belongs to

    @property
    def texts(self) -> list[str]:
        return list(dict.fromkeys(h.text for h in self.result.hypotheses))

    def add(self, statements: Sequence[str], direction: str, shown: list[str], pair: ClusterPair | None = None,
            twins: Sequence[list[str]] = ((),), score: float = 0.0) -> list[str]:
        """Record each statement that is not a duplicate of an accepted one (with its
        conditional ``twins``: one hypothesis per condition, ``[]`` for none); return them."""
        statements = [s.strip() for s in statements if s and s.strip()]
        pair_id = pair.pair_id if pair is not None else None
        kept = []
        for text, vector in zip(statements, self.embed(statements) if statements else []):
            if self.vectors:
                sims = np.stack(self.vectors) @ vector
                j = int(np.argmax(sims))
                if sims[j] >= self.dedupe:
                    self.result.dropped.append({"text": text, "pair_id": pair_id,
                                                "reason": f"duplicate of {self.ids[j]} (cosine {sims[j]:.2f})"})
                    continue
            for condition in twins:
                order = len(self.result.hypotheses)
                self.result.hypotheses.append(Hypothesis(
                    hypothesis_id=f"h{order + 1:04d}", order=order, text=text, direction=direction,
                    cluster_ids=[pair.base_cluster, pair.intervention_cluster] if pair is not None else [],
                    proposal_text_ids=shown, score=round(score, 6), condition=list(condition)))
            self.vectors.append(vector)  # one per statement: a conditional twin is no new statement
            self.ids.append(self.result.hypotheses[-len(twins)].hypothesis_id)
            kept.append(text)
        return kept


def propose_hypotheses(assistant, matching: Matching, base: Sequence[DecodedText],
                       intervention: Sequence[DecodedText], embed: Callable[[Sequence[str]], np.ndarray],
                       settings: ProposalSettings | None = None) -> ProposalResult:
    """Ask ``assistant`` for hypotheses about each cluster pair that differs, the texts outside
    them (the global contrast) and the classifier's most confident texts (the discriminative stage).

    Args:
        assistant: an `Assistant` (its ``propose(texts_a, texts_b, n_hypotheses, avoid, subject)``
            and, for residual search, ``judge_batch``).
        matching: the cluster pairs, over ``base`` and ``intervention`` in this order.
        base: the base model's texts (row ``i`` is embedding ``i`` of ``matching.base``).
        intervention: the intervention model's texts.
        embed: texts -> ``(N, D)`` unit vectors, for deduplication and the classifier.
        settings: selection, sizes and split.

    Returns:
        The accepted hypotheses in proposal order, with the texts each was proposed from.
    """
    settings = settings or ProposalSettings()
    pool_a, pool_b = proposal_pool(base, settings), proposal_pool(intervention, settings)
    # the global contrast: pool texts of every source, but targeted ones only at the split's rate
    split_a = np.array([i for i in pool_a if in_split(base[i], settings)], dtype=np.int64)
    split_b = np.array([i for i in pool_b if in_split(intervention[i], settings)], dtype=np.int64)
    # texts scored by both models (active sampling with kl_weight): twins open like the most divergent texts
    scored = all(r.log_ratio is not None for r in [*base, *intervention])
    divergence = (text_divergence(base), text_divergence(intervention)) if scored else None
    result = ProposalResult(untargeted_tests=untargeted_tests(matching, base, intervention))
    accepted = _Accepted(result, embed, settings.dedupe_similarity)
    explained_pairs = []
    for pair, a_idx, b_idx in contrast_groups(matching, base, pool_a, pool_b, split_a, split_b,
                                              result.untargeted_tests, settings):
        pair_id = pair.pair_id if pair is not None else None
        if not a_idx or not b_idx:
            result.dropped.append({"text": "", "pair_id": pair_id, "reason": "no proposal-pool texts on one side"})
            continue
        if pair is not None:
            result.selected_pairs.append(pair_id)
        shown = [base[i].text_id for i in a_idx] + [intervention[i].text_id for i in b_idx]
        result.proposal_text_ids.update(shown)
        proposals = assistant.propose([base[i].text for i in a_idx], [intervention[i].text for i in b_idx],
                                      settings.hypotheses_per_pair, avoid=accepted.texts)
        twins = [[]]  # openings are worth finding only for statements to condition
        if proposals:
            twins = conditional_twins(pair, matching, base, intervention, embed, divergence, settings)
        kept = accepted.add(proposals, "intervention", shown, pair, twins, abs(pair.cohens_h) if pair else 0.0)
        if pair is not None and kept:
            explained_pairs.append(pair)
        if pair is None:  # the global contrast also asks what the base model does more: a style made rarer
            decreases = assistant.propose([intervention[i].text for i in b_idx], [base[i].text for i in a_idx],
                                          settings.hypotheses_per_pair, avoid=accepted.texts, subject="base")
            accepted.add(decreases, "base", shown)
    if settings.contrast.rounds:
        discriminate(assistant, matching, base, intervention, pool_a, pool_b, explained_pairs, accepted, settings)
    if settings.rank.texts_per_side and result.hypotheses:
        rank(assistant, result, [base[i] for i in split_a], [intervention[i] for i in split_b], settings)
    return result


def contrast_groups(matching: Matching, base: Sequence[DecodedText], pool_a: np.ndarray, pool_b: np.ndarray,
                    split_a: np.ndarray, split_b: np.ndarray, untargeted: dict[int, tuple[float, float]],
                    settings: ProposalSettings) -> list[tuple[ClusterPair | None, list[int], list[int]]]:
    """What each proposal is shown: ``(pair, base indices, intervention indices)`` for each
    selected cluster pair (`select_pairs`, with the ``untargeted`` tests), then ``(None, ...)`` for
    the global contrast over the proposal split's texts outside those pairs' clusters."""
    everywhere_a = np.array([i for i in pool_a if not base[i].targeted], dtype=np.int64)
    groups = []
    for pair in select_pairs(matching.pairs, settings, untargeted):
        rng = random.Random(f"{settings.seed}:pair:{pair.base_cluster}:{pair.intervention_cluster}")
        groups.append((pair, *proposal_groups(pair, matching, pool_a, pool_b, everywhere_a, settings.texts_per_side,
                                              rng)))
    if settings.global_texts_per_side:
        # texts outside the selected clusters, so the global contrast shows what they do not explain
        chosen = [pair for pair, _, _ in groups]
        rest_a = split_a[~np.isin(matching.base.labels[split_a], [p.base_cluster for p in chosen])]
        rest_b = split_b[~np.isin(matching.intervention.labels[split_b], [p.intervention_cluster for p in chosen])]
        rng = random.Random(f"{settings.seed}:global")
        n = settings.global_texts_per_side
        groups.append((None, _draw(rest_a, n, rng), _draw(rest_b, n, rng)))
    return groups


def conditional_twins(pair: ClusterPair | None, matching: Matching, base: Sequence[DecodedText],
                      intervention: Sequence[DecodedText], embed: Callable[[Sequence[str]], np.ndarray],
                      divergence: tuple[np.ndarray, np.ndarray] | None, settings: ProposalSettings) -> list[list[str]]:
    """The conditions each statement about ``pair`` is proposed under: ``[]`` (none) and, when
    ``condition_prompts`` asks for it and openings lead into the pair, those openings."""
    twins: list[list[str]] = [[]]
    if pair is not None and settings.condition_prompts:
        rng = random.Random(f"{settings.seed}:condition:{pair.pair_id}")
        condition = openings_leading_in(pair, matching, base, intervention, settings.condition_prompts,
                                        settings.condition_words, rng, embed, divergence)
        twins += [condition] if condition else []
    return twins


def rank(assistant, result: ProposalResult, split_base: Sequence[DecodedText],
         split_intervention: Sequence[DecodedText], settings: ProposalSettings) -> None:
    """Reorder ``result``'s hypotheses strongest first (`rank_hypotheses`) on a seeded sample of
    each model's untargeted proposal-split texts, which every hypothesis then names as used."""
    rng = random.Random(f"{settings.seed}:rank")
    sample = {}
    for model, texts in (("base", split_base), ("intervention", split_intervention)):
        free = [t for t in texts if not t.targeted]
        sample[model] = [free[i] for i in _draw(range(len(free)), settings.rank.texts_per_side, rng)]
    result.hypotheses, result.ranking, renamed = rank_hypotheses(assistant, result.hypotheses, sample,
                                                                 settings.rank.threshold)
    result.proposal_text_ids.update(t.text_id for texts in sample.values() for t in texts)
    result.dropped = [{**d, "reason": rename_ids(d["reason"], renamed)} for d in result.dropped]


def discriminate(assistant, matching: Matching, base: Sequence[DecodedText], intervention: Sequence[DecodedText],
                 pool_a: np.ndarray, pool_b: np.ndarray, explained_pairs: Sequence[ClusterPair],
                 accepted: _Accepted, settings: ProposalSettings) -> None:
    """The discriminative stage over the proposal pool (`contrast.residual_search`), or a seeded
    sample of at most ``contrast.max_texts_per_side`` of each model's pool texts; the texts of
    ``explained_pairs`` (pairs that already have hypotheses) start out explained."""
    limit = settings.contrast.max_texts_per_side
    if max(len(pool_a), len(pool_b)) > limit:
        rng = np.random.default_rng([settings.seed, 1])
        log.info(f"[discover] discriminative stage: a uniform sample of at most {limit} of each model's "
                 f"{len(pool_a)} and {len(pool_b)} proposal-pool texts (seed {settings.seed})")
        pool_a, pool_b = (np.sort(rng.choice(pool, size=limit, replace=False)) if len(pool) > limit else pool
                          for pool in (pool_a, pool_b))
    records = [base[i] for i in pool_a] + [intervention[i] for i in pool_b]
    is_intervention = np.array([False] * len(pool_a) + [True] * len(pool_b))
    explained = np.concatenate([
        np.isin(matching.base.labels[pool_a], [p.base_cluster for p in explained_pairs]),
        np.isin(matching.intervention.labels[pool_b], [p.intervention_cluster for p in explained_pairs])])
    texts = [r.text for r in records]

    def accept(statements: list[str], direction: str, shown: list[int]) -> list[str]:
        ids = [records[i].text_id for i in shown]
        accepted.result.proposal_text_ids.update(ids)
        return accepted.add(statements, direction, ids)

    if not texts:
        return
    known = [h.text for h in accepted.result.hypotheses if not h.cluster_ids]  # the global contrast's
    history = residual_search(assistant, texts, np.asarray(accepted.embed(texts)), is_intervention,
                              settings.contrast, accept, settings.seed, explained, known)
    accepted.result.contrast = [{"round": h.round, "direction": h.direction, "auc": round(h.auc, 4),
                                 "p_value": h.p_value, "n_shown": len(h.shown_a) + len(h.shown_b),
                                 "statements": h.statements} for h in history]

