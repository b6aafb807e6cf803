"""An audit of two existing models: what did this finetune, edit, unlearning or quantisation do?

One YAML names the base and the intervention (Hub names, directories, or the base plus a peft
adapter, each with its own dtype, quantisation, revision and tokenizer), the prompt bank, the
decoding mode and the assistant. `render_audit` turns it into the ordinary stage configs
(decoding or active sampling, discovery, validation with SAFFRON) and a `PipelineConfig` over
them, so an audit runs, resumes and reports exactly like the quickstart pipeline, without its
toy-world base model and finetune. Ground truths are optional: given, the validation stage also
scores recovery; absent, the report lists what was found and nothing is scored.

The stage configs are written under ``<output_dir>/configs/`` so that any stage can be rerun
alone with ``difflens predict|discover|test --config`` and the user sees every setting used.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

from difflens.errors import ConfigError
from difflens.models import ModelSpec
from difflens.pipeline import DECODING_MODES, PipelineConfig, PipelineStage

# the keys of `PromptDataModule` that choose prompts (the rest are sampling and batching)
PROMPT_KEYS = ("prefixes", "free", "toyworld", "files", "samples_per_prompt")
SAMPLING_KEYS = ("max_new_tokens", "temperature", "top_p")
VALIDATE_MODEL_KEYS = ("test", "positive_threshold", "generative", "n_generated")


@dataclass
class AuditConfig:
    """An audit of ``intervention`` against ``base``.

    Attributes:
        output_dir: the run directory; every stage writes beneath it and ``report.md`` goes in it.
        base: the base model (`ModelSpec` fields: ``name_or_path``, ``adapter``, ``dtype``,
            ``quantization``, ``revision``, ``tokenizer``, ``trust_remote_code``).
        intervention: the intervention model, same fields; a LoRA is the base's
            ``name_or_path`` with ``adapter``.
        decoding: ``active`` (rounds aimed where the models differ) or ``exhaustive``.
        prompts: the prompt bank, `PromptDataModule` settings: ``prefixes`` (topic x instruction
            prompts of this project), ``free`` (free generation from BOS), ``toyworld``,
            ``files`` (your own prompt files: persona JSONL, inventory/jailbreak CSV, one per
            line), ``samples_per_prompt``. With active sampling these are the seed round.
        sampling: ``max_new_tokens``, ``temperature``, ``top_p`` of every text.
        trainer: Lightning Trainer settings for the decoding and validation stages
            (``accelerator``, ``devices``, ``strategy``, ...).
        max_rows: rows each model decodes at once (continuous batching; memory-bound on a GPU).
        batch_size: prompts per predict step and resume point (several times ``max_rows``).
        num_threads: torch CPU threads (null: torch's default).
        active: `ActiveSamplingConfig` settings (budget, round size, clusters, ...).
        discover: `DiscoveryConfig` settings other than its texts and output directory.
        validate: ``n_per_model``, ``alpha`` (SAFFRON), ``test``, ``positive_threshold``,
            ``batch_size`` (texts per judge call), ``pool_sources`` (default: every untargeted
            prompt source of ``prompts``).
        assistant: `difflens.assistants.build_assistant` arguments for the proposer, the judge and
            active sampling's paraphrases (``{backend: offline}``, an OpenAI-compatible endpoint,
            or a local model).
        ground_truths: a ``ground_truths.json`` to score recovery against, if you have one.
        matcher: how validated hypotheses are matched to ground truths (``toyworld`` or an
            assistant-based matcher; see `GroundTruthRecoveryCallback`).
        seed: the run seed (prompt seeds, splits, judging order).
    """

    output_dir: str
    base: ModelSpec
    intervention: ModelSpec
    decoding: str = "active"
    prompts: dict = field(default_factory=lambda: {"prefixes": 200, "free": 100})
    sampling: dict = field(default_factory=lambda: {"max_new_tokens": 64, "temperature": 1.0, "top_p": 1.0})
    trainer: dict = field(default_factory=lambda: {"accelerator": "auto", "devices": 1})
    max_rows: int = 64
    batch_size: int = 256
    num_threads: int | None = None
    active: dict = field(default_factory=dict)
    discover: dict = field(default_factory=dict)
    validate: dict = field(default_factory=dict)
    assistant: dict = field(default_factory=lambda: {"backend": "offline"})
    ground_truths: str | None = None
    matcher: str = "toyworld"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.decoding not in DECODING_MODES:
            raise ConfigError(f"decoding must be one of {DECODING_MODES}, got {self.decoding!r}")
        bad = set(self.prompts) - set(PROMPT_KEYS)
        if bad:
            raise ConfigError(f"prompts: unknown key(s) {sorted(bad)}; known: {list(PROMPT_KEYS)}")
        if not any(self.prompts.get(k) for k in ("prefixes", "free", "toyworld", "files")):
            raise ConfigError("prompts needs at least one source: prefixes, free, toyworld or files")
        bad = set(self.sampling) - set(SAMPLING_KEYS)
        if bad:
            raise ConfigError(f"sampling: unknown key(s) {sorted(bad)}; known: {list(SAMPLING_KEYS)}")
        bad = set(self.discover) & {"texts", "output_dir"}
        if bad:
            raise ConfigError(f"discover: {sorted(bad)} are set by the audit (under output_dir); remove them")
        bad = set(self.validate) - {"n_per_model", "alpha", "batch_size", "pool_sources", *VALIDATE_MODEL_KEYS}
        if bad:
            raise ConfigError(f"validate: unknown key(s) {sorted(bad)}")
        if not isinstance(self.assistant, dict) or "backend" not in self.assistant:
            raise ConfigError("assistant must be a mapping with a 'backend' key, e.g. {backend: offline}")

    # ---- where things go -------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return str(Path(self.output_dir, *parts))

    def pool_sources(self) -> list[str]:
        """The prompt sources whose texts stand for each model as a whole (not targeted ones)."""
        if "pool_sources" in self.validate:
            return list(self.validate["pool_sources"])
        sources = [s for s in ("prefixes", "free", "toyworld") if self.prompts.get(s)]
        for spec in self.prompts.get("files") or []:
            sources.append(spec.get("name") or Path(spec["path"]).name)
        return sources


def _model_args(config: AuditConfig) -> dict:
    """`PairedDecoder` / `ActiveSampler` arguments for both sides."""
    return {"base": _decoded_spec(config.base), "intervention": _decoded_spec(config.intervention),
            "num_threads": config.num_threads, "max_rows": config.max_rows}


def _decoded_spec(spec: ModelSpec) -> dict:
    """``spec`` as a stage config's mapping, as the decoding and validation stages load it."""
    # an audit loads each model in its checkpoint's own dtype unless told otherwise (the
    # decoder's own default is float32)
    return {**spec.to_dict(), "dtype": spec.dtype or "auto"}


def _trainer(config: AuditConfig, version: str, callbacks: list[dict], log: bool = True) -> dict:
    trainer = {"enable_progress_bar": False, "enable_model_summary": False, **copy.deepcopy(config.trainer)}
    trainer["callbacks"] = callbacks
    trainer["logger"] = {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                         "init_args": {"save_dir": config.output_dir, "name": "tensorboard", "version": version}} \
        if log else False
    trainer["default_root_dir"] = config.path(version)
    return trainer


def decode_config(config: AuditConfig) -> dict:
    """The LightningCLI config of the decoding stage (`ActiveSampler` or `PairedDecoder`)."""
    mode = config.decoding
    data = {**copy.deepcopy(config.prompts), **config.sampling, "seed": config.seed, "batch_size": config.batch_size}
    model = _model_args(config)
    if mode == "active":
        model["active"] = {"seed": config.seed, "embedding_cache": config.path("embedding_cache"),
                           **copy.deepcopy(config.active)}
        model["assistant"] = copy.deepcopy(config.assistant)
    writer = {"class_path": "DecodedTextWriter", "init_args": {"output_dir": config.path(mode)}}
    return {"seed_everything": config.seed,
            "trainer": _trainer(config, mode, [writer]),
            "model": {"class_path": "ActiveSampler" if mode == "active" else "PairedDecoder", "init_args": model},
            "data": {"class_path": "ActivePromptDataModule" if mode == "active" else "PromptDataModule",
                     "init_args": data}}


def discover_config(config: AuditConfig) -> dict:
    """The ``difflens discover`` config."""
    return {"embedding_cache": config.path("embedding_cache"), "seed": config.seed,
            "assistant": copy.deepcopy(config.assistant), **copy.deepcopy(config.discover),
            "texts": config.path(config.decoding, "texts.jsonl"), "output_dir": config.path("discover")}


def validate_config(config: AuditConfig) -> dict:
    """The LightningCLI config of the validation stage (judge -> p-value -> SAFFRON)."""
    v = config.validate
    callbacks = [{"class_path": "SaffronCallback", "init_args": {"alpha": v.get("alpha", 0.05)}}]
    if config.ground_truths:
        callbacks.append({"class_path": "GroundTruthRecoveryCallback",
                          "init_args": {"ground_truths": config.ground_truths, "matcher": config.matcher}})
    model = {"assistant": copy.deepcopy(config.assistant), "test": "fisher", "positive_threshold": 0.75,
             **{k: v[k] for k in VALIDATE_MODEL_KEYS if k in v}}
    data = {"texts": config.path(config.decoding, "texts.jsonl"),
            "hypotheses": config.path("discover", "hypotheses.jsonl"), "out_dir": config.path("validate"),
            "n_per_model": v.get("n_per_model", 100), "batch_size": v.get("batch_size", 16),
            "exclude_proposal_texts": "all", "seed": config.seed, "pool_sources": config.pool_sources(),
            "base": _decoded_spec(config.base), "intervention": _decoded_spec(config.intervention)}
    return {"seed_everything": config.seed,
            "trainer": _trainer(config, "validate", callbacks),
            "model": {"class_path": "HypothesisValidator", "init_args": model},
            "data": {"class_path": "HypothesisValidationDataModule", "init_args": data}}


def render_audit(config: AuditConfig) -> tuple[dict[str, dict], PipelineConfig]:
    """The stage configs (``{file stem: config}``, to be written under ``<output_dir>/configs``)
    and the pipeline that runs them."""
    stage_dir = Path(config.output_dir, "configs")
    configs = {config.decoding: decode_config(config), "discover": discover_config(config),
               "validate": validate_config(config)}
    decode_dir = config.path(config.decoding)
    done_validate = "recovery.json" if config.ground_truths else "discoveries.md"
    stages = [
        PipelineStage(f"decode_{config.decoding}", ["predict", "--config", str(stage_dir / f"{config.decoding}.yaml")],
                      str(Path(decode_dir, "texts.jsonl"))),
        PipelineStage("discover", ["discover", "--config", str(stage_dir / "discover.yaml")],
                      config.path("discover", "hypotheses.jsonl")),
        PipelineStage("validate", ["test", "--config", str(stage_dir / "validate.yaml")],
                      config.path("validate", done_validate),
                      skip_when_empty=config.path("discover", "hypotheses.jsonl")),
    ]
    # both modes point at this audit's one decoding directory: the report reads decode_dir
    pipeline = PipelineConfig(stages=stages, decoding=config.decoding,
                              decode_dirs={mode: decode_dir for mode in DECODING_MODES},
                              report=config.path("report.md"), discover_dir=config.path("discover"),
                              validate_dir=config.path("validate"), ground_truths=config.ground_truths,
                              tensorboard=config.path("tensorboard"))
    return configs, pipeline


def describe(config: AuditConfig) -> dict:
    """The audit's models, for ``audit.json`` beside the report."""
    return {"base": asdict(config.base), "intervention": asdict(config.intervention), "decoding": config.decoding}
