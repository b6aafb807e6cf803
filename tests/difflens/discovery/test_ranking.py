"""Ranking: hypotheses are written strongest first on a proposal-split sample, renumbered, with
the sample barred from validation; a conditional twin stays with its statement."""

import pytest

from difflens.assistants.offline import OfflineAssistant
from difflens.config import config_from_mapping
from difflens.discovery.proposal import ProposalSettings
from difflens.discovery.ranking import RankSettings, rank_hypotheses, rank_statistic, rename_ids
from difflens.errors import ConfigError
from difflens.records import DecodedText, Hypothesis
from difflens.toyworld import ToyWorld

N = 80


def texts(model: str, mixture: dict | None, start: int) -> list[DecodedText]:
    return [DecodedText(f"{model}/p{i}/0", f"p{i}", model, 0, "", d.text, 10)
            for i, d in enumerate(ToyWorld(seed=5).documents(N, mixture, start=start))]


def test_rank_statistic_is_the_rate_difference_in_standard_errors():
    p1, p0 = 30.5 / 51, 10.5 / 51
    expected = (p1 - p0) / ((p1 * (1 - p1) + p0 * (1 - p0)) / 51) ** 0.5
    assert rank_statistic(30, 50, 10, 50) == pytest.approx(expected)
    assert rank_statistic(10, 50, 30, 50) == pytest.approx(-expected)
    assert rank_statistic(0, 50, 0, 50) == 0


def test_the_planted_difference_goes_first_and_twins_stay_together():
    sample = {"base": texts("base", None, 0),
              "intervention": texts("intervention", {"styles": {"exclamation": 0.6}}, 10_000)}
    false_statement = "Texts from the intervention model talk about astronomy and stars more often"
    reverse = "Texts from the base model more often are full of exclamations, with phrases such as \"wow\""
    true_statement = ("Texts from the intervention model more often are full of exclamations, "
                      "with phrases such as \"wow\"")
    proposed = [
        Hypothesis("h0001", 0, false_statement, proposal_text_ids=["base/x/0"]),
        Hypothesis("h0002", 1, false_statement, condition=["an opening"]),
        Hypothesis("h0003", 2, reverse, direction="base"),
        Hypothesis("h0004", 3, true_statement, proposal_text_ids=["intervention/y/0"]),
    ]
    ranked, rows, renamed = rank_hypotheses(OfflineAssistant(), proposed, sample, threshold=0.75)

    assert [h.text for h in ranked] == [true_statement, false_statement, false_statement, reverse]
    assert [h.condition for h in ranked[1:3]] == [[], ["an opening"]]  # the twin right after its statement
    assert [h.hypothesis_id for h in ranked] == ["h0001", "h0002", "h0003", "h0004"]
    assert [h.order for h in ranked] == [0, 1, 2, 3]
    assert renamed == {"h0004": "h0001", "h0001": "h0002", "h0002": "h0003", "h0003": "h0004"}
    assert [r["proposed_as"] for r in rows] == ["h0004", "h0001", "h0002", "h0003"]
    assert rows[0]["statistic"] > 3 > abs(rows[1]["statistic"]) and rows[-1]["statistic"] < -3
    flagged, n = rows[0]["flagged"]["intervention"]
    assert n == N and flagged > rows[0]["flagged"]["base"][0]
    # every hypothesis now names the sample, which decided the order, so validation never uses it
    sample_ids = {t.text_id for side in sample.values() for t in side}
    assert all(sample_ids <= set(h.proposal_text_ids) for h in ranked)
    assert "intervention/y/0" in ranked[0].proposal_text_ids and "base/x/0" in ranked[1].proposal_text_ids


def test_renamed_ids_in_free_text():
    assert rename_ids("duplicate of h0003 (cosine 0.93), not h00031", {"h0003": "h0001"}) == \
        "duplicate of h0001 (cosine 0.93), not h00031"


def test_rank_settings_from_a_config_dict():
    settings = config_from_mapping(ProposalSettings, {"rank": {"texts_per_side": 50}}, "proposal")
    assert settings.rank == RankSettings(texts_per_side=50)
    with pytest.raises(ConfigError, match=r"proposal: unknown key 'rank\.texts'"):
        config_from_mapping(ProposalSettings, {"rank": {"texts": 50}}, "proposal")
    with pytest.raises(ConfigError, match="texts_per_side"):
        RankSettings(texts_per_side=-1)
