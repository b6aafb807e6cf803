"""Fresh samples for validation: free generations when the held-out pool runs out, and
continuations of a conditional hypothesis's prompts.

Texts are sampled by the decoding stage's own sampler
(`difflens.decoding.sample_batch`) with the sampling settings of the texts they stand in for:
a fresh text must come from the same distribution as the pool texts it joins, or a shorter or
cooler sample on one side would by itself change how often a property shows up. Each text has
its own seed, derived from the run seed, the model name and its index (independent between the
two models, unlike the paired seeds of decoding), so a rerun regenerates the same texts. For the
paired test, `sample_fresh_pairs` (and ``paired=True`` for conditions) gives both models the same
seed per index, as decoding does, so the two texts of an index form a same-prompt pair.
"""

from __future__ import annotations

from dataclasses import replace

from difflens.decoding import SamplingConfig, prompt_seed, sample_batch
from difflens.records import DecodedText


def _continuations(model, tokenizer, model_name: str, tag: str, prompts: list[str], seed: int, start: int,
                   sampling: SamplingConfig | None, max_rows: int, source: str,
                   paired: bool = False) -> list[DecodedText]:
    """Texts ``f"{model_name}/{tag}/{seed}-{i}"`` continuing ``prompts[k]`` for i = start + k, each
    with its own seed from the run seed, ``tag``, i and (unless ``paired``) the model name."""
    indices = range(start, start + len(prompts))
    stream = tag if paired else f"{model_name}/{tag}"
    seeds = [prompt_seed(seed, stream, i) for i in indices]
    continuations = sample_batch(model, tokenizer, prompts, seeds, sampling or SamplingConfig(), max_rows=max_rows)
    return [DecodedText(text_id=f"{model_name}/{tag}/{seed}-{i}", prompt_id=f"{tag}/{i}", model=model_name, seed=s,
                        prompt=p, text=c.text, n_tokens=c.n_tokens, source=source)
            for i, p, s, c in zip(indices, prompts, seeds, continuations)]


def sample_fresh_texts(model, tokenizer, model_name: str, n: int, seed: int, start: int = 0,
                       sampling: SamplingConfig | None = None, max_rows: int = 64) -> list[DecodedText]:
    """``n`` free-generation texts from ``model`` with ids ``f"{model_name}/fresh/{seed}-{i}"``, i from ``start``.

    Args:
        model: the causal LM, in eval mode.
        tokenizer: its tokenizer.
        model_name: ``base`` or ``intervention`` (part of the ids and the seeds).
        n: texts to sample.
        seed: the run seed.
        start: index of the first text (a rerun that needs more continues the numbering).
        sampling: max new tokens, temperature and top-p: those of the texts the samples join
            (default `SamplingConfig()`: 64 tokens, temperature 1, no truncation).
        max_rows: rows decoded at once.
    """
    return _continuations(model, tokenizer, model_name, "fresh", [""] * n, seed, start, sampling, max_rows,
                          "validation-fresh")


def sample_fresh_pairs(models: dict, n: int, seed: int, start: int = 0, sampling: SamplingConfig | None = None,
                       max_rows: int = 64) -> list[DecodedText]:
    """``n`` same-prompt pairs: both models generate freely from BOS with the same seed per
    index, ids ``f"{model}/fresh-pair/{seed}-{i}"`` (prompt id ``fresh-pair/{i}``), i from ``start``.

    Args:
        models: ``{"base": (model, tokenizer), "intervention": (model, tokenizer)}``.
        n: pairs to sample.
        seed: the run seed.
        start: index of the first pair (a rerun that needs more continues the numbering).
        sampling: the settings of the texts the pairs join (see `sample_fresh_texts`).
        max_rows: rows decoded at once.

    Returns:
        The base texts, then the intervention texts.
    """
    return [text for name, (model, tokenizer) in models.items()
            for text in _continuations(model, tokenizer, name, "fresh-pair", [""] * n, seed, start, sampling,
                                       max_rows, "validation-fresh-pair", paired=True)]


def sample_null_pairs(model, tokenizer, n: int, seed: int, start: int = 0, sampling: SamplingConfig | None = None,
                      max_rows: int = 64, tag: str = "null-pair") -> list[DecodedText]:
    """``n`` A/A pairs: one model generates freely from BOS twice per index, as ``base`` and as
    ``intervention``, with a seed per side, so the two texts of a pair are exchangeable draws
    (with one seed they would be the same text). Ids ``f"{side}/{tag}/{seed}-{i}"``; both
    texts of index i carry ``pair_id`` ``f"{tag}/{seed}-{i}"``.

    Args:
        model: the causal LM, in eval mode.
        tokenizer: its tokenizer.
        n: pairs to sample.
        seed: the run seed.
        start: index of the first pair (a rerun that needs more continues the numbering).
        sampling: the settings of the texts the pairs join (see `sample_fresh_texts`).
        max_rows: rows decoded at once.
        tag: names the draw in the ids, so pilot and validation pairs never share one.

    Returns:
        The base texts, then the intervention texts.
    """
    return [replace(text, pair_id=f"{tag}/{seed}-{i}")
            for side in ("base", "intervention")
            for i, text in enumerate(_continuations(model, tokenizer, side, tag, [""] * n, seed, start, sampling,
                                                    max_rows, "validation-null-pair"), start)]


def sample_condition_texts(model, tokenizer, model_name: str, hypothesis_id: str, condition: list[str], n: int,
                           seed: int, start: int = 0, sampling: SamplingConfig | None = None,
                           max_rows: int = 64, paired: bool = False) -> list[DecodedText]:
    """``n`` continuations of a conditional hypothesis's prompts (cycled, from prompt ``start % len``),
    with ids ``f"{model_name}/condition/{hypothesis_id}/{seed}-{i}"``.

    Both models continue the same prompts, each text with its own seed (independent between the
    models and the hypotheses), so the two samples are independent draws from each model's
    distribution on the condition: what the two-proportion test of the judgements assumes.
    With ``paired`` the seed of index i is the same for both models, so base and intervention
    texts of one index form a same-prompt pair for the paired test.
    """
    prompts = [condition[i % len(condition)] for i in range(start, start + n)]
    return _continuations(model, tokenizer, model_name, f"condition/{hypothesis_id}", prompts, seed, start, sampling,
                          max_rows, "validation-condition", paired=paired)
