"""`WrittenTexts`: the texts written so far, read once and then only what the shards gained."""

import json
from dataclasses import asdict

import pytest

from callbacks.decoded_text_writer import SHARDS, TEXTS, WrittenTexts, collect
from difflens.errors import DataError
from difflens.records import DecodedText, write_records


def text(i: int, model: str = "base") -> DecodedText:
    return DecodedText(f"{model}/free:{i}/0", f"free:{i}", model, i, "", f"text {i}", 3, "free")


def line(record: DecodedText) -> str:
    return json.dumps(asdict(record)) + "\n"


def test_updates_give_what_collect_gives_reading_only_new_lines(tmp_path, monkeypatch):
    write_records(tmp_path / TEXTS, [text(0), text(1, "intervention")])
    shard = tmp_path / SHARDS / "rank0.jsonl"
    shard.parent.mkdir()
    shard.write_text(line(text(2)) + line(text(0)))  # text 0 again: the first one is kept
    written = WrittenTexts(tmp_path)
    assert written.update() == collect(tmp_path) and list(written.records) == list(collect(tmp_path))
    with shard.open("a") as f:
        f.write(line(text(3)) + '{"text_id": "base/free:4/0", "prom')  # a batch, then a write cut short
    assert written.update() == collect(tmp_path)
    # the writer cuts the torn line before appending; earlier lines are not read again (were
    # they, their damage here would be an error)
    read = [line(text(2)), line(text(0)), line(text(3))]
    shard.write_text("".join("x" * (len(row) - 1) + "\n" for row in read) + line(text(4)))
    assert sorted(written.update()) == sorted(["base/free:0/0", "intervention/free:1/0", "base/free:2/0",
                                               "base/free:3/0", "base/free:4/0"])
    (tmp_path / SHARDS / "rank1.jsonl").write_text(line(text(5)))  # a shard that appears later
    assert "base/free:5/0" in written.update()


def test_a_bad_line_is_an_error_naming_its_line(tmp_path):
    shard = tmp_path / SHARDS / "rank0.jsonl"
    shard.parent.mkdir()
    shard.write_text(line(text(0)))
    written = WrittenTexts(tmp_path)
    written.update()
    with shard.open("a") as f:
        f.write(line(text(1)) + "not json\n" + line(text(2)))
    with pytest.raises(DataError, match=r"rank0.jsonl:3:"):
        written.update()
