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
