import random

import pytest

from difflens.active import cut_prefix, targeted_prompts
from difflens.errors import ConfigError
from difflens.records import DecodedText


def text(i, prompt, body, model="base"):
    return DecodedText(f"{model}/p:{i}/0", f"p:{i}", model, 0, prompt, body, 5)


MEMBERS = [text(0, "", "the sea was calm and the waves were high"),
           text(1, "We saw a", "ship on the ocean near the harbour", "intervention"),
           text(2, "", "perhaps the tide will turn today")]


def test_cut_prefix_normalises_spaces():
    assert cut_prefix("  the  sea\nwas calm ", 3) == "the sea was"
    assert cut_prefix("short", 4) == "short"


def test_prompts_come_from_the_area_content():
    rng = random.Random(0)
    prompts = targeted_prompts(MEMBERS, ["The ocean is deep and blue today"], 10, rng,
                               {"prefix": 0.5, "source": 0.3, "paraphrase": 0.2}, (2, 4))
    kinds = [p.kind for p in prompts]
    assert (kinds.count("prefix"), kinds.count("source"), kinds.count("paraphrase")) == (5, 3, 2)
    documents = [" ".join(f"{m.prompt} {m.text}".split()) for m in MEMBERS]
    for p in prompts:
        if p.kind == "prefix":
            assert any(d.startswith(p.text) for d in documents) and 2 <= len(p.text.split()) <= 4
            assert p.origin in {m.text_id for m in MEMBERS}
        elif p.kind == "source":
            assert p.text in {m.prompt for m in MEMBERS}
        else:
            assert "The ocean is deep and blue today".startswith(p.text)
    assert prompts[0].origin == MEMBERS[0].text_id  # the most representative text first


def test_without_paraphrases_their_share_goes_to_prefixes():
    prompts = targeted_prompts(MEMBERS, [], 10, random.Random(0), {"prefix": 0.5, "source": 0.3, "paraphrase": 0.2})
    assert [p.kind for p in prompts].count("prefix") == 7


@pytest.mark.parametrize("members, mix, match", [
    (MEMBERS, {"prefixes": 1.0}, "unknown kind"),
    ([], {"prefix": 1.0}, "no texts"),
])
def test_bad_input(members, mix, match):
    with pytest.raises(ConfigError, match=match):
        targeted_prompts(members, [], 3, random.Random(0), mix)


def test_openings_are_used_in_order_and_without_them_their_share_goes_to_sources():
    openings = ["The knight moved to the centre.", "Every rook waits."]
    prompts = targeted_prompts(MEMBERS, [], 10, random.Random(0), {"source": 0.4, "opening": 0.6}, openings=openings)
    chosen = [p.text for p in prompts if p.kind == "opening"]
    assert chosen == openings * 3 and {p.kind for p in prompts} == {"source", "opening"}
    without = targeted_prompts(MEMBERS, [], 10, random.Random(0), {"source": 0.4, "opening": 0.6})
    assert [p.kind for p in without] == ["source"] * 10
