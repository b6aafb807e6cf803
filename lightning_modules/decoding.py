"""Sample the base and the intervention model on the same prompts with the same seeds."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from difflens.decoding import sample_batch
from difflens.errors import ConfigError
from difflens.likelihood import continuation_logprobs, sequence_logprobs
from difflens.models import ModelSpec
from difflens.records import DecodedText

# what a spec without a dtype decodes in (`PairedDecoder.model_specs`)
DECODING_DTYPE = "float32"


class PairedDecoder(pl.LightningModule):
    """The predict loop of behavioural diffing: each batch of prompts is continued by both models.

    Both models see the same prompts with the same per-prompt seeds; each model uses its own
    tokenizer, so two models with different vocabularies are compared on the same text. The
    sampling settings come with the batch from the datamodule (`PromptDataModule`), so they
    are not hyperparameters of this module. Models are loaded on the first batch: a rerun
    whose texts are all written loads nothing.

    Args:
        base: the base model: ``name_or_path`` (Hub id or directory), and optionally
            ``adapter``, ``dtype``, ``quantization``, ``revision``, ``tokenizer``,
            ``trust_remote_code`` (`difflens.models.ModelSpec`).
        intervention: the intervention model, the same fields (a merged finetune, or the base's
            ``name_or_path`` with an ``adapter`` or a ``quantization``).
        num_threads: torch CPU threads (null = leave torch's default); on a loaded machine one
            thread can beat two for small models.
        max_rows: prompts each model decodes at once. A batch from the datamodule larger than
            this is decoded by continuous batching (a row whose text ends takes the next
            prompt), which is where batching pays most: give the datamodule a ``batch_size``
            of several times ``max_rows``.
        score_texts: score each text under both models (``log_ratio``); set by `ActiveSampler`.
    """

    def __init__(
        self,
        base: ModelSpec,
        intervention: ModelSpec,
        num_threads: int | None = None,
        max_rows: int = 64,
        score_texts: bool = False,
    ):
        super().__init__()
        # a bad value fails now, before any weights load, under the key that holds it
        self.specs = {side: ModelSpec.at(spec, f"model.{side}")
                      for side, spec in (("base", base), ("intervention", intervention))}
        if num_threads is not None and num_threads < 1:
            raise ConfigError(f"model.num_threads must be >= 1 or null, got {num_threads}")
        if max_rows < 1:
            raise ConfigError(f"model.max_rows must be >= 1, got {max_rows}")
        self.save_hyperparameters()
        # plain mappings, as in the YAML, so that loggers write them whoever built the module
        self.hparams.update({side: spec.to_dict() for side, spec in self.specs.items()})
        self.score_texts = score_texts  # not via hparams: a subclass sets it from its own settings
        self._same_vocabulary: bool | None = None  # known once the models are loaded
        self._lms: dict[str, tuple[torch.nn.Module, object]] = {}  # not submodules: never checkpointed

    def model_specs(self) -> dict[str, ModelSpec]:
        """How each side is loaded (validation loads its fresh samples' models the same way).

        A spec without a dtype decodes in float32, so that texts sampled from a checkpoint do not
        depend on the dtype it happened to be saved in.
        """
        return {side: spec.with_default_dtype(DECODING_DTYPE) for side, spec in self.specs.items()}

    def model_names(self) -> dict[str, str]:
        """What each side is, for the run's metadata (``decode_meta.json``): a rerun with other
        models is refused, and validation loads the same models for its fresh samples."""
        names = {}
        for side, spec in self.specs.items():
            names.update({side: spec.name_or_path, f"{side}_adapter": spec.adapter,
                          f"{side}_quantization": spec.quantization})
        # only when set, so that the metadata of runs that never set them stays the same
        for side, spec in self.specs.items():
            for key in ("revision", "tokenizer", "dtype"):
                if getattr(spec, key) is not None:
                    names[f"{side}_{key}"] = getattr(spec, key)
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
