import pytest

from difflens.assistants.prompts import JUDGE, PROMPTS, format_texts, parse_score, parse_string_list

SCORES = [
    ('{"score": 0.8}', 0.8),
    ('```json\n{"score": 1}\n```', 1.0),
    ('Sure! Here is my answer: {"score": 0.25, "reason": "little"}', 0.25),
    ("Score: 0.7", 0.7),
    ("score = 70%", 0.7),
    ("0.4", 0.4),
    ("  1  ", 1.0),
    ('{"score": 7}', None),  # outside [0, 1]: not rescaled by guessing a 0-10 scale
    ('{"score": "high"}', None),
    ('{"score": true}', None),
    ("The text clearly shows it.", None),
    ("I think 3 of the 4 sentences do", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize("reply,score", SCORES, ids=[repr(r) for r, _ in SCORES])
def test_parse_score_is_lenient_but_never_guesses(reply, score):
    assert parse_score(reply) == score


LISTS = [
    ('["a", "b"]', ["a", "b"]),
    ('```json\n["a",\n "b"]\n```', ["a", "b"]),
    ('Here they are: ["a", "b"] Hope this helps.', ["a", "b"]),
    ('{"hypotheses": ["a", "b"]}', ["a", "b"]),
    ("1. first one\n2) second one\n- third one", ["first one", "second one", "third one"]),
    ('["a", 3, ""]', ["a"]),
    ("no list here", None),
    ("[]", None),
    ("", None),
]


@pytest.mark.parametrize("reply,items", LISTS, ids=[repr(r) for r, _ in LISTS])
def test_parse_string_list(reply, items):
    assert parse_string_list(reply) == items


def test_prompts_are_versioned_and_render():
    assert set(PROMPTS) == {"write_examples", "propose", "judge"}
    assert all(p.version for p in PROMPTS.values())
    messages = JUDGE.messages(hypothesis="H", text="T {not a field}")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Hypothesis: H" in messages[1]["content"] and "T {not a field}" in messages[1]["content"]


def test_format_texts_numbers_and_cuts():
    out = format_texts(["one  two\nthree", "x" * 50, "dropped"], max_texts=2, max_chars=14)
    assert out.splitlines() == ["1. one two three", "2. " + "x" * 13 + "…"]
