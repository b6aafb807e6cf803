"""Toy-world texts and hypotheses written as the decoding and discovery stages would."""

from __future__ import annotations

from pathlib import Path

from difflens.records import DecodedText, Hypothesis, write_records
from difflens.toyworld import ToyWorld

# The "intervention" writes about the ocean and hedges far more often than the "base".
BASE_MIXTURE = {}
INTERVENTION_MIXTURE = {"topics": {"ocean": 10.0, **{t: 1.0 for t in ("forest", "chess", "cooking", "travel")}},
                        "styles": {"hedging": 0.95}}
TRUE_HYPOTHESES = ["Texts from the intervention model are about the ocean more often",
                   "Texts from the intervention model use hedging more often"]
FALSE_HYPOTHESES = ["Texts from the intervention model are about astronomy more often",
                    "Texts from the intervention model are about gardening more often",
                    "Texts from the intervention model use exclamation more often"]


def toy_texts(n_per_model: int, seed: int = 0, intervention_mixture=None) -> list[DecodedText]:
    """``n_per_model`` toy-world texts per model; the intervention's mixture is shifted."""
    mixture = INTERVENTION_MIXTURE if intervention_mixture is None else intervention_mixture
    out = []
    for model, mix, offset in (("base", BASE_MIXTURE, 0), ("intervention", mixture, 10**6)):
        for i, doc in enumerate(ToyWorld(seed=seed).documents(n_per_model, mix, start=offset)):
            out.append(DecodedText(f"{model}/p{i}/0", f"p{i}", model, i, "", doc.text, len(doc.text.split()),
                                   "toyworld"))
    return out


def toy_hypotheses(texts: list[DecodedText], statements: list[str], n_proposal: int = 5) -> list[Hypothesis]:
    """Hypotheses in the given order, each "proposed" from its own few texts of each model."""
    out = []
    for k, statement in enumerate(statements):
        shown = [f"{m}/p{k * n_proposal + j}/0" for m in ("base", "intervention") for j in range(n_proposal)]
        out.append(Hypothesis(f"h{k:04d}", k, statement, "intervention", [k], shown, 1.0))
    return out


def write_inputs(directory: Path, n_texts: int = 120, statements=None, seed: int = 0) -> tuple[Path, Path]:
    statements = statements or [TRUE_HYPOTHESES[0], FALSE_HYPOTHESES[0], TRUE_HYPOTHESES[1], FALSE_HYPOTHESES[1]]
    texts = toy_texts(n_texts, seed)
    directory.mkdir(parents=True, exist_ok=True)
    write_records(directory / "texts.jsonl", texts)
    write_records(directory / "hypotheses.jsonl", toy_hypotheses(texts, statements))
    return directory / "texts.jsonl", directory / "hypotheses.jsonl"


def paired_toy_texts(n_prompts: int, changed_every: int = 3, seed: int = 0) -> list[DecodedText]:
    """Same-prompt pairs as paired decoding writes them: both models continue prompt ``p{i}``
    with seed ``i``; the intervention's text is the base's except on every ``changed_every``-th
    prompt, where it writes about the ocean instead."""
    base_docs = ToyWorld(seed=seed).documents(n_prompts, {})
    ocean_docs = ToyWorld(seed=seed + 1).documents(n_prompts, {"topics": {"ocean": 1.0}})
    out = []
    for i, (doc, ocean) in enumerate(zip(base_docs, ocean_docs)):
        text = ocean.text if i % changed_every == 0 else doc.text
        for model, body in (("base", doc.text), ("intervention", text)):
            out.append(DecodedText(f"{model}/p{i}/0", f"p{i}", model, i, "", body, len(body.split()), "toyworld"))
    return out


def validate_toy_inputs(directory: Path, logger):
    """Validate `write_inputs`' texts and hypotheses (toy-world judge, 15 texts per model, SAFFRON
    at 0.05) with ``logger``; returns the `SaffronCallback`, whose ``rows`` are the results."""
    import pytorch_lightning as pl

    from callbacks import SaffronCallback
    from datamodules import HypothesisValidationDataModule
    from lightning_modules import HypothesisValidator
    from tests.judges import ToyWorldJudge

    texts, hypotheses = write_inputs(directory / "in")
    data = HypothesisValidationDataModule(str(texts), str(hypotheses), out_dir=str(directory / "out"), n_per_model=15)
    validator = HypothesisValidator(data=data)
    validator.judge = ToyWorldJudge()
    saffron = SaffronCallback(alpha=0.05)
    pl.Trainer(accelerator="cpu", logger=logger, enable_progress_bar=False, enable_model_summary=False,
               callbacks=[saffron]).test(validator, datamodule=data, verbose=False)
    return saffron
