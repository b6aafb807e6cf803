"""The configuration shared by every sparse-dictionary architecture: `SAESpec`, what a config
file asks for, and `SAEConfig`, the complete description of a built dictionary."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from difflens.errors import ConfigError

NORMALIZATIONS = ("none", "expected_average_only_in")
TOPK_FAMILY = ("topk", "batchtopk", "matryoshka")


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


# The settings only some architectures read, as SAELens's per-architecture configs hold them
# (StandardSAE: l1; JumpReLU: l0, threshold, bandwidth; TopK: k, AuxK; BatchTopK: the threshold
# rate; Matryoshka: the widths). A value other than the default for an architecture that
# ignores it is a config mistake, most often an architecture switched without its knobs.
ARCHITECTURE_SETTINGS: dict[str, tuple[str, ...]] = {
    "k": TOPK_FAMILY,
    "aux_k": TOPK_FAMILY,
    "aux_k_coefficient": TOPK_FAMILY,
    "threshold_lr": ("batchtopk", "matryoshka"),
    "group_sizes": ("matryoshka",),
    "l1_coefficient": ("relu_l1",),
    "l0_coefficient": ("jumprelu",),
    "jumprelu_init_threshold": ("jumprelu",),
    "jumprelu_bandwidth": ("jumprelu",),
}


@dataclass(frozen=True)
class SAESpec:
    """The dictionary a config file asks for: architecture, size, sparsity and loss settings.

    A separate class from `SAEConfig`, not `SAEConfig` with optional widths, because the two
    describe different moments: this is written before any activation is seen, so its size
    may be a multiple of a ``d_in`` nobody knows yet, and it holds nothing the data decides
    (widths, transcoder or not, hook and model names); `SAEConfig` describes a built
    dictionary, every field known, and is what ``cfg.json`` saves. `to_config` joins the two.
    Errors name the key under ``model.sae``, where `SparseDictionaryModule` takes this.

    Attributes:
        architecture: ``relu_l1``, ``topk``, ``batchtopk``, ``matryoshka`` or ``jumprelu``.
        d_sae: number of latents; null means ``expansion_factor * d_in``.
        expansion_factor: latents per input dimension when ``d_sae`` is null.
        k: active latents per row (``topk``) or on average per row (``batchtopk``,
            ``matryoshka``).
        aux_k: AuxK latents explaining the residual (TopK family); null means ``d_in // 2``,
            0 disables AuxK.
        aux_k_coefficient: AuxK loss weight (TopK family; 1/32 in Gao et al. 2024).
        threshold_lr: rate of the running inference-threshold estimate (``batchtopk``,
            ``matryoshka``).
        group_sizes: nested group sizes, summing to the latents (``matryoshka``); null gives
            doubling groups.
        l1_coefficient: L1 penalty weight (``relu_l1``).
        l0_coefficient: L0 penalty weight (``jumprelu``).
        jumprelu_init_threshold: initial threshold of every latent (``jumprelu``).
        jumprelu_bandwidth: width of the straight-through kernel (``jumprelu``); small next to
            typical activations of normalised inputs.
        dead_tokens: a latent that has not fired for this many training tokens counts as dead.
        normalize_activations: ``expected_average_only_in`` scales inputs and targets so that
            ``E ||x||^2 = d`` (folded into the saved weights), which lets one learning rate and
            one threshold serve every model and layer; ``none`` trains on raw activations.
    """

    architecture: str = "topk"
    d_sae: int | None = None
    expansion_factor: int = 8
    k: int = 32
    aux_k: int | None = None
    aux_k_coefficient: float = 1 / 32
    threshold_lr: float = 0.01
    group_sizes: list[int] | None = None
    l1_coefficient: float = 5.0
    l0_coefficient: float = 1.0
    jumprelu_init_threshold: float = 0.001
    jumprelu_bandwidth: float = 0.001
    dead_tokens: int = 10_000_000
    normalize_activations: str = "expected_average_only_in"

    def __post_init__(self) -> None:
        from difflens.sae.registry import sae_class

        sae_class(self.architecture)  # unknown names fail at config time, with suggestions
        for name, low in (("d_sae", 1), ("expansion_factor", 1), ("k", 1), ("aux_k", 0), ("dead_tokens", 1)):
            value = getattr(self, name)
            if value is not None and value < low:
                raise ConfigError(f"model.sae.{name} must be >= {low}, got {value}")
        for name in ("l1_coefficient", "l0_coefficient", "aux_k_coefficient", "jumprelu_init_threshold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"model.sae.{name} must be a finite number >= 0, got {value}")
        for name in ("jumprelu_bandwidth", "threshold_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"model.sae.{name} must be > 0, got {value}")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ConfigError(f"model.sae.normalize_activations must be one of {NORMALIZATIONS}, "
                              f"got {self.normalize_activations!r}")
        defaults = {f.name: f.default for f in fields(self)}
        for name, architectures in ARCHITECTURE_SETTINGS.items():
            if self.architecture not in architectures and getattr(self, name) != defaults[name]:
                raise ConfigError(f"model.sae.{name} is a setting of {', '.join(architectures)}, which "
                                  f"{self.architecture} does not read: drop it or change model.sae.architecture")
        if self.d_sae is not None:
            self._check_size(self.d_sae, f"model.sae.d_sae={self.d_sae}")

    def _check_size(self, d_sae: int, size: str) -> None:
        """Raise if ``k`` or ``group_sizes`` do not fit ``d_sae`` latents (``size`` says where it came from)."""
        if self.architecture in TOPK_FAMILY and self.k > d_sae:
            raise ConfigError(f"model.sae.k={self.k} is larger than {size}: lower k or raise the size")
        if self.group_sizes is not None and (any(g < 1 for g in self.group_sizes) or sum(self.group_sizes) != d_sae):
            raise ConfigError(f"model.sae.group_sizes {self.group_sizes} must be positive and sum to {size} "
                              f"(they sum to {sum(self.group_sizes)})")

    def latents(self, d_in: int) -> int:
        """``d_sae``, or ``expansion_factor * d_in`` when it is null."""
        return self.d_sae or self.expansion_factor * d_in

    def to_config(self, d_in: int, d_out: int | None = None, *, hook_name: str = "", hook_name_out: str = "",
                  model_name: str = "") -> SAEConfig:
        """The complete `SAEConfig` for activations of width ``d_in`` (and targets ``d_out``).

        Args:
            d_in: width of the input activations.
            d_out: width of the targets; given only for a transcoder.
            hook_name: module whose output is the input.
            hook_name_out: module whose output is the target; non-empty makes a transcoder.
            model_name: model the activations come from.

        Raises:
            ConfigError: ``k`` or ``group_sizes`` do not fit ``expansion_factor * d_in``.
        """
        d_sae = self.latents(d_in)
        if self.d_sae is None:
            self._check_size(d_sae, f"model.sae.expansion_factor * d_in = {self.expansion_factor} * {d_in} = {d_sae}")
        transcoder = bool(hook_name_out)
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("d_sae", "expansion_factor")}
        if self.architecture not in TOPK_FAMILY:
            # this architecture does not read k, but `SAEConfig` checks k <= d_sae for every one
            settings["k"] = min(self.k, d_sae)
        return SAEConfig(d_in=d_in, d_sae=d_sae, d_out=d_out if transcoder else None, transcoder=transcoder,
                         hook_name=hook_name, hook_name_out=hook_name_out, model_name=model_name, **settings)
