"""The discriminative stage: the classifier finds planted texts, residual search finds a second
difference once the first is explained, and stops when nothing is left."""

import random

import numpy as np
import pytest

from difflens.assistants.offline import OfflineAssistant
from difflens.discovery.contrast import ContrastSettings, contrast_groups, residual_search, separability
from difflens.errors import ConfigError
from difflens.toyworld import ToyWorld

N = 240  # texts per model


def documents(mixture, start: int, n: int = N) -> list[str]:
    return [d.text for d in ToyWorld(seed=3).documents(n, mixture, start=start)]


def planted(styles: dict | None = None, topics: dict | None = None, share: float = 0.4, start: int = 0) -> list[str]:
    """``N`` texts of which ``share`` come from the planted mixture, the rest from the base."""
    k = int(N * share)
    return documents({"styles": styles, "topics": topics}, start, k) + documents(None, start + k, N - k)


@pytest.fixture(scope="module")
def embed(embedder):
    return lambda texts: embedder.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)


def test_classifier_ranks_planted_texts_first(embed):
    base = documents(None, 0)
    intervention = planted(styles={"exclamation": 1.0}, start=100_000)
    texts = base + intervention
    y = np.array([False] * N + [True] * N)
    fit = separability(texts, embed(texts), y, ContrastSettings(), seed=0)
    assert fit.auc > 0.6 and fit.p_value < 1e-4
    a, b = contrast_groups(fit.probability, y, "intervention", 30, random.Random(0))
    assert all(i >= N for i in b) and all(i < N for i in a)  # B is the intervention's, A the base's
    marked = sum("exclamation" in ToyWorld.annotate(texts[i]).styles for i in b)
    assert marked >= 20  # of 30, where 46% of all intervention texts carry the style (14 by chance)


def test_same_distribution_is_not_separable(embed):
    texts = documents(None, 0) + documents(None, 50_000)
    fit = separability(texts, embed(texts), np.array([False] * N + [True] * N), ContrastSettings(), seed=0)
    assert fit.p_value > 0.01


def run_search(embed, base, intervention, **settings):
    texts = base + intervention
    y = np.array([False] * len(base) + [True] * len(intervention))
    accepted: list[tuple[str, str]] = []

    def accept(statements, direction, shown):
        new = [s for s in statements if s not in {t for t, _ in accepted}]
        accepted.extend((s, direction) for s in new)
        return new

    assistant = OfflineAssistant()
    history = residual_search(assistant, texts, embed(texts), y, ContrastSettings(**settings), accept, seed=0)
    return accepted, history


def test_residual_search_finds_a_style_and_a_topic_then_stops(embed):
    base = documents(None, 0)
    # the intervention: 35% ocean documents, and a fifth of all its documents full of safety disclaimers
    k = int(N * 0.35)
    intervention = (documents({"topics": {"ocean": 1}}, 200_000, k)
                    + documents({"styles": {"safety_disclaimer": 1.0}}, 300_000, N // 5)
                    + documents(None, 400_000, N - k - N // 5))
    accepted, history = run_search(embed, base, intervention, rounds=4, hypotheses_per_round=1)
    said = " ".join(t.lower() for t, _ in accepted)
    assert "ocean" in said or "sea" in said
    assert "disclaimer" in said or "careful" in said
    assert len({r.round for r in history}) <= 4
    # it stopped because nothing was left to find or nothing new came back, not by running out of rounds
    last = history[-1]
    assert last.direction == "-" or not last.statements or len({r.round for r in history}) < 4


def test_residual_search_proposes_a_decrease_about_the_base_model(embed):
    base = planted(styles={"hedging": 1.0}, share=0.35, start=0)
    intervention = documents({"styles": {"hedging": 0.0}}, 500_000)
    accepted, _ = run_search(embed, base, intervention, rounds=2)
    base_side = [t for t, d in accepted if d == "base"]
    assert any(t.startswith("Texts from the base model") and "hedge" in t for t in base_side)


def test_nothing_planted_proposes_nothing(embed):
    accepted, history = run_search(embed, documents(None, 0), documents(None, 600_000), rounds=3)
    assert accepted == []
    assert history[0].direction == "-"  # stopped at the separability check


@pytest.mark.parametrize("bad", [{"rounds": -1}, {"folds": 1}, {"alpha": 0}, {"min_auc": -0.1},
                                 {"explained_threshold": 1.0}, {"directions": ["sideways"]}, {"texts_per_side": 0}])
def test_settings_refuse_bad_values(bad):
    with pytest.raises(ConfigError):
        ContrastSettings(**bad)
