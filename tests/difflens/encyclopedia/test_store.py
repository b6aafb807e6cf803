"""The HDF5 stage schema: round trip, atomic write, lazy open, clear errors."""

import pickle

import h5py
import numpy as np
import pytest

from difflens.encyclopedia.store import (
    FORMAT,
    EncyclopediaStage,
    SiteArrays,
    StageHeader,
    concept_statistics,
    write_stage,
)
from difflens.errors import DataError

C, H = 5, 37  # odd sizes


def header(**kw) -> StageHeader:
    base = dict(model_name="tiny", stage=1, contexts="templates", samples_per_concept=3, layers=[0, 2],
                poolings=["span_mean", "context_mean"], hidden_size=H, concept_names=[f"c{i}" for i in range(C)],
                categories=["a", "b"], concept_category=np.array([0, 0, 1, 1, -1]))
    base.update(kw)
    return StageHeader(**base)


def sites(samples, concept_index, keep=True):
    for layer in (0, 2):
        for pooling in ("span_mean", "context_mean"):
            x = samples + layer + (pooling == "context_mean")
            mean, var, count = concept_statistics(x, concept_index, C)
            yield SiteArrays(f"layer{layer}.{pooling}", layer, pooling, mean, var, count, x if keep else None)


def make(tmp_path, name="s.h5", keep=True):
    rng = np.random.default_rng(0)
    concept_index = np.repeat(np.arange(C - 1), 3)  # concept 4 has no sample
    samples = rng.normal(size=(len(concept_index), H)).astype(np.float32)
    path = write_stage(tmp_path / name, header(), sites(samples, concept_index, keep),
                       concept_index=concept_index if keep else None,
                       contexts=[f"context {i}" for i in range(len(concept_index))] if keep else None,
                       groups=np.tile(np.arange(3), C - 1) if keep else None)
    return path, samples, concept_index


def test_round_trip(tmp_path):
    path, samples, concept_index = make(tmp_path)
    stage = EncyclopediaStage(path)
    h = stage.header
    assert (h.model_name, h.stage, h.contexts, h.samples_per_concept, h.layers, h.hidden_size) == \
        ("tiny", 1, "templates", 3, [0, 2], H)
    assert h.concept_names == [f"c{i}" for i in range(C)] and h.categories == ["a", "b"]
    assert h.concept_category.tolist() == [0, 0, 1, 1, -1] and h.created.endswith("+00:00")
    assert stage.sites == ["layer0.span_mean", "layer0.context_mean", "layer2.span_mean", "layer2.context_mean"]
    np.testing.assert_allclose(stage.samples("layer2.context_mean"), samples + 3, atol=2e-2)
    mean = samples[:3].mean(axis=0) + 2
    np.testing.assert_allclose(stage.means("layer2.span_mean")[0], mean, atol=1e-2)
    np.testing.assert_allclose(stage.variances("layer0.span_mean")[1], samples[3:6].var(axis=0), atol=2e-2)
    assert stage.counts().tolist() == [3, 3, 3, 3, 0]
    assert stage.sample_contexts()[4] == "context 4" and stage.sample_groups()[:4].tolist() == [0, 1, 2, 0]
    x, y, _g, _ctx = stage.features(["layer0.span_mean", "layer2.span_mean"])
    assert x.shape == (12, 2, H) and y.tolist() == concept_index.tolist()
    with h5py.File(path) as f:  # float16 + gzip on disk
        ds = f["sites/layer0.span_mean/samples"]
        assert ds.dtype == np.float16 and ds.compression == "gzip"


def test_uncaptured_concepts_are_flagged(tmp_path):
    path, _, _ = make(tmp_path)
    stage = EncyclopediaStage(path)
    assert stage.captured("layer2.span_mean").tolist() == [True, True, True, True, False]
    with h5py.File(path) as f:  # what a reader without difflens sees, as the schema documents
        assert f["sites/layer0.span_mean/captured"][()].tolist() == [True] * 4 + [False]
        assert f["concepts/name"].asstr()[()].tolist() == [f"c{i}" for i in range(C)]
        assert not f["sites/layer0.span_mean/mean"][4].any()  # the placeholder the flag marks
    sites = stage.sites
    stage.close()
    with h5py.File(path, "r+") as f:  # a file written before the flag existed
        for site in sites:
            del f[f"sites/{site}/captured"]
    assert EncyclopediaStage(path).captured().tolist() == [True, True, True, True, False]


def test_stage_without_samples_reads_means_of_captured_concepts(tmp_path):
    path, _samples, _ = make(tmp_path, keep=False)
    stage = EncyclopediaStage(path)
    assert not stage.has_samples
    x, y, _, ctx = stage.features(["layer0.span_mean"])
    assert x.shape == (4, 1, H) and y.tolist() == [0, 1, 2, 3] and ctx == ["c0", "c1", "c2", "c3"]
    with pytest.raises(DataError, match="stores no samples"):
        stage.samples("layer0.span_mean")


def test_lazy_open_and_pickle(tmp_path):
    path, _samples, _ = make(tmp_path)
    stage = EncyclopediaStage(path)
    assert stage._file is None  # construction checks the file and closes it
    clone = pickle.loads(pickle.dumps(stage))
    assert clone._file is None
    np.testing.assert_array_equal(clone.samples("layer0.span_mean"), stage.samples("layer0.span_mean"))
    assert stage._file is not None


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    path, _, _ = make(tmp_path)
    before = path.read_bytes()

    def broken():
        yield from []
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        write_stage(path, header(), broken())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]  # no temporary left behind


def test_foreign_truncated_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        EncyclopediaStage(tmp_path / "nope.h5")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match="not a difflens encyclopedia stage"):
        EncyclopediaStage(foreign)
    path, _, _ = make(tmp_path)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="half-written or corrupt"):
        EncyclopediaStage(truncated)
    with h5py.File(path, "a") as f:
        del f["sites/layer2.context_mean"]
    with pytest.raises(DataError, match=r"incomplete: missing sites/layer2.context_mean"):
        EncyclopediaStage(path)
    old, _, _ = make(tmp_path, "old.h5")
    with h5py.File(old, "a") as f:
        f.attrs["schema_version"] = 0
    with pytest.raises(DataError, match="schema version 0"):
        EncyclopediaStage(old)
    assert FORMAT == "difflens.encyclopedia"


def test_concept_statistics():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 5.0]])
    mean, var, count = concept_statistics(x, np.array([0, 0, 2]), 3)
    assert mean.tolist() == [[2.0, 4.0], [0.0, 0.0], [5.0, 5.0]]
    assert var.tolist() == [[1.0, 4.0], [0.0, 0.0], [0.0, 0.0]] and count.tolist() == [2, 0, 1]


@pytest.mark.parametrize("concept_index", [
    np.random.default_rng(1).integers(0, 9, size=40),  # unsorted, several samples per concept
    np.random.default_rng(1).permutation(10)[:8],  # stage 0: one sample per concept at most
])
def test_concept_statistics_match_a_loop_over_concepts(concept_index):
    x = np.random.default_rng(0).normal(size=(len(concept_index), 3)).astype(np.float32)
    mean, var, count = concept_statistics(x, concept_index, 10)  # some concepts without samples
    for c in range(10):
        rows = x[concept_index == c].astype(np.float64)
        assert count[c] == len(rows)
        np.testing.assert_allclose(mean[c], rows.mean(0) if len(rows) else 0, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(var[c], rows.var(0) if len(rows) else 0, rtol=1e-12, atol=1e-12)
