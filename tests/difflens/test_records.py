import pytest

from difflens.errors import DataError
from difflens.records import DecodedText, Hypothesis, read_records, read_text_columns, write_records


def test_records_round_trip(tmp_path):
    texts = [DecodedText("base/p1/0", "p1", "base", 7, "The", " wave drifts.", 3, "toyworld")]
    hyps = [Hypothesis("h0001", 0, "Texts mention the ocean more often", "intervention", [3], ["base/p1/0"], 0.4)]
    write_records(tmp_path / "t.jsonl", texts)
    write_records(tmp_path / "h.jsonl", hyps)
    assert read_records(tmp_path / "t.jsonl", DecodedText) == texts
    assert read_records(tmp_path / "h.jsonl", Hypothesis) == hyps


def test_bad_records_name_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text_id": "a"}\n')
    with pytest.raises(DataError, match=r"t.jsonl:1: not a valid DecodedText"):
        read_records(path, DecodedText)
    with pytest.raises(DataError, match="model must be one of"):
        DecodedText("x", "p", "tuned", 0, "", "", 0)


def test_text_columns_hold_the_same_records_by_model(tmp_path):
    texts = [DecodedText(f"{m}/p{i}/0", f"p{i}", m, i, "The" if i % 2 else "", f" wave {i}.", 3,
                         "active:prefix" if i == 3 else "toyworld", 0.5 if i == 1 else None)
             for i in range(5) for m in ("intervention", "base")]
    write_records(tmp_path / "t.jsonl", texts)
    columns = read_text_columns(tmp_path / "t.jsonl")
    for model, side in columns.items():
        expected = [t for t in texts if t.model == model]
        assert len(side) == 5 and list(side) == expected and [side[i] for i in range(5)] == expected
        assert side[1:3] == expected[1:3] and side[3].targeted and not side[0].targeted
        assert side.text == [t.text for t in expected]


@pytest.mark.parametrize("line, message", [
    ('{"text_id": "a"}', r"t.jsonl:1: not a valid DecodedText record \(missing"),
    ('{"text_id": "a", "extra": 1}', r"t.jsonl:1: unknown fields \['extra'\]"),
    ('[1, 2]', "not a valid DecodedText record"),
    ('{"text_id": "a", "prompt_id": "p", "model": "tuned", "seed": 0, "prompt": "", "text": "", "n_tokens": 0}',
     "model must be one of"),
    ('{"text_id": ', r"t.jsonl:1: not a valid DecodedText record"),
])
def test_text_columns_reject_what_read_records_rejects(tmp_path, line, message):
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataError, match=message):
        read_text_columns(path)
