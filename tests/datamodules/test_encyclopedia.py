"""EncyclopediaDataModule: splits by context group, never by concept."""

import numpy as np
import pytest

from datamodules.encyclopedia import ConceptContextDataModule, ConceptSource, EncyclopediaDataModule, _split_groups
from difflens.encyclopedia.store import SiteArrays, StageHeader, concept_statistics, write_stage
from difflens.errors import ConfigError, DataError

C, H = 6, 11


def write(path, stage, n_per_concept, names=None, seed=0):
    rng = np.random.default_rng(seed)
    concept_index = np.repeat(np.arange(C), n_per_concept)
    groups = np.tile(np.arange(n_per_concept), C)
    header = StageHeader("tiny", stage, "templates", n_per_concept, [1], ["span_mean", "context_mean"], H,
                         names or [f"c{i}" for i in range(C)], ["x", "y"], np.array([0, 0, 0, 1, 1, 1]))

    def sites():
        for p in header.poolings:
            x = rng.normal(size=(len(concept_index), H)) + 3 * concept_index[:, None]
            m, v, c = concept_statistics(x, concept_index, C)
            yield SiteArrays(f"layer1.{p}", 1, p, m, v, c, x if stage else None)

    keep = stage >= 1
    return write_stage(path, header, sites(), concept_index=concept_index if keep else None,
                       contexts=[f"t{g} c{c}" for c, g in zip(concept_index, groups)] if keep else None,
                       groups=groups if keep else None)


def test_split_is_by_context_group_not_by_concept(tmp_path):
    s0 = write(tmp_path / "s0.h5", 0, 1)
    s1 = write(tmp_path / "s1.h5", 1, 8)
    dm = EncyclopediaDataModule([str(s0), str(s1)], eval_named=str(s1), val_fraction=0.25, batch_size=4)
    dm.setup()
    assert dm.sites == ["layer1.span_mean"]
    train_ctx, val_ctx = set(dm.contexts["train"]), set(dm.contexts["val"])
    assert val_ctx and not train_ctx & val_ctx
    val_templates = {c.split()[0] for c in val_ctx}
    assert len(val_templates) == 2 and not any(c.split()[0] in val_templates for c in train_ctx if " " in c)
    # every concept is in both parts: a classifier is never asked to name a class it never saw
    assert set(dm.data["val"]["y"]) == set(dm.data["train"]["y"]) == set(range(C))
    x, y, category, _index = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 1, H) and category.tolist() == [int(dm.concept_category[t]) for t in y]
    assert dm.test_tasks == ["named"] and len(dm.test_dataloader()) == 1
    mean, _std = dm.feature_statistics()
    assert mean.shape == (1, H)


def test_stage_zero_only_has_no_validation(tmp_path):
    dm = EncyclopediaDataModule([str(write(tmp_path / "s0.h5", 0, 1))])
    dm.setup()
    assert len(dm.data["train"]["y"]) == C and dm.val_dataloader() == []


def test_shuffled_labels_keep_the_label_counts(tmp_path):
    s1 = str(write(tmp_path / "s1.h5", 1, 4))
    a = EncyclopediaDataModule([s1], val_fraction=0)
    b = EncyclopediaDataModule([s1], val_fraction=0, shuffle_labels=True)
    a.setup(), b.setup()
    assert sorted(a.data["train"]["y"]) == sorted(b.data["train"]["y"])
    assert (a.data["train"]["y"] != b.data["train"]["y"]).any()


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="train_stages"):
        EncyclopediaDataModule([])
    s1 = write(tmp_path / "s1.h5", 1, 2)
    other = write(tmp_path / "other.h5", 1, 2, names=[f"d{i}" for i in range(C)])
    with pytest.raises(DataError, match="different concept list"):
        EncyclopediaDataModule([str(s1), str(other)]).setup()
    with pytest.raises(ConfigError, match="no site with pooling 'span_last'"):
        EncyclopediaDataModule([str(s1)], pooling="span_last").setup()
    with pytest.raises(ConfigError, match="unknown contexts"):
        ConceptContextDataModule("m", contexts="poems")
    with pytest.raises(ConfigError, match=r"needs concepts.path"):
        ConceptSource(source="wordnet")
    split = _split_groups(np.zeros(10, int), np.zeros(10, int), 0.5, 0)
    assert not split.any()  # a single group stays in training


def test_stage_two_with_an_assistant_backend_keeps_sentences_that_use_the_concept(tiny_model_dir):
    dm = ConceptContextDataModule(str(tiny_model_dir), ConceptSource(topics=["ocean", "chess"]), stage=2,
                                  contexts="assistant", samples_per_concept=3, assistant_backend="offline")
    dm.setup()
    per_concept = np.bincount([c.concept_index for c in dm.contexts], minlength=20)
    assert per_concept.max() == 3 and (per_concept > 0).sum() >= 10
    for c in dm.contexts:
        assert c.text[slice(*c.span)].lower() == dm.concepts[c.concept_index].name
