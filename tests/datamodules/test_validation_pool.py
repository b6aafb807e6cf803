"""`HypothesisValidationDataModule(pool_sources=...)`: validate on untargeted texts only."""

from datamodules import HypothesisValidationDataModule
from difflens.records import DecodedText, Hypothesis, write_records


def test_pool_sources_keep_targeted_texts_out_of_validation(tmp_path):
    texts = [DecodedText(f"{m}/{src}:{i}/0", f"{src}:{i}", m, 0, "", f"text {m} {src} {i}", 3, src)
             for m in ("base", "intervention") for src in ("free", "active:prefix") for i in range(6)]
    write_records(tmp_path / "texts.jsonl", texts)
    shown = ["intervention/active:prefix:0/0"]  # a targeted text shown to the proposer: still a known id
    write_records(tmp_path / "h.jsonl", [Hypothesis("h0001", 0, "Texts mention the ocean", proposal_text_ids=shown)])
    data = HypothesisValidationDataModule(str(tmp_path / "texts.jsonl"), str(tmp_path / "h.jsonl"),
                                          out_dir=str(tmp_path / "v"), n_per_model=6, pool_sources=["free"])
    data.setup("test")
    judged = {t.text_id for t in data.tasks}
    assert len(judged) == 12 and all("/free:" in i for i in judged)
    # recovery scoring measures claimed differences on every untargeted pool text, not only the judged
    assert data.reference_texts == {m: [f"text {m} free {i}" for i in range(6)] for m in ("base", "intervention")}


def test_reference_texts_are_a_seeded_sample_when_many(tmp_path):
    texts = [DecodedText(f"{m}/free:{i}/0", f"free:{i}", m, 0, "", f"text {m} {i}", 3, "free")
             for m in ("base", "intervention") for i in range(30)]
    data = HypothesisValidationDataModule(str(tmp_path / "texts.jsonl"), str(tmp_path / "h.jsonl"),
                                          out_dir=str(tmp_path / "v"))
    sample = data._reference_texts(texts, most=10)
    assert {m: len(v) for m, v in sample.items()} == {"base": 10, "intervention": 10}
    assert sample == data._reference_texts(texts, most=10) and set(sample["base"]) < {t.text for t in texts}


def test_reference_texts_leave_out_what_a_proposer_saw(tmp_path):
    # a proposer picks words that are common in the texts it saw: measuring its claim on them would favour it
    texts = [DecodedText(f"{m}/free:{i}/0", f"free:{i}", m, 0, "", f"text {m} {i}", 3, "free")
             for m in ("base", "intervention") for i in range(4)]
    data = HypothesisValidationDataModule(str(tmp_path / "texts.jsonl"), str(tmp_path / "h.jsonl"),
                                          out_dir=str(tmp_path / "v"))
    data.hypotheses = [Hypothesis("h0001", 0, "Texts mention the ocean", proposal_text_ids=["base/free:1/0"]),
                       Hypothesis("h0002", 0, "Texts mention the sea", proposal_text_ids=["intervention/free:3/0"])]
    assert data._reference_texts(texts) == {"base": ["text base 0", "text base 2", "text base 3"],
                                            "intervention": ["text intervention 0", "text intervention 1",
                                                             "text intervention 2"]}
