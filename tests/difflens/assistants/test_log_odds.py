import math
from collections import Counter

import pytest

from difflens.assistants.log_odds import log_odds_dirichlet, ngram_counts


def test_ngram_counts_skip_function_words_and_sentence_ends():
    counts = ngram_counts(["The wave hits the shore. It seems that the tide turns!"], max_n=3)
    assert counts["wave"] == 1 and counts["it seems that"] == 1
    assert "the" not in counts and "the wave" not in counts  # article at an edge
    assert "shore it" not in counts  # across a sentence end
    assert "wave hits" in counts


def test_log_odds_matches_the_formula_and_is_antisymmetric():
    a = Counter({"wave": 2, "pawn": 30, "oak": 20})
    b = Counter({"wave": 25, "pawn": 5, "oak": 20})
    scores = {s.term: s for s in log_odds_dirichlet(a, b, prior_strength=10.0)}
    n_a, n_b, a0 = 52, 50, 10.0
    alpha = a0 * 27 / 102
    delta = math.log((25 + alpha) / (n_b + a0 - 25 - alpha)) - math.log((2 + alpha) / (n_a + a0 - 2 - alpha))
    z = delta / math.sqrt(1 / (25 + alpha) + 1 / (2 + alpha))
    assert scores["wave"].z == pytest.approx(z)
    assert scores["wave"].z > 0 > scores["pawn"].z
    swapped = {s.term: s for s in log_odds_dirichlet(b, a, prior_strength=10.0)}
    assert swapped["wave"].z == pytest.approx(-z)
    assert next(iter(scores)) == "wave" or max(scores.values(), key=lambda s: s.z).term == "wave"


def test_prior_shrinks_rare_terms_below_frequent_consistent_ones():
    a = Counter({"filler": 1000, "wave": 20})
    b = Counter({"filler": 1000, "wave": 60, "hapax": 2})
    ranked = [s.term for s in log_odds_dirichlet(a, b)]
    assert ranked.index("wave") < ranked.index("hapax")


def test_prior_strength_must_be_positive():
    with pytest.raises(ValueError, match="prior_strength"):
        log_odds_dirichlet(Counter(a=1), Counter(a=1), prior_strength=0)
