import pytest

from difflens.errors import DataError
from difflens.records import DecodedText, Hypothesis, read_records, write_records


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
