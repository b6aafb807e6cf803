"""The configuration shared by every sparse-dictionary architecture."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from difflens.errors import ConfigError

NORMALIZATIONS = ("none", "expected_average_only_in")


@dataclass
class SAEConfig:
    """Sizes, sparsity and training knobs of a sparse autoencoder or transcoder.

    Attributes:
        architecture: registry name: ``relu_l1``, ``topk``, ``batchtopk``, ``matryoshka`` or
            ``jumprelu``.
        d_in: width of the input activations.
        d_sae: number of latents (dictionary size).
        d_out: width of the target; None means ``d_in``. Only a transcoder may differ.
        transcoder: True when input and target are different sites (e.g. MLP in -> MLP out);
            the input is then not centred with the decoder bias.
        k: active latents per row (TopK) or on average per row (BatchTopK, Matryoshka).
        l1_coefficient: weight of the L1 penalty (``relu_l1``).
        l0_coefficient: weight of the L0 penalty (``jumprelu``).
        jumprelu_init_threshold: initial threshold of every JumpReLU latent.
        jumprelu_bandwidth: width of the rectangle kernel of the straight-through estimator;
            small relative to typical activations of normalised inputs.
        aux_k: latents the AuxK loss may use to explain the residual; None means ``d_in // 2``
            (Gao et al. 2024). 0 disables AuxK.
        aux_k_coefficient: weight of the AuxK loss (1/32 in Gao et al.).
        dead_tokens: a latent that has not fired for this many training tokens is dead.
        normalize_activations: ``none`` or ``expected_average_only_in`` (scale inputs and
            targets so that ``E ||x||^2 = d``; folded into the weights when saved).
        group_sizes: Matryoshka nested groups, summing to ``d_sae``; None gives doubling groups.
        threshold_lr: rate of the running estimate of the BatchTopK inference threshold.
        hook_name: module whose output is the input (metadata for loaders and reports).
        hook_name_out: module whose output is the target of a transcoder.
        model_name: model the activations come from.
        dtype: parameter dtype name.
    """

    architecture: str = "topk"
    d_in: int = 512
    d_sae: int = 4096
    d_out: int | None = None
    transcoder: bool = False
    k: int = 32
    l1_coefficient: float = 5.0
    l0_coefficient: float = 1.0
    jumprelu_init_threshold: float = 0.001
    jumprelu_bandwidth: float = 0.001
    aux_k: int | None = None
    aux_k_coefficient: float = 1 / 32
    dead_tokens: int = 10_000_000
    normalize_activations: str = "none"
    group_sizes: list[int] | None = None
    threshold_lr: float = 0.01
    hook_name: str = ""
    hook_name_out: str = ""
    model_name: str = ""
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.d_out is None:
            self.d_out = self.d_in
        for name in ("d_in", "d_sae", "d_out", "k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sae.{name} must be >= 1, got {getattr(self, name)}")
        if self.k > self.d_sae:
            raise ConfigError(f"sae.k={self.k} is larger than sae.d_sae={self.d_sae}: lower k or raise d_sae")
        if self.d_out != self.d_in and not self.transcoder:
            raise ConfigError(f"sae.d_out={self.d_out} differs from d_in={self.d_in}: set transcoder: true "
                              f"or drop d_out")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ConfigError(f"sae.normalize_activations must be one of {NORMALIZATIONS}, "
                              f"got {self.normalize_activations!r}")
        if self.aux_k is not None and self.aux_k < 0:
            raise ConfigError(f"sae.aux_k must be >= 0 or null, got {self.aux_k}")
        if self.dead_tokens < 1:
            raise ConfigError(f"sae.dead_tokens must be >= 1, got {self.dead_tokens}")
        if self.group_sizes is not None and (any(g < 1 for g in self.group_sizes)
                                             or sum(self.group_sizes) != self.d_sae):
            raise ConfigError(f"sae.group_sizes {self.group_sizes} must be positive and sum to "
                              f"d_sae={self.d_sae} (they sum to {sum(self.group_sizes)})")

    @property
    def apply_b_dec_to_input(self) -> bool:
        """An SAE centres its input with the decoder bias; a transcoder cannot (other site)."""
        return not self.transcoder

    @property
    def resolved_aux_k(self) -> int:
        """The AuxK budget: ``aux_k``, or ``d_in // 2``, never more than ``d_sae``."""
        aux = self.d_in // 2 if self.aux_k is None else self.aux_k
        return min(aux, self.d_sae)

    def matryoshka_groups(self) -> list[int]:
        """Group sizes: the configured ones, or doubling groups (1/16, 1/16, 1/8, 1/4, 1/2)."""
        if self.group_sizes is not None:
            return list(self.group_sizes)
        sizes, rest = [], self.d_sae
        while rest > max(self.d_sae // 16, self.k) and len(sizes) < 4:
            sizes.append(rest // 2)
            rest -= rest // 2
        return [rest, *reversed(sizes)] if sizes else [self.d_sae]

    def to_dict(self) -> dict:
        return asdict(self)
