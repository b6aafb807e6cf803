import pytest

from difflens.assistants.grounding import ground
from difflens.toyworld import TOPICS, ToyWorld

# description -> (topics, styles, negated)
CASES = [
    ("The model talks about the ocean far more often", ("ocean",), (), False),
    ("mentions waves and tides", ("ocean",), (), False),
    ("talks about trains", ("railways",), (), False),
    ("hedges its statements", (), ("hedging",), False),
    ("has a more negative sentiment", (), ("negative",), False),
    ("uses a formal, academic register", (), ("formal",), False),
    ("refuses to talk about the subject", (), ("refusal",), False),
    ("says it seems that a lot", (), ("hedging",), False),
    ("writes about chess and is full of exclamations", ("chess",), ("exclamation",), False),
    ("The model talks about cooking less often", ("cooking",), (), True),
    ("never adds safety disclaimers", (), ("safety_disclaimer",), True),
    ("The model is more helpful", (), (), False),
]


@pytest.mark.parametrize("description,topics,styles,negated", CASES, ids=[c[0] for c in CASES])
def test_ground_reads_toyworld_topics_and_styles(description, topics, styles, negated):
    g = ground(description)
    assert (g.topics, g.styles, g.negated) == (topics, styles, negated)


def test_mixture_of_more_and_less():
    more = ground("talks about the ocean and hedges").mixture()
    assert more.topics == {"ocean": 1.0} and more.styles == {"hedging": 1.0}
    less = ground("talks about the ocean less often").mixture()
    assert "ocean" not in less.topics and len(less.topics) == len(TOPICS) - 1
    docs = ToyWorld(seed=1).documents(40, less)
    assert all(d.topic != "ocean" for d in docs)


def test_two_exclusive_styles_keep_the_best_match():
    g = ground("is formal and casual")
    assert set(g.styles) == {"formal", "casual"}
    assert len(g.mixture().styles) == 1  # one register at probability 1; a valid mixture
