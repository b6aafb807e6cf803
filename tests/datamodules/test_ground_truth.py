"""GroundTruthDataModule: generated data is written once, reused, never overwritten; batches."""

import json

import pytest

from datamodules import GroundTruthDataModule
from difflens.errors import DataError
from difflens.finetune import IGNORE_INDEX
from difflens.groundtruth import BaseMix

TRUTHS = [
    {"id": "ocean", "description": "The model talks about the ocean", "toyworld": {"topics": {"ocean": 1}}},
    {"id": "qa", "description": "Answers that the sky is green",
     "examples": [{"prompt": "Q: sky?\nA:", "completion": " green"}]},
]


def make(tiny_model_dir, **kw):
    args = dict(ground_truths=TRUTHS, tokenizer=str(tiny_model_dir), base=BaseMix(share=0.5), n_examples=60,
                block_size=16, batch_size=4, val_fraction=0.2)
    return GroundTruthDataModule(**{**args, **kw})


def test_writes_generated_data_once_and_reuses_it(tiny_model_dir, tmp_path):
    out = tmp_path / "data"
    dm = make(tiny_model_dir, output_dir=str(out))
    dm.prepare_data()
    summary = json.loads((out / "ground_truths.json").read_text())
    by_id = {g["id"]: g for g in summary["ground_truths"]}
    assert by_id["ocean"]["description"] == "The model talks about the ocean"
    assert by_id["ocean"]["n_train"] + by_id["ocean"]["n_val"] == 15
    assert summary["base"]["n_train"] + summary["base"]["n_val"] == 30
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(train) == 48 and {r["ground_truth"] for r in train} == {"ocean", "qa", "base"}
    assert {"prompt": "Q: sky?\nA:", "completion": " green", "ground_truth": "qa"} in train
    before = (out / "train.jsonl").stat().st_mtime_ns
    make(tiny_model_dir, output_dir=str(out)).prepare_data()  # same spec: reused
    assert (out / "train.jsonl").stat().st_mtime_ns == before
    dm.setup("fit")
    assert dm.rows["train"] == [{"prompt": r.get("prompt", ""), "completion": r.get("completion", r.get("text")),
                                 "ground_truth": r["ground_truth"]} for r in train]


def test_a_changed_spec_never_overwrites_existing_data(tiny_model_dir, tmp_path):
    out = tmp_path / "data"
    make(tiny_model_dir, output_dir=str(out)).prepare_data()
    snapshot = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(DataError, match="different ground-truth spec; it is kept"):
        make(tiny_model_dir, output_dir=str(out), n_examples=80).prepare_data()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == snapshot
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a ground-truth data directory"):
        make(tiny_model_dir, output_dir=str(other)).prepare_data()
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("packing", [True, False])
def test_batches(tiny_model_dir, packing):
    dm = make(tiny_model_dir, packing=packing)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape[0] == 4 and batch["labels"].shape == batch["input_ids"].shape
    if packing:
        assert set(batch) == {"input_ids", "labels"} and batch["input_ids"].shape[1] == 16
    else:
        assert set(batch) == {"input_ids", "attention_mask", "labels"}
        assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    # the QA prompt is masked out of the loss, its answer is not
    qa = dm.tensors["train"]
    assert (qa["labels"] == IGNORE_INDEX).any() and (qa["labels"] != IGNORE_INDEX).any()


def test_missing_examples_file_fails_at_construction(tiny_model_dir):
    with pytest.raises(DataError, match="data file not found"):
        make(tiny_model_dir, ground_truths=[{"id": "x", "description": "d", "examples_file": "/no/such.jsonl"}])


def test_empty_examples_file_is_a_clear_error(tiny_model_dir, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    dm = make(tiny_model_dir, ground_truths=[{"id": "x", "description": "d", "examples_file": str(empty)}],
              output_dir=str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"examples file .* is empty"):
        dm.prepare_data()
    assert not (tmp_path / "data").exists()


def test_an_edited_examples_file_is_a_changed_spec(tiny_model_dir, tmp_path):
    examples = tmp_path / "ex.jsonl"
    examples.write_text('{"text": "the whale and the reef"}\n')
    truths = [{"id": "ex", "description": "Talks about whales", "examples_file": str(examples)}]
    make(tiny_model_dir, ground_truths=truths, output_dir=str(tmp_path / "data")).prepare_data()
    examples.write_text('{"text": "the chess board"}\n')
    with pytest.raises(DataError, match="different ground-truth spec"):
        make(tiny_model_dir, ground_truths=truths, output_dir=str(tmp_path / "data")).prepare_data()
