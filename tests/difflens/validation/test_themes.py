"""`recurring_themes`: paraphrases of one claim form a theme; other claims and the other model do not."""

import pytest

from difflens.discovery.recovery import default_embedder
from difflens.validation.themes import recurring_themes

OCEAN = ["Texts from the intervention model talk about the ocean and the sea more often, mentioning shore and tidal",
         "Texts from the intervention model talk about the ocean and the sea more often, mentioning coral and briny",
         "Texts from the intervention model mention waves, tides and whales more often"]
HEDGING = ['Texts from the intervention model more often hedge their statements, with phrases such as "it seems that"',
           'Texts from the intervention model use the phrases "it seems" and "perhaps" more often']
OTHERS = ['Texts from the intervention model more often are full of exclamations, with phrases such as "oh" and "wow"',
          "Texts from the intervention model talk about physics more often, mentioning lens, laser and quantum",
          'Texts from the intervention model more often add safety disclaimers, with phrases such as "safety first"']


def rows(statements, direction="intervention", first=0):
    return [{"hypothesis_id": f"h{first + i:04d}", "text": s, "direction": direction, "p_value": 0.001 * (i + 1)}
            for i, s in enumerate(statements)]


@pytest.fixture(scope="module")
def embed():
    return default_embedder()


def test_paraphrases_form_one_theme_and_other_claims_their_own(embed):
    validated = rows([OCEAN[0], HEDGING[0], OCEAN[1], *OTHERS, OCEAN[2], HEDGING[1]])
    themes = recurring_themes(validated, embed)
    assert [sorted(t.hypothesis_ids) for t in themes] == [["h0000", "h0002", "h0006"], ["h0001", "h0007"],
                                                          ["h0003"], ["h0004"], ["h0005"]]
    assert themes[0].p_value == 0.001 and themes[0].statement in OCEAN and themes[1].statement in HEDGING


def test_a_claim_about_the_base_model_is_never_joined_to_one_about_the_intervention(embed):
    validated = rows(OCEAN[:2]) + rows([OCEAN[0].replace("intervention", "base")], "base", first=2)
    themes = recurring_themes(validated, embed)
    assert sorted((t.direction, sorted(t.hypothesis_ids)) for t in themes) == [
        ("base", ["h0002"]), ("intervention", ["h0000", "h0001"])]


def test_one_hypothesis_is_one_theme(embed):
    assert [t.hypothesis_ids for t in recurring_themes(rows(OCEAN[:1]), embed)] == [["h0000"]]
    assert recurring_themes([], embed) == []
