import json

import pytest

from difflens.corpus import ToyWorldCorpus, read_rows, read_texts
from difflens.errors import ConfigError, DataError


def test_reads_jsonl_csv_txt_and_json(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n\n{"text": "two", "x": 1}\n')
    (tmp_path / "b.csv").write_text("text,label\nthree,1\n")
    (tmp_path / "c.txt").write_text("four\n\nfive\n")
    (tmp_path / "d.json").write_text(json.dumps([{"body": "six"}]))
    assert read_texts(tmp_path / "a.jsonl") == ["one", "two"]
    assert read_texts(tmp_path / "b.csv") == ["three"]
    assert read_texts(tmp_path / "c.txt") == ["four", "five"]
    assert read_texts(tmp_path / "d.json", text_field="body") == ["six"]


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"text": broken}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: malformed JSON"):
        read_rows(path)


@pytest.mark.parametrize("content, message", [
    ('{"body": "x"}\n', "row 1 has no 'text' field"),
    ('{"text": ""}\n', "no non-empty texts"),
])
def test_missing_field_and_empty_file_are_clear(tmp_path, content, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_texts(path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match=r"data file not found: '.*nope.jsonl'"):
        read_texts(tmp_path / "nope.jsonl")
    (tmp_path / "x.docx").write_text("x")
    with pytest.raises(DataError, match="cannot read"):
        read_texts(tmp_path / "x.docx")


def test_toyworld_corpus_is_sliceable_and_validated():
    corpus = ToyWorldCorpus(n_documents=20, seed=3, mixture={"topics": {"music": 1}})
    assert corpus.texts(5, 10) == corpus.texts()[5:10]
    with pytest.raises(ConfigError, match="unknown topic"):
        ToyWorldCorpus(mixture={"topics": {"musik": 1}})
    with pytest.raises(DataError, match="n_documents"):
        ToyWorldCorpus(n_documents=0)
