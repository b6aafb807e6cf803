"""The discovery stage end to end on toy-world texts: outputs, ranking, cache reuse, bad input."""

import json
import logging

import numpy as np
import pytest

from difflens.config import config_from_mapping
from difflens.discovery import pipeline
from difflens.discovery.embed import TextEmbedder
from difflens.discovery.pipeline import DiscoveryConfig, run_discovery
from difflens.discovery.proposal import ProposalSettings
from difflens.errors import ConfigError, DataError
from difflens.records import DecodedText, Hypothesis, read_records, write_records
from difflens.toyworld import TOPICS, ToyWorld
from tests.difflens.discovery.test_embed import NoModel
from tests.difflens.discovery.test_proposal import WordContrastAssistant


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    world = ToyWorld(seed=3)
    base = world.documents(80)
    shifted = world.documents(80, {"topics": {"ocean": 15, **{t.name: 1 for t in TOPICS if t.name != "ocean"}}},
                              start=50_000)
    records = [DecodedText(f"{m}/free:{i}/0", f"free:{i}", m, i, "", d.text, 30)
               for m, docs in (("base", base), ("intervention", shifted)) for i, d in enumerate(docs)]
    path = tmp_path_factory.mktemp("decode") / "texts.jsonl"
    write_records(path, records)
    return path


def config(texts_file, out, **kw):
    args = dict(texts=str(texts_file), output_dir=str(out), n_clusters=8, toyworld_labels=True,
                proposal=ProposalSettings(max_pairs=3, hypotheses_per_pair=2, texts_per_side=30,
                                             proposal_fraction=0.6))
    return DiscoveryConfig(**{**args, **kw})


def test_discovery_writes_ranked_pairs_hypotheses_map_and_projector(texts_file, tmp_path, embedder):
    out = tmp_path / "discover"
    cache = tmp_path / "cache"
    cfg = config(texts_file, out, embedding_cache=str(cache))
    # the assistant comes from the config: the offline backend (log-odds proposals)
    result = run_discovery(cfg, embedder=TextEmbedder(cache_dir=cache, encoder=embedder))
    hypotheses = read_records(out / "hypotheses.jsonl", Hypothesis)
    assert hypotheses == result.hypotheses and hypotheses
    assert "ocean" in hypotheses[0].text and hypotheses[0].cluster_ids
    clusters = json.loads((out / "clusters.json").read_text())
    top = clusters["pairs"][0]
    assert top["selected"] and top["cohens_h"] > 0.3
    assert next(iter(top["toyworld_topics"]["intervention"])) == "ocean"
    assert len(top["intervention_representatives"]) == 5
    assert "untargeted" not in top  # every text is free: one test per pair
    assert len(clusters["assignments"]["base"]) == 80 == len(clusters["assignments"]["intervention"])
    shown = set(json.loads((out / "proposal_text_ids.json").read_text()))
    assert all(set(h.proposal_text_ids) <= shown for h in hypotheses)
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "tensorboard").rglob("projector_config.pbtxt"))
    metadata = next((out / "tensorboard").rglob("metadata.tsv")).read_text().splitlines()
    assert metadata[0] == "model\tcluster\ttext" and len(metadata) == 161
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard")).Reload()
    assert events.Scalars("discovery/hypotheses")[0].value == len(hypotheses)
    assert events.Scalars("discovery/texts_base")[0].value == 80

    # a rerun embeds nothing (every text is cached) and proposes the same hypotheses
    again = TextEmbedder(cache_dir=cache, encoder=NoModel())
    rerun = run_discovery(cfg, embedder=again)
    assert again.n_encoded == 0 and [h.text for h in rerun.hypotheses] == [h.text for h in hypotheses]


def test_with_targeted_texts_each_pair_reports_its_test_on_the_untargeted_ones(texts_file, tmp_path, embedder):
    records = read_records(texts_file, DecodedText)
    aimed = [DecodedText(r.text_id.replace("free:", "active001:"), r.prompt_id.replace("free:", "active001:"),
                         r.model, r.seed, "The sea", r.text, r.n_tokens, "active:prefix") for r in records[::4]]
    path = tmp_path / "texts.jsonl"
    write_records(path, records + aimed)
    out = tmp_path / "discover"
    run_discovery(config(path, out), embedder=TextEmbedder(cache_dir=tmp_path / "cache", encoder=embedder))
    pairs = json.loads((out / "clusters.json").read_text())["pairs"]
    assert all(0 <= p["untargeted"]["p_value"] <= 1 for p in pairs)
    assert sum(p["n_base"] for p in pairs) == 80 + 20


def test_discovery_bad_input(texts_file, tmp_path):
    with pytest.raises(DataError, match="cannot make 500 clusters from 80 texts"):
        run_discovery(config(texts_file, tmp_path / "d", n_clusters=500, embedding_cache=str(tmp_path / "c")),
                      WordContrastAssistant(), TextEmbedder(cache_dir=tmp_path / "c", encoder=NoModel()))
    one_sided = tmp_path / "one.jsonl"
    write_records(one_sided, [r for r in read_records(texts_file, DecodedText) if r.model == "base"])
    with pytest.raises(DataError, match="need texts from both models"):
        run_discovery(config(one_sided, tmp_path / "d"), WordContrastAssistant())
    with pytest.raises(ConfigError, match=r"discover\.yaml: unknown key 'n_cluster' \(did you mean 'n_clusters'\?\)"):
        config_from_mapping(DiscoveryConfig, {"texts": "t", "output_dir": "o", "n_cluster": 3}, "discover.yaml")
    with pytest.raises(ConfigError, match="matching"):
        DiscoveryConfig(texts="t", output_dir="o", matching="nearest")


def test_map_and_projector_show_a_bounded_sample_in_binary_form(texts_file, tmp_path, embedder, monkeypatch, caplog):
    from tensorboard.plugins.projector.projector_plugin import _read_tensor_binary_file

    monkeypatch.setattr(pipeline, "PROJECTOR_MAX_POINTS", 100)
    out = tmp_path / "discover"
    with caplog.at_level(logging.INFO, logger="difflens.discovery"):
        run_discovery(config(texts_file, out), embedder=TextEmbedder(cache_dir=tmp_path / "cache", encoder=embedder))
    assert "a uniform sample of 100 of the 160 texts" in caplog.text
    metadata = next((out / "tensorboard").rglob("metadata.tsv")).read_text().splitlines()
    assert len(metadata) == 101 and {row.split("\t")[0] for row in metadata[1:]} == {"base", "intervention"}
    config_text = next((out / "tensorboard").rglob("projector_config.pbtxt")).read_text()
    assert "tensors.bytes" in config_text and "tensor_shape: 100" in config_text
    vectors = _read_tensor_binary_file(str(next((out / "tensorboard").rglob("tensors.bytes"))), [100, 384])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    clusters = json.loads((out / "clusters.json").read_text())
    assert len(clusters["assignments"]["base"]) == 80  # the sample bounds the views only


def test_cluster_topics_and_streamed_assignments_are_what_the_direct_forms_give(tmp_path):
    texts = [d.text for d in ToyWorld(seed=4).documents(120)] + ["no topic words"]
    labels = np.arange(len(texts)) % 7
    expected = [pipeline.toyworld_topics([t for t, c in zip(texts, labels) if c == k]) for k in range(7)]
    assert pipeline.cluster_topics(texts, labels, 7) == expected
    report = {"mode": "base_init", "pairs": [{"pair_id": 0}], "assignments": None, "proposal": {"dropped": []}}
    for assignments in ({"base": (["a", 'b"c'], np.array([1, 2])), "intervention": (["d"], np.array([0]))},
                        {"base": (["a", "b", "a"], np.array([1, 2, 5])), "intervention": ([], np.array([], int))}):
        pipeline.write_clusters_json(tmp_path / "c.json", report, assignments)
        direct = {**report, "assignments": {k: dict(zip(ids, c.tolist())) for k, (ids, c) in assignments.items()}}
        assert (tmp_path / "c.json").read_text() == json.dumps(direct, indent=2) + "\n"
