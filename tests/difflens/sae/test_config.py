"""`SAESpec`, the dictionary a config file asks for: the `SAEConfig` it builds once the data's
widths are known is the one the module built before the spec existed (so ``cfg.json`` is
unchanged), and every bad setting is a one-line error naming its ``model.sae`` key."""

import dataclasses

import pytest

from difflens.errors import ConfigError
from difflens.sae import SAEConfig, SAESpec, build_sae

D_IN, D_OUT = 36, 20  # odd, unequal widths so that a swapped d_in/d_out cannot pass


@pytest.mark.parametrize("spec,expected", [
    (SAESpec(architecture="topk", d_sae=72, k=4),
     dict(architecture="topk", d_sae=72, k=4)),
    (SAESpec(architecture="batchtopk", expansion_factor=3, k=5, aux_k=0, threshold_lr=0.05, dead_tokens=300),
     dict(architecture="batchtopk", d_sae=108, k=5, aux_k=0, threshold_lr=0.05, dead_tokens=300)),
    (SAESpec(architecture="matryoshka", d_sae=97, k=3, group_sizes=[7, 30, 60]),
     dict(architecture="matryoshka", d_sae=97, k=3, group_sizes=[7, 30, 60])),
    (SAESpec(architecture="relu_l1", d_sae=72, l1_coefficient=2.0, normalize_activations="none"),
     dict(architecture="relu_l1", d_sae=72, l1_coefficient=2.0, normalize_activations="none")),
    (SAESpec(architecture="jumprelu", d_sae=17, l0_coefficient=0.5, jumprelu_bandwidth=0.01),
     dict(architecture="jumprelu", d_sae=17, k=17, l0_coefficient=0.5, jumprelu_bandwidth=0.01)),
], ids=lambda v: v.architecture if isinstance(v, SAESpec) else "")
def test_to_config_fills_the_widths_and_names_from_the_data(spec, expected):
    cfg = spec.to_config(D_IN, hook_name="transformer.h.1", model_name="tiny")
    want = SAEConfig(**{"d_in": D_IN, "normalize_activations": "expected_average_only_in",
                        "hook_name": "transformer.h.1", "model_name": "tiny", **expected})
    assert cfg == want
    assert build_sae(cfg).saelens_cfg() == build_sae(want).saelens_cfg()


def test_a_named_output_hook_makes_a_transcoder():
    cfg = SAESpec(d_sae=72, k=4).to_config(D_IN, D_OUT, hook_name="h.1.mlp:input", hook_name_out="h.1.mlp")
    assert cfg.transcoder and (cfg.d_in, cfg.d_out) == (D_IN, D_OUT) and cfg.hook_name_out == "h.1.mlp"
    # without an output hook the target is the input, whatever width was measured
    assert not SAESpec(d_sae=72, k=4).to_config(D_IN, D_OUT).transcoder


def test_the_spec_is_a_frozen_value():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SAESpec().k = 3  # type: ignore[misc]


@pytest.mark.parametrize("kw,match", [
    ({"k": 0}, r"^model\.sae\.k must be >= 1, got 0$"),
    ({"d_sae": 0}, r"model\.sae\.d_sae must be >= 1, got 0"),
    ({"expansion_factor": -2}, r"model\.sae\.expansion_factor must be >= 1, got -2"),
    ({"aux_k": -1}, r"model\.sae\.aux_k must be >= 0, got -1"),
    ({"dead_tokens": 0}, r"model\.sae\.dead_tokens must be >= 1"),
    ({"aux_k_coefficient": float("nan")}, r"model\.sae\.aux_k_coefficient must be a finite number >= 0"),
    ({"architecture": "jumprelu", "jumprelu_bandwidth": 0.0}, r"model\.sae\.jumprelu_bandwidth must be > 0"),
    ({"threshold_lr": -0.1}, r"model\.sae\.threshold_lr must be > 0"),
    ({"normalize_activations": "layer"}, r"model\.sae\.normalize_activations must be one of"),
    ({"architecture": "topkk"}, r"Did you mean 'topk'"),
    ({"d_sae": 8, "k": 9}, r"model\.sae\.k=9 is larger than model\.sae\.d_sae=8"),
    ({"architecture": "matryoshka", "d_sae": 97, "group_sizes": [10, 20]}, r"sum to model\.sae\.d_sae=97"),
    # a setting of another architecture: most often the architecture was switched without its knobs
    ({"architecture": "topk", "l1_coefficient": 2.0}, r"model\.sae\.l1_coefficient is a setting of relu_l1, "
                                                      r"which topk does not read"),
    ({"architecture": "relu_l1", "k": 8}, r"model\.sae\.k is a setting of topk, batchtopk, matryoshka"),
    ({"architecture": "topk", "group_sizes": [16, 16]}, r"model\.sae\.group_sizes is a setting of matryoshka"),
    ({"architecture": "batchtopk", "jumprelu_bandwidth": 0.1}, r"model\.sae\.jumprelu_bandwidth .* jumprelu"),
])
def test_bad_settings_name_their_key(kw, match):
    with pytest.raises(ConfigError, match=match):
        SAESpec(**kw)


@pytest.mark.parametrize("kw,match", [
    ({"k": 40, "expansion_factor": 1}, r"model\.sae\.k=40 is larger than model\.sae\.expansion_factor \* d_in "
                                       r"= 1 \* 36 = 36"),
    ({"architecture": "matryoshka", "group_sizes": [96, 96]}, r"sum to model\.sae\.expansion_factor \* d_in"),
])
def test_sizes_that_depend_on_d_in_are_checked_when_it_is_known(kw, match):
    spec = SAESpec(**kw)  # d_in is not known yet: accepted
    with pytest.raises(ConfigError, match=match):
        spec.to_config(D_IN)
