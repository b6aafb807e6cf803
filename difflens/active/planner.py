"""One round of active sampling: from the texts so far to the next round's prompts, or a stop.

Round 0 is the seed round (prompts from the ordinary sources). Before round ``r >= 1`` the
planner embeds every text of rounds ``< r``, re-clusters incrementally (k-means started from
the previous round's centroids, so cluster ids keep their meaning), checks stability on the
seed round's texts (the fixed reference set), and either stops or scores the areas, splits the
round's texts over the best ones and builds prompts from their content. A plan depends only on
the texts of earlier rounds and the seed, so a killed run replans exactly the same rounds.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from difflens.active.scoring import allocate_budget, boundary_uncertainty, score_areas
from difflens.active.stability import StabilityCheck, reference_labels, top_divergent
from difflens.active.targeting import KINDS, TargetedPrompt, targeted_prompts
from difflens.discovery.embed import DEFAULT_EMBEDDER
from difflens.discovery.matching import match_clusters
from difflens.discovery.openings import openings_leading_in, pair_texts
from difflens.errors import ConfigError, DataError, DifflensError
from difflens.likelihood import text_divergence
from difflens.prompts import Prompt
from difflens.records import TARGETED_SOURCE_PREFIX, DecodedText

ROUND_PREFIX = "active"
SIDES = ("both", "overrepresented")


def prompt_round(prompt_id: str) -> int:
    """The round a prompt belongs to: ``active003:17`` is round 3; any other source is round 0."""
    head = prompt_id.split(":", 1)[0]
    if head.startswith(ROUND_PREFIX) and head[len(ROUND_PREFIX):].isdigit():
        return int(head[len(ROUND_PREFIX):])
    return 0


def prompt_source(prompt: TargetedPrompt) -> str:
    """The ``source`` a targeted prompt's texts are recorded with: ``active:<kind>``, except the
    empty prompt, which is free generation (the same distribution as the seed round's ``free``
    texts, with new seeds) and is recorded as ``free`` so that validation can draw on it like any
    other free text; the prompt id still says which round asked for it."""
    if prompt.kind == "source" and prompt.text == "":
        return "free"
    return f"{TARGETED_SOURCE_PREFIX}{prompt.kind}"


@dataclass
class ActiveSamplingConfig:
    """Settings of iterative active sampling.

    Attributes:
        budget: texts per model in total, seed round included; sampling stops when reached.
        round_size: texts per model in each round after the seed round.
        max_rounds: rounds after the seed round at most.
        n_clusters: clusters of the incremental clustering.
        areas_per_round: how many of the best-scored areas each round samples.
        weights: weights of divergence, boundary uncertainty and under-sampling in an area's score.
        kl_weight: weight of an area's likelihood divergence: the mean over its texts of how much
            more likely the model that wrote a text finds it than the other model does
            (`DecodedText.log_ratio`; over all of one model's texts that mean is the KL
            divergence between the models). It shows where a few texts differ a lot, e.g. a
            behaviour that follows a rare opening, before any difference in proportions does.
            Above 0 the sampler scores every text under both models (the other model's pass
            adds about half to decoding, bench/scoring_overhead.txt), and an area's prompts
            are built from its most divergent texts first (both models'), its openings from
            the cluster whose texts carry the most divergence (`openings_leading_in`).
        ari_threshold: adjusted Rand index on the reference set at which two successive
            clusterings count as the same.
        patience: stable rounds in a row (same clustering and same top-divergent areas) to stop.
        require_divergent: stop as stable only once some area is divergent; until then sample
            on to the budget (a small seed round may show no divergent area yet).
        top_pairs: size of the top-divergent set compared between rounds.
        alpha: Bonferroni level of the two-proportion test for an area to count as divergent.
        min_effect: smallest ``|Cohen's h|`` for an area to count as divergent.
        mix: shares of the prompt kinds ``prefix``, ``source``, ``paraphrase`` and ``opening``
            (see `difflens.active.targeting`).
        prefix_words: smallest and largest prefix length in words.
        opening_words: at most this many words of a text's first sentence in an ``opening``.
        representatives: texts per side nearest an area's centroid that its prompts draw from
            (with ``kl_weight > 0``: the area's most divergent texts, both sides together).
        focus: once some area is divergent, sample only divergent areas, best ``|h|`` first:
            boundary uncertainty and under-sampling help to find a divergent area, but after
            that they spend the budget where the models do not differ.
        sides: whose texts an area's prompts are built from: ``both`` models' (interleaved) or
            only the ``overrepresented`` model's (the one with the larger share there), whose
            texts and prompts are the ones that led into the area more often. Without
            ``kl_weight`` only: the likelihood ratio says text by text which model's texts to use.
        paraphrases: assistant-written texts per chosen area (needs an assistant).
        embedder: sentence-transformers model name or directory.
        embedding_cache: embedding cache directory (shared with discovery).
        seed: seed of clustering and prompt building.
    """

    budget: int = 2000
    round_size: int = 200
    max_rounds: int = 20
    n_clusters: int = 20
    areas_per_round: int = 4
    weights: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.5])
    kl_weight: float = 0.0
    ari_threshold: float = 0.9
    patience: int = 1
    require_divergent: bool = False
    top_pairs: int = 5
    alpha: float = 0.05
    min_effect: float = 0.1
    mix: dict[str, float] = field(default_factory=lambda: {"prefix": 0.5, "source": 0.3, "paraphrase": 0.2})
    prefix_words: list[int] = field(default_factory=lambda: [2, 6])
    opening_words: int = 16
    representatives: int = 40
    paraphrases: int = 4
    focus: bool = False
    sides: str = "both"
    embedder: str = DEFAULT_EMBEDDER
    embedding_cache: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("budget", "round_size", "n_clusters", "areas_per_round", "top_pairs", "representatives",
                     "patience", "opening_words"):
            if getattr(self, name) < 1:
                raise ConfigError(f"active.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_rounds < 0 or self.paraphrases < 0:
            raise ConfigError("active.max_rounds and active.paraphrases must be >= 0")
        if len(self.weights) != 3 or min(self.weights) < 0 or sum(self.weights) + max(self.kl_weight, 0) <= 0:
            raise ConfigError(f"active.weights must be 3 numbers >= 0 (divergence, uncertainty, "
                              f"under-sampling), not all 0 unless kl_weight is > 0; got {self.weights}")
        if self.kl_weight < 0:
            raise ConfigError(f"active.kl_weight must be >= 0 (0: texts are not scored), got {self.kl_weight}")
        if not 0 < self.ari_threshold <= 1:
            raise ConfigError(f"active.ari_threshold must be in (0, 1], got {self.ari_threshold}")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"active.alpha must be in (0, 1), got {self.alpha}")
        unknown = set(self.mix) - set(KINDS)
        if unknown or not self.mix or min(self.mix.values()) < 0 or sum(self.mix.values()) <= 0:
            raise ConfigError(f"active.mix must give shares >= 0 of {list(KINDS)}, got {self.mix}")
        if self.sides not in SIDES:
            raise ConfigError(f"active.sides must be one of {list(SIDES)}, got {self.sides!r}")
        if len(self.prefix_words) != 2 or not 1 <= self.prefix_words[0] <= self.prefix_words[1]:
            raise ConfigError(f"active.prefix_words must be [smallest, largest] with 1 <= smallest <= largest, "
                              f"got {self.prefix_words}")


@dataclass
class RoundPlan:
    """The outcome of planning one round.

    Attributes:
        round_index: the round these prompts are for (1, 2, ...).
        prompts: the round's prompts (empty when sampling stops).
        metrics: texts so far, clusters, divergence, stability, chosen areas (for the log).
        stop_reason: ``stable``, ``budget`` or ``max_rounds`` when sampling stops, else None.
    """

    round_index: int
    prompts: list[Prompt]
    metrics: dict
    stop_reason: str | None = None


def _rows(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``x[mask]``, without a copy when the mask keeps every row."""
    return x if mask.all() else x[mask]


class ActivePlanner:
    """Plans rounds ``1, 2, ...`` in order from the texts decoded so far.

    Args:
        config: the active-sampling settings.
        embed: a function from a list of texts to ``(N, D)`` unit vectors (a cached `TextEmbedder.encode`).
        assistant: an `Assistant` that writes paraphrases of an area's texts; None: no paraphrases.
    """

    def __init__(self, config: ActiveSamplingConfig, embed, assistant=None):
        self.config = config
        self.embed = embed
        self.assistant = assistant
        self.stability = StabilityCheck(config.ari_threshold, config.patience, config.require_divergent)
        self.centroids: np.ndarray | None = None
        self.last_round = 0

    def plan(self, round_index: int, records: list[DecodedText]) -> RoundPlan:
        """Plan round ``round_index`` from ``records`` (texts of later rounds are ignored).

        Raises:
            ValueError: rounds planned out of order (a bug in the caller).
            DataError: no seed-round texts from one of the models, or fewer texts than clusters.
        """
        if round_index != self.last_round + 1:
            raise ValueError(f"round {round_index} planned after round {self.last_round}")
        self.last_round = round_index
        cfg = self.config
        base, intervention = self._earlier_texts(round_index, records)
        divergence = (text_divergence(base), text_divergence(intervention)) if cfg.kl_weight > 0 else None
        base_x = self.embed([r.text for r in base])  # (Na, D)
        int_x = self.embed([r.text for r in intervention])  # (Nb, D)
        is_ref_b = np.array([prompt_round(r.prompt_id) == 0 for r in base])
        is_ref_i = np.array([prompt_round(r.prompt_id) == 0 for r in intervention])
        matching = match_clusters(base_x, int_x, cfg.n_clusters, "base_init", cfg.seed, cfg.representatives,
                                  init=self.centroids)
        self.centroids = matching.base.centroids
        top = top_divergent(matching.pairs, cfg.alpha, cfg.min_effect, cfg.top_pairs)
        # the reference set (the seed round's texts, fixed across rounds) labelled side by side, not
        # gathered into one more copy of most of the vectors
        reference = np.concatenate([reference_labels(_rows(base_x, is_ref_b), matching.base.centroids),
                                    reference_labels(_rows(int_x, is_ref_i), matching.base.centroids)])  # (R,)
        check = self.stability.update(reference, top)
        divergent = top_divergent(matching.pairs, cfg.alpha, cfg.min_effect, len(matching.pairs))
        metrics = {
            "round": round_index, "texts_per_model": len(base), "texts": len(base) + len(intervention),
            "clusters": cfg.n_clusters, "max_abs_h": max(abs(p.cohens_h) for p in matching.pairs),
            "n_divergent": len(divergent), **check,
        }
        if divergence is not None:  # symmetric KL (nats per text) estimated on the seed round
            metrics["jeffreys"] = float(divergence[0][is_ref_b].mean() + divergence[1][is_ref_i].mean())
        stop = ("stable" if check["stable"] else "budget" if len(base) >= cfg.budget
                else "max_rounds" if round_index > cfg.max_rounds else None)
        if stop:
            return RoundPlan(round_index, [], {**metrics, "stop_reason": stop}, stop)

        scores = score_areas(matching.pairs, matching.base.labels, matching.intervention.labels,
                             boundary_uncertainty(base_x, matching.base.centroids),
                             boundary_uncertainty(int_x, matching.base.centroids),
                             (*cfg.weights, cfg.kl_weight), divergence)
        if cfg.focus and divergent:
            scores = sorted((a for a in scores if a.base_cluster in divergent),
                            key=lambda a: (-a.divergence, a.base_cluster))
            for area in scores:  # the budget split follows the divergence alone
                area.score = area.divergence
        prompts, areas, kinds = self._targeted(round_index, scores[: cfg.areas_per_round],
                                               min(cfg.round_size, cfg.budget - len(base)),
                                               matching, base, intervention, divergence)
        metrics["areas"] = areas
        metrics["prompt_kinds"] = dict(kinds)
        return RoundPlan(round_index, prompts, {**metrics, "stop_reason": None})

    def _earlier_texts(self, round_index: int, records: list[DecodedText]
                       ) -> tuple[list[DecodedText], list[DecodedText]]:
        """Each model's texts of the rounds before ``round_index``, in text-id order.

        Raises:
            DataError: no seed-round texts from one of the models, or fewer texts than clusters.
        """
        # sorted: k-means++ depends on the order of the points, and a resumed run reads the texts
        # back in another order than they were written
        earlier = sorted((r for r in records if prompt_round(r.prompt_id) < round_index), key=lambda r: r.text_id)
        base = [r for r in earlier if r.model == "base"]
        intervention = [r for r in earlier if r.model == "intervention"]
        if not any(prompt_round(r.prompt_id) == 0 for r in base) or not intervention:
            raise DataError(f"active sampling needs seed-round texts from both models before round {round_index}; "
                            f"got {len(base)} base and {len(intervention)} intervention texts")
        k = self.config.n_clusters
        if k > min(len(base), len(intervention)):
            raise DataError(f"cannot make {k} clusters from {min(len(base), len(intervention))} texts per model; "
                            f"lower active.n_clusters or enlarge the seed round")
        return base, intervention

    def _targeted(self, round_index: int, chosen: list, n_round: int, matching, base: list[DecodedText],
                  intervention: list[DecodedText], divergence: tuple[np.ndarray, np.ndarray] | None
                  ) -> tuple[list[Prompt], list[dict], Counter]:
        """The round's prompts: ``n_round`` split over the ``chosen`` areas by their scores.

        Returns:
            The prompts, one metrics row per area that got prompts, and the count of each kind
            of prompt (`targeted_prompts`).
        """
        cfg = self.config
        counts = allocate_budget([s.score for s in chosen], n_round)
        rng = random.Random(f"{cfg.seed}:{round_index}")
        by_id = {p.pair_id: p for p in matching.pairs}
        prompts, areas, kinds = [], [], Counter()
        for area, n in zip(chosen, counts):
            members = self._members(by_id[area.pair_id], matching, base, intervention, divergence)
            if not members or n == 0:
                continue
            paraphrases = self._paraphrases(members)
            openings = self._openings(by_id[area.pair_id], matching, base, intervention, n, rng, divergence)
            for t in targeted_prompts(members, paraphrases, n, rng, cfg.mix, tuple(cfg.prefix_words), openings):
                prompts.append(Prompt(f"{ROUND_PREFIX}{round_index:03d}:{len(prompts)}", t.text, prompt_source(t)))
                kinds[t.kind] += 1
            areas.append({**asdict(area), "texts": n, "paraphrases": len(paraphrases), "openings": len(openings)})
        return prompts, areas, kinds

    def _members(self, pair, matching, base: list[DecodedText], intervention: list[DecodedText],
                 divergence: tuple[np.ndarray, np.ndarray] | None) -> list[DecodedText]:
        """The area's texts its prompts are built from: with ``divergence``, both models' texts
        in it, the most divergent first; else the most representative first."""
        if divergence is not None:
            scored = [(float(divergence[side][i]), record)
                      for side, i, record, _, _ in pair_texts(pair, matching, base, intervention)]
            scored.sort(key=lambda x: (-x[0], x[1].text_id))
            return [record for _, record in scored[: self.config.representatives]]
        if self.config.sides == "overrepresented":
            if pair.cohens_h >= 0:
                return [intervention[i] for i in pair.intervention_representatives]
            return [base[i] for i in pair.base_representatives]
        # both sides' texts nearest the centroid, interleaved so each model's view of the area is used
        members = [x for duo in zip(pair.base_representatives, pair.intervention_representatives) for x in duo]
        members = [base[i] if j % 2 == 0 else intervention[i] for j, i in enumerate(members)]
        members += [base[i] for i in pair.base_representatives[len(pair.intervention_representatives):]]
        members += [intervention[i] for i in pair.intervention_representatives[len(pair.base_representatives):]]
        return members

    def _openings(self, pair, matching, base: list[DecodedText], intervention: list[DecodedText], n: int,
                  rng: random.Random, divergence: tuple[np.ndarray, np.ndarray] | None) -> list[str]:
        """Openings leading into the area, when the mix asks for them."""
        if not self.config.mix.get("opening"):
            return []
        return openings_leading_in(pair, matching, base, intervention, n, self.config.opening_words, rng, self.embed,
                                   divergence)

    def _paraphrases(self, members: list[DecodedText]) -> list[str]:
        if self.assistant is None or self.config.paraphrases == 0:
            return []
        examples = " | ".join(r.text for r in members[:3])
        try:
            return self.assistant.write_examples(f"Texts like these: {examples}", self.config.paraphrases)
        except DifflensError:
            # e.g. the offline assistant finds no toy-world topic or style in these texts:
            # the other kinds of prompt take the paraphrases' share
            return []
