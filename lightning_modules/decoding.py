"""Sample the base and the intervention model on the same prompts with the same seeds."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from difflens.decoding import sample_batch
from difflens.errors import ConfigError
from difflens.likelihood import continuation_logprobs, sequence_logprobs
from difflens.models import ModelSpec, check_quantization
from difflens.records import DecodedText


class PairedDecoder(pl.LightningModule):
    """The predict loop of behavioural diffing: each batch of prompts is continued by both models.

    Both models see the same prompts with the same per-prompt seeds; each model uses its own
    tokenizer, so two models with different vocabularies are compared on the same text. The
    sampling settings come with the batch from the datamodule (`PromptDataModule`), so they
    are not hyperparameters of this module. Models are loaded on the first batch: a rerun
    whose texts are all written loads nothing.

    Args:
        base_model: the base model's Hub name or directory.
        intervention_model: the intervention model's Hub name or directory (a merged finetune,
            or the base again with ``intervention_adapter`` or ``intervention_quantization``).
        base_adapter: a peft adapter directory applied to the base model.
        intervention_adapter: a peft adapter directory applied to the intervention model.
        base_quantization: ``"4bit"``, ``"8bit"`` or null for the base model.
        intervention_quantization: ``"4bit"``, ``"8bit"`` or null for the intervention model.
        dtype: weights dtype (``float32``, ``bfloat16``, ``auto``) of both models, unless
            ``base_dtype`` / ``intervention_dtype`` says otherwise.
        num_threads: torch CPU threads (null = leave torch's default); on a loaded machine one
            thread can beat two for small models.
        max_rows: prompts each model decodes at once. A batch from the datamodule larger than
            this is decoded by continuous batching (a row whose text ends takes the next
            prompt), which is where batching pays most: give the datamodule a ``batch_size``
            of several times ``max_rows``.
        score_texts: score each text under both models (``log_ratio``); set by `ActiveSampler`.
        base_dtype: the base model's dtype (null: ``dtype``).
        intervention_dtype: the intervention model's dtype (null: ``dtype``).
        base_revision: Hub branch, tag or commit of the base model (null: the default branch).
        intervention_revision: Hub branch, tag or commit of the intervention model.
        base_tokenizer: the base model's tokenizer, when not the one beside its weights.
        intervention_tokenizer: the intervention model's tokenizer, when not the one beside its weights.
    """

    def __init__(
        self,
        base_model: str,
        intervention_model: str,
        base_adapter: str | None = None,
        intervention_adapter: str | None = None,
        base_quantization: str | None = None,
        intervention_quantization: str | None = None,
        dtype: str = "float32",
        num_threads: int | None = None,
        max_rows: int = 64,
        score_texts: bool = False,
        base_dtype: str | None = None,
        intervention_dtype: str | None = None,
        base_revision: str | None = None,
        intervention_revision: str | None = None,
        base_tokenizer: str | None = None,
        intervention_tokenizer: str | None = None,
    ):
        super().__init__()
        check_quantization(base_quantization, "model.base_quantization")
        check_quantization(intervention_quantization, "model.intervention_quantization")
        if num_threads is not None and num_threads < 1:
            raise ConfigError(f"model.num_threads must be >= 1 or null, got {num_threads}")
        if max_rows < 1:
            raise ConfigError(f"model.max_rows must be >= 1, got {max_rows}")
        self.save_hyperparameters()
        self.model_specs()  # a bad dtype fails now, before any weights load
        self.score_texts = score_texts  # not via hparams: a subclass sets it from its own settings
        self._same_vocabulary: bool | None = None  # known once the models are loaded
        self._lms: dict[str, tuple[torch.nn.Module, object]] = {}  # not submodules: never checkpointed

    def model_specs(self) -> dict[str, ModelSpec]:
        """How each side is loaded (validation loads its fresh samples' models the same way)."""
        hp = self.hparams
        return {side: ModelSpec(hp[f"{side}_model"], adapter=hp[f"{side}_adapter"],
                                dtype=hp[f"{side}_dtype"] or hp.dtype, quantization=hp[f"{side}_quantization"],
                                revision=hp[f"{side}_revision"], tokenizer=hp[f"{side}_tokenizer"])
                for side in ("base", "intervention")}

    def model_names(self) -> dict[str, str]:
        """What each side is, for the run's metadata (``decode_meta.json``): a rerun with other
        models is refused, and validation loads the same models for its fresh samples."""
        hp = self.hparams
        names = {"base": hp.base_model, "base_adapter": hp.base_adapter, "base_quantization": hp.base_quantization,
                 "intervention": hp.intervention_model, "intervention_adapter": hp.intervention_adapter,
                 "intervention_quantization": hp.intervention_quantization}
        # only when set, so that runs decoded before these settings existed still resume
        for side, spec in self.model_specs().items():
            for key in ("revision", "tokenizer"):
                if getattr(spec, key) is not None:
                    names[f"{side}_{key}"] = getattr(spec, key)
            if hp[f"{side}_dtype"] is not None:
                names[f"{side}_dtype"] = spec.dtype
        return names

    def language_models(self) -> dict[str, tuple[torch.nn.Module, object]]:
        """``{"base": (model, tokenizer), "intervention": (model, tokenizer)}``, loaded on first use."""
        if not self._lms:
            if self.hparams.num_threads is not None:
                torch.set_num_threads(self.hparams.num_threads)
            self._lms = {side: spec.load(self.device) for side, spec in self.model_specs().items()}
        return self._lms

    def predict_step(self, batch, batch_idx: int) -> list[DecodedText]:
        jobs, sampling = batch["jobs"], batch["sampling"]
        records, sampled = [], []  # sampled[i]: how records[i] was sampled
        for side, (model, tokenizer) in self.language_models().items():
            continuations = sample_batch(model, tokenizer, [j.prompt for j in jobs], [j.seed for j in jobs], sampling,
                                         max_rows=self.hparams.max_rows, logprobs=self.score_texts)
            records += [DecodedText(text_id=j.text_id(side), prompt_id=j.prompt_id, model=side, seed=j.seed,
                                    prompt=j.prompt, text=c.text, n_tokens=c.n_tokens, source=j.source)
                        for j, c in zip(jobs, continuations)]
            sampled += continuations
        if self.score_texts:
            self.score(records, sampled)
        return records

    def score(self, records: list[DecodedText], continuations: list) -> None:
        """Set each record's ``log_ratio`` (``records[i]`` was sampled as ``continuations[i]``).

        With one vocabulary on both sides, the model that wrote a text scored it while sampling
        and the other model scores the same token ids: two teacher-forced passes per prompt.
        With two vocabularies each model scores every text on its own tokenization of it.
        """
        lms = self.language_models()
        if self._same_vocabulary is None:
            self._same_vocabulary = lms["base"][1].get_vocab() == lms["intervention"][1].get_vocab()
        if not self._same_vocabulary:
            logprobs = {side: continuation_logprobs(model, tokenizer, [r.prompt for r in records],
                                                    [r.text for r in records])
                        for side, (model, tokenizer) in lms.items()}
            for record, base, intervention in zip(records, logprobs["base"], logprobs["intervention"]):
                record.log_ratio = intervention - base
            return
        for side, other in (("base", "intervention"), ("intervention", "base")):
            mine = [(r, c) for r, c in zip(records, continuations) if r.model == side]
            theirs = sequence_logprobs(lms[other][0], [c.prompt_ids for _, c in mine], [c.text_ids for _, c in mine])
            for (record, c), logprob in zip(mine, theirs):
                own = c.logprob
                record.log_ratio = own - logprob if side == "intervention" else logprob - own
