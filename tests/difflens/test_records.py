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


def test_parquet_schema_is_fixed_so_runs_concatenate(tmp_path):
    from dataclasses import asdict, fields

    import pyarrow as pa
    import pyarrow.parquet as pq

    from callbacks.decoded_text_writer import parquet_schema
    from difflens.records import DecodedText

    schema = parquet_schema()
    assert schema.names == [f.name for f in fields(DecodedText)]  # the schema follows the record
    scored = DecodedText("base/p0/0", "p0", "base", 0, "", "a text", 3, "free", log_ratio=0.25)
    unscored = DecodedText("base/p1/0", "p1", "base", 1, "", "another", 2, "free")
    for name, record in (("a", scored), ("b", unscored)):
        pq.write_table(pa.Table.from_pylist([asdict(record)], schema=schema), tmp_path / f"{name}.parquet")
    # a run whose log_ratio is all null has the same column type as one with floats
    tables = [pq.read_table(tmp_path / f"{name}.parquet") for name in ("a", "b")]
    assert tables[0].schema == tables[1].schema
    assert pa.concat_tables(tables).column("log_ratio").to_pylist() == [0.25, None]


def test_wrong_field_types_are_named(tmp_path):
    import pytest

    from difflens.errors import DataError
    from difflens.records import DecodedText, Hypothesis, read_records

    path = tmp_path / "texts.jsonl"
    path.write_text('{"text_id": "base/p0/0", "prompt_id": "p0", "model": "base", "seed": "abc", "prompt": "", '
                    '"text": "t", "n_tokens": 3}\n')
    with pytest.raises(DataError, match=r"texts\.jsonl:1: text 'base/p0/0': field 'seed' must be int, got 'abc'"):
        read_records(path, DecodedText)
    path.write_text('{"hypothesis_id": "h1", "order": 0, "text": "x", "cluster_ids": ["a"]}\n')
    with pytest.raises(DataError, match="field 'cluster_ids'"):
        read_records(path, Hypothesis)
    path.write_text('[1, 2]\n')
    with pytest.raises(DataError, match=r"texts\.jsonl:1: not a valid Hypothesis record"):
        read_records(path, Hypothesis)


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
