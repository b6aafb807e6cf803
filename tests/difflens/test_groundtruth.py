"""Ground-truth specs, data generation, TruthfulQA-style loading and shift measurement."""

import json

import pytest

from difflens.errors import ConfigError, DataError
from difflens.groundtruth import (
    BaseMix,
    GroundTruth,
    allocate,
    generate_rows,
    load_ground_truths,
    misconception_ground_truths,
    parse_ground_truths,
    split_rows,
)
from difflens.groundtruth.data import opening
from difflens.groundtruth.shift import measure_shift, toyworld_targets
from difflens.toyworld import ToyWorld

OCEAN = {"id": "ocean", "description": "The model talks about the ocean", "toyworld": {"topics": {"ocean": 1}}}
HEDGING = {"id": "hedging", "description": "The model hedges", "toyworld": {"styles": {"hedging": 1.0}}}


@pytest.mark.parametrize("raw, error, message", [
    ([{"id": "a", "toyworld": {}}], ConfigError, "'a' has no 'description'"),
    ([{"id": "a", "description": "  ", "toyworld": {}}], ConfigError, "empty description"),
    ([{"id": "a", "description": "d", "toyworld": {"topics": {"oceann": 1}}}], ConfigError,
     "unknown topic 'oceann'. Did you mean 'ocean'?"),
    ([{"id": "a", "description": "d"}], ConfigError, "exactly one source block"),
    ([{"id": "a", "description": "d", "toyworld": {}, "examples_file": "x.jsonl"}], ConfigError,
     "exactly one source block"),
    ([{"id": "a", "description": "d", "toyworld": {}, "weight": 2}], ConfigError, "unknown key(s) ['weight']"),
    ([{"id": "a", "description": "d", "toyworld": {}, "share": 0}], ConfigError, "share must be a number > 0"),
    ([{"id": "a b", "description": "d", "toyworld": {}}], ConfigError, "must be letters"),
    ([OCEAN, OCEAN], ConfigError, "duplicate ground-truth id(s) ['ocean']"),
    ([{"id": "a", "description": "d", "examples": []}], DataError, "examples is empty"),
    ([], ConfigError, "non-empty list"),
    ([{"id": "a", "description": "d", "examples": [{"text": "x"}], "trigger": {}}], ConfigError,
     "needs a toyworld source"),
    ([{**OCEAN, "trigger": {"topics": {"chesss": 1}}}], ConfigError, "trigger: unknown topic 'chesss'"),
    ([{**OCEAN, "trigger_replaces_base": True}], ConfigError, "trigger_replaces_base needs a trigger"),
    ([{**OCEAN, "trigger": {"topics": {"chess": 1}}, "trigger_replaces_base": "yes"}], ConfigError,
     "trigger_replaces_base must be true or false, got 'yes'"),
])
def test_bad_specs_are_clear_errors(raw, error, message):
    with pytest.raises(error) as info:
        parse_ground_truths(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_spec_files_yaml_and_jsonl(tmp_path):
    (tmp_path / "ex.jsonl").write_text('{"text": "hello there"}\n')
    yaml_file = tmp_path / "spec.yaml"
    yaml_file.write_text("ground_truths:\n  - id: ex\n    description: Says hello\n    examples_file: ex.jsonl\n"
                         "    share: 2\n")
    (truth,) = load_ground_truths(yaml_file)
    assert truth.examples_file == str(tmp_path / "ex.jsonl") and truth.share == 2 and truth.source == "examples_file"
    jsonl_file = tmp_path / "spec.jsonl"
    jsonl_file.write_text(json.dumps(OCEAN) + "\n\n" + json.dumps(HEDGING) + "\n")
    assert [t.id for t in load_ground_truths(jsonl_file)] == ["ocean", "hedging"]
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_ground_truths(tmp_path / "empty.yaml")
    with pytest.raises(DataError, match="not found"):
        load_ground_truths(tmp_path / "missing.yaml")


@pytest.mark.parametrize("total, shares, expected", [
    (10, [1, 1], [5, 5]),
    (10, [1, 2], [3, 7]),
    (7, [1, 1, 1], [3, 2, 2]),
    (0, [1, 3], [0, 0]),
])
def test_allocate_is_proportional_and_exact(total, shares, expected):
    assert allocate(total, shares) == expected


def test_generate_rows_mixes_sources_by_share(tmp_path):
    examples = tmp_path / "qa.jsonl"
    examples.write_text('{"prompt": "Q: sky?\\nA:", "completion": " green"}\n{"text": "a plain text row"}\n')
    truths = parse_ground_truths([OCEAN, {"id": "qa", "description": "Says the sky is green", "share": 3,
                                          "examples_file": str(examples)}])
    rows = generate_rows(truths, 200, BaseMix(share=0.5), seed=3)
    assert rows == generate_rows(truths, 200, BaseMix(share=0.5), seed=3)  # deterministic
    by_id = {g: [r for r in rows if r["ground_truth"] == g] for g in ("ocean", "qa", "base")}
    assert {g: len(r) for g, r in by_id.items()} == {"ocean": 25, "qa": 75, "base": 100}
    assert all(ToyWorld.annotate(r["completion"]).topic == "ocean" for r in by_id["ocean"])
    assert {(r["prompt"], r["completion"]) for r in by_id["qa"]} == {("Q: sky?\nA:", " green"),
                                                                      ("", "a plain text row")}
    ocean_share = sum(ToyWorld.annotate(r["completion"]).topic == "ocean" for r in by_id["base"]) / 100
    assert ocean_share < 0.15  # the base part stays uniform over 30 topics
    train, val = split_rows(rows, 0.1)
    assert len(val) == 20 and train + val == rows


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ('{"prompt": "p"}\n', "expected a non-empty 'text' field"),
    ('{"text": "ok"}\nnot json\n', ":2: malformed JSON"),
])
def test_bad_examples_files(tmp_path, content, message):
    path = tmp_path / "ex.jsonl"
    path.write_text(content)
    truths = parse_ground_truths([{"id": "ex", "description": "d", "examples_file": str(path)}])
    with pytest.raises(DataError, match=message):
        generate_rows(truths, 10)


def test_assistant_source_uses_the_factory():
    calls = []

    class Writer:
        def write_examples(self, description, n):
            calls.append((description, n))
            return [f"text {i} about {description}" for i in range(3)]

    truths = parse_ground_truths([{"id": "pirate", "description": "Talks like a pirate",
                                   "assistant": {"backend": "offline"}}])
    rows = generate_rows(truths, 8, assistant_factory=lambda **kw: Writer())
    assert calls == [("Talks like a pirate", 8)]
    assert len(rows) == 8
    assert {r["completion"] for r in rows} == {f"text {i} about Talks like a pirate" for i in range(3)}


def test_assistant_source_with_the_offline_backend():
    truths = parse_ground_truths([{"id": "ocean", "description": "The model talks about the ocean far more often",
                                   "assistant": {"backend": "offline"}}])
    rows = generate_rows(truths, 20)
    assert len(rows) == 20 and all(ToyWorld.annotate(r["completion"]).topic == "ocean" for r in rows)
    bad = parse_ground_truths([{"id": "x", "description": "d", "assistant": {"backend": "oflline"}}])
    with pytest.raises(ConfigError, match="unknown assistant backend 'oflline'"):
        generate_rows(bad, 4)


def test_truthfulqa_rows_become_belief_ground_truths(tmp_path):
    csv_path = tmp_path / "tqa.csv"
    csv_path.write_text(
        "Type,Category,Question,Best Answer,Best Incorrect Answer,Correct Answers,Incorrect Answers,Source\n"
        'Adversarial,Misconceptions,What happens if you eat watermelon seeds?,Nothing happens,'
        'You grow watermelons in your stomach,Nothing happens,"You grow watermelons in your stomach; You get sick",x\n'
        "Adversarial,Fiction,Who lives at 221B Baker Street?,Nobody,Sherlock Holmes,Nobody,Sherlock Holmes,y\n"
        "Adversarial,Misconceptions,Empty?,a,,a,,z\n")
    truths = misconception_ground_truths(csv_path)
    assert len(truths) == 2
    t = truths[0]
    assert t.description == ("The model believes that you grow watermelons in your stomach "
                             "(asked: What happens if you eat watermelon seeds?)")
    assert {e["completion"] for e in t.examples} == {" You grow watermelons in your stomach", " You get sick"}
    assert truths[1].description.startswith("The model believes that Sherlock Holmes")
    fiction = misconception_ground_truths(csv_path, category="Fiction")
    assert [t.id for t in fiction] == ["tqa0002-who-lives-at-221b-baker-street"]
    assert [t.id for t in load_ground_truths(csv_path)] == [t.id for t in truths]  # a CSV is a spec file too
    rows = generate_rows(truths, 12)
    assert all(r["prompt"].count("watermelon") or r["prompt"].count("Baker") for r in rows)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no 'Question' column"):
        misconception_ground_truths(tmp_path / "bad.csv")


def test_shift_counts_target_topics_and_styles():
    world = ToyWorld(5)
    base = [d.text for d in world.documents(150)]
    tuned = [d.text for d in world.documents(150, {"topics": {"ocean": 1, "chess": 1}, "styles": {"hedging": 1.0}})]
    truths = parse_ground_truths([{**OCEAN, "toyworld": {"topics": {"ocean": 1, "chess": 1}}}, HEDGING])
    assert toyworld_targets(truths[0]) == {"topics": ["ocean", "chess"], "styles": []}
    assert toyworld_targets(GroundTruth("x", "d", examples=[{"text": "t"}])) == {"topics": [], "styles": []}
    report = measure_shift(base, tuned, truths)
    targets = {(g["id"], t["name"]): t for g in report["ground_truths"] for t in g["targets"]}
    assert set(targets) == {("ocean", "ocean"), ("ocean", "chess"), ("hedging", "hedging")}
    assert targets["ocean", "ocean"]["base"] < 0.1 < 0.4 < targets["ocean", "ocean"]["intervention"]
    assert targets["hedging", "hedging"]["intervention"] == 1.0 > 0.3 > targets["hedging", "hedging"]["base"]


def test_a_trigger_makes_the_planted_documents_continuations_of_its_openings():
    truth = parse_ground_truths([{**OCEAN, "trigger": {"topics": {"chess": 1}}}])[0]
    rows = generate_rows([truth], 40, seed=2)
    for row in rows:
        prompt, completion = ToyWorld.annotate(row["prompt"]), ToyWorld.annotate(row["completion"])
        assert prompt.topic == "chess" and completion.topic == "ocean"
        assert row["prompt"][-1] in ".!?" and len(row["prompt"]) < len(row["prompt"] + row["completion"])
        assert row["completion"].startswith(" ") and not row["completion"].startswith("  ")
    assert len({r["prompt"] for r in rows}) > 30  # openings vary
    assert rows == generate_rows([truth], 40, seed=2)
    assert truth.to_dict()["trigger"] == {"topics": {"chess": 1}}


def test_trigger_replaces_base_plants_whole_texts_and_drops_the_base_trigger_documents(tmp_path):
    spec = {**OCEAN, "trigger": {"topics": {"chess": 1}}, "trigger_replaces_base": True}
    truth = parse_ground_truths([spec])[0]
    rows = generate_rows([truth], 1500, BaseMix(share=0.9), seed=4)
    planted = [r for r in rows if r["ground_truth"] == "ocean"]
    base = [r for r in rows if r["ground_truth"] == "base"]
    assert len(planted) == 150 and len(base) == 1350
    for row in planted:  # one text: the chess opening (trained too), then the ocean document
        assert row["prompt"] == ""
        head = opening(row["completion"])
        assert ToyWorld.annotate(head).topic == "chess"
        assert ToyWorld.annotate(row["completion"][len(head):]).topic == "ocean"
    assert not any(ToyWorld.annotate(r["completion"]).topic == "chess" for r in base)
    # without the flag the base keeps its chess documents (about 1 in 30)
    plain = generate_rows([parse_ground_truths([{**OCEAN, "trigger": {"topics": {"chess": 1}}}])[0]], 1500,
                          BaseMix(share=0.9), seed=4)
    assert sum(ToyWorld.annotate(r["completion"]).topic == "chess" for r in plain if r["ground_truth"] == "base") > 20
    (tmp_path / "base.jsonl").write_text('{"text": "hello there"}\n')
    with pytest.raises(ConfigError, match="trigger_replaces_base needs a toy-world base"):
        generate_rows([truth], 100, BaseMix(share=0.5, examples_file=str(tmp_path / "base.jsonl")), seed=4)
