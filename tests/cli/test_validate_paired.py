"""``difflens test`` with the paired test and ``n_per_model: auto`` on hand-made same-prompt pairs."""

import json

import yaml

from tests.conftest import REPO
from tests.validation_data import FALSE_HYPOTHESES, TRUE_HYPOTHESES, paired_toy_texts, toy_hypotheses


def test_paired_validation_with_auto_n_end_to_end(tmp_path):
    from cli.main import main
    from difflens.records import DecodedText, read_records, write_records
    from difflens.validation import read_plan
    from difflens.validation.plan import read_plan_header

    texts = paired_toy_texts(400, changed_every=2)  # the intervention writes about the ocean on every other prompt
    texts.append(DecodedText("intervention/lonely/0", "lonely", "intervention", 5, "", "the tide and the coral", 5))
    hypotheses = toy_hypotheses(texts, [TRUE_HYPOTHESES[0], FALSE_HYPOTHESES[0]], n_proposal=5)
    (tmp_path / "in").mkdir()
    write_records(tmp_path / "in/texts.jsonl", texts)
    write_records(tmp_path / "in/hypotheses.jsonl", hypotheses)
    truths = tmp_path / "ground_truths.json"
    truths.write_text(json.dumps({"ground_truths": [{"id": "ocean", "description": "The model talks about the ocean",
                                                     "toyworld": {"topics": {"ocean": 1}}}]}))
    config = yaml.safe_load((REPO / "configs/quickstart/validate.yaml").read_text())
    config["trainer"]["logger"]["init_args"]["save_dir"] = str(tmp_path / "tb")
    config["trainer"]["callbacks"][1]["init_args"]["ground_truths"] = str(truths)
    config["model"]["init_args"].update(assistant={"class_path": "tests.judges.ToyWorldJudge"}, test="paired")
    config["data"]["init_args"].update(
        texts=str(tmp_path / "in/texts.jsonl"), hypotheses=str(tmp_path / "in/hypotheses.jsonl"),
        out_dir=str(tmp_path / "out"), n_per_model="auto",
        auto_n={"n_min": 10, "n_max": 150, "pilot_per_model": 40, "proposal_fraction": 0.3})
    path = tmp_path / "validate.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["test", "--config", str(path)]) == 0

    out = tmp_path / "out"
    _, tasks = read_plan(out / "plan.jsonl")
    sizes = read_plan_header(out / "plan.jsonl")["sample_sizes"]
    assert set(sizes) == {"h0000", "h0001"}
    # the ocean is plain in the pilot and gets what its effect needs; astronomy is not there at all,
    # so the false hypothesis gets only the minimum
    assert sizes["h0001"]["n_per_model"] == 10 < sizes["h0000"]["n_per_model"] < 150
    # planned on pilot pairs: the ocean pairs are flagged on the intervention's side only
    pilot_pairs = sizes["h0000"]["pilot"]
    assert pilot_pairs["pairs"] >= 20 and pilot_pairs["direction_only"] >= 5 and pilot_pairs["other_only"] == 0
    by_id = {t.text_id: t for t in read_records(tmp_path / "in/texts.jsonl", DecodedText)}
    pilot = {json.loads(line)["text_id"] for line in (out / "pilot.jsonl").read_text().splitlines()}
    shown = {i for h in hypotheses for i in h.proposal_text_ids}
    used = [t.text_id for t in tasks]
    assert len(used) == len(set(used)) and not (pilot | shown | {"intervention/lonely/0"}) & set(used)
    assert pilot and pilot <= set(by_id)
    for h, row in sizes.items():
        mine = [t for t in tasks if t.hypothesis_id == h]
        assert len(mine) == 2 * row["n_per_model"] and sum(t.model == "base" for t in mine) == row["n_per_model"]
        pairs = {}
        for t in mine:
            pairs.setdefault(t.pair, []).append(by_id[t.text_id])
        assert all(len(p) == 2 and p[0].prompt_id == p[1].prompt_id and p[0].seed == p[1].seed for p in pairs.values())
    rows = [json.loads(x) for x in (out / "saffron_results.jsonl").read_text().splitlines()]
    assert [r["hypothesis_id"] for r in rows] == ["h0000", "h0001"]
    assert all(r["test"] == "paired" and r["p_value"] == r["p_paired"] for r in rows)
    assert rows[0]["discordant"]["other_only"] == 0 and rows[0]["discordant"]["direction_only"] >= 5
    assert [r["rejected"] for r in rows] == [True, False]
    # astronomy only leaves with the texts the intervention rewrote about the ocean
    assert rows[1]["discordant"]["pairs"] == 10 and rows[1]["discordant"]["direction_only"] == 0
