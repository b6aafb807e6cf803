"""``difflens validate-null``: the A/A check of the validation pipeline under the global null.

For each seed, two independent sets of samples are drawn from the *same* model and labelled
"base" and "intervention"; the hypotheses are then validated exactly as in ``difflens test``
(`HypothesisValidator`, held-out plan, SAFFRON). Nothing is different, so every discovery is
false: the share of seeds with any discovery estimates the procedure's false-discovery
probability under the global null (SAFFRON keeps it at most alpha). Each seed's run lives
in ``OUT/seed<k>/``; finished seeds are skipped, so an interrupted check resumes.

The paired test judges A/A pairs: the model draws twice per index with a seed per side
(`sample_null_pairs`); with one seed, as decoding pairs two models, the texts would be equal
and the test could never reject. ``n_per_model: auto`` plans each hypothesis's n from a pilot
of its own A/A texts, which stand in for discovery's proposal split and are never judged for
validation, as in ``difflens test``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "A/A check: validate hypotheses on base vs base (different seeds); count seeds with any discovery"


BUILTIN = {"model": "runs/quickstart/base_lm/model", "hypotheses": "runs/quickstart/discover/hypotheses.jsonl",
           "seeds": 20, "n_per_model": 20, "alpha": 0.05, "method": "saffron", "test": "binomial",
           "positive_threshold": 0.5,
           "assistant": "offline", "max_new_tokens": 48, "out": "runs/quickstart/validate_null", "auto_n": None}


def n_per_model_flag(value: str) -> int | str:
    """``--n-per-model``: a number, or ``auto``."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {value!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="a `difflens test` validation config (e.g. configs/quickstart/validate.yaml): its base "
                             "model, hypotheses, n_per_model, test, judge and SAFFRON settings become the defaults")
    parser.add_argument("--model", help=f"the model sampled for both sides (default {BUILTIN['model']})")
    parser.add_argument("--hypotheses", help="hypotheses to validate; their proposal text ids are ignored")
    parser.add_argument("--seeds", type=int, help="number of A/A runs (default 20)")
    parser.add_argument("--n-per-model", type=n_per_model_flag,
                        help="held-out texts (pairs, for the paired test) per side per hypothesis, or auto: "
                             "from a pilot, with the config's data.auto_n (default 20)")
    parser.add_argument("--alpha", type=float, help="FDR level (default 0.05)")
    parser.add_argument("--method", help="saffron, addis or lord++ (default saffron)")
    parser.add_argument("--test", help="binomial, mann_whitney, fisher or paired (default binomial)")
    parser.add_argument("--positive-threshold", type=float,
                        help="score above which the judge flags the property, for fisher and paired (default 0.5)")
    parser.add_argument("--assistant", help="judge: an assistant backend name (default offline), or the import "
                                            "path of an Assistant subclass")
    parser.add_argument("--max-new-tokens", type=int, help="length of the samples (default 48)")
    parser.add_argument("--out", help=f"output directory (default {BUILTIN['out']})")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a busy machine 1 can be much faster for small models)")


def settings_from_config(path: str) -> dict:
    """The A/A-relevant settings of a validation config (`HypothesisValidator` + data + SAFFRON)."""
    import yaml

    from difflens.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
    except OSError as err:
        raise ConfigError(f"--config {path!r}: {err.strerror}") from None
    model = (config.get("model") or {}).get("init_args") or {}
    data = (config.get("data") or {}).get("init_args") or {}
    out = {"model": (data.get("base") or {}).get("name_or_path"), "hypotheses": data.get("hypotheses"),
           "n_per_model": data.get("n_per_model"), "auto_n": data.get("auto_n"), "test": model.get("test"),
           "positive_threshold": model.get("positive_threshold")}
    spec = model.get("assistant") or {}
    out["assistant"] = spec.get("class_path") or spec.get("backend")
    for callback in (config.get("trainer") or {}).get("callbacks") or []:
        if str(callback.get("class_path", "")).endswith("SaffronCallback"):
            init = callback.get("init_args") or {}
            out["alpha"], out["method"] = init.get("alpha"), init.get("method")
    return {k: v for k, v in out.items() if v is not None}


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Flags win over the config, the config over the built-in defaults."""
    from_config = settings_from_config(args.config) if args.config else {}
    for key, default in BUILTIN.items():
        if getattr(args, key, None) is None:
            setattr(args, key, from_config.get(key, default))
    return args


def judge_spec(assistant: str) -> dict:
    """``offline`` -> ``{backend: offline}``; ``pkg.mod.Class`` -> ``{class_path: ...}``."""
    return {"class_path": assistant} if "." in assistant else {"backend": assistant}


def null_datamodule(model, tokenizer):
    """`HypothesisValidationDataModule` whose fresh samples come from the one A/A model, loaded
    once: unpaired texts with a seed per side (as for two models), pairs from
    `sample_null_pairs`."""
    from datamodules import HypothesisValidationDataModule
    from difflens.validation.fresh import sample_null_pairs

    class NullValidationDataModule(HypothesisValidationDataModule):
        def _language_model(self, model_name: str):
            return model, tokenizer

        def _sample_fresh_pairs(self, need, existing):
            start = sum(1 for t in existing if t.model == "base")
            return sample_null_pairs(model, tokenizer, need, self.seed, start=start, sampling=self.fresh_sampling())

    return NullValidationDataModule


def first_texts(model, tokenizer, hypotheses, args, seed: int, auto_n):
    """The seed's texts file and hypotheses before validation: with auto n, a pilot of A/A pairs
    that every hypothesis lists as shown to its proposer (so the pilot reads them and validation
    never judges them); otherwise the texts a fixed n needs (more are drawn as the plan asks)."""
    from dataclasses import replace

    from difflens.decoding import SamplingConfig
    from difflens.validation.fresh import sample_fresh_texts, sample_null_pairs

    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens)
    if args.n_per_model == "auto":
        pilot = sample_null_pairs(model, tokenizer, auto_n.pilot_per_model, seed, sampling=sampling, tag="null-pilot")
        shown = [t.text_id for t in pilot]
        return pilot, [replace(h, proposal_text_ids=shown) for h in hypotheses]
    n = len(hypotheses) * args.n_per_model
    if args.test == "paired":
        return sample_null_pairs(model, tokenizer, n, seed, sampling=sampling, tag="null-pool"), hypotheses
    texts = [t for side, offset in (("base", 0), ("intervention", 1))
             for t in sample_fresh_texts(model, tokenizer, side, n, seed=2 * seed + offset, sampling=sampling)]
    return texts, hypotheses


def run_seed(seed: int, model, tokenizer, hypotheses, judge, args, out: Path) -> int:
    """Validate on one A/A sample; return the number of discoveries."""
    from dataclasses import asdict, replace

    import pytorch_lightning as pl

    from callbacks import SaffronCallback
    from difflens.files import write_json
    from difflens.models import ModelSpec
    from difflens.records import write_records
    from difflens.validation.sample_size import AutoSampleSize
    from lightning_modules import HypothesisValidator

    done = out / "null_summary.json"
    if done.exists():
        return json.loads(done.read_text())["discoveries"]
    # the pilot is the A/A texts listed as shown, not discovery's proposal split (there is none)
    auto_n = replace(AutoSampleSize(**(args.auto_n or {})), proposal_fraction=None)
    texts_path, hypotheses_path = out / "texts.jsonl", out / "hypotheses.jsonl"
    if not texts_path.exists():
        texts, seed_hypotheses = first_texts(model, tokenizer, hypotheses, args, seed, auto_n)
        write_records(hypotheses_path, seed_hypotheses)
        write_records(texts_path, texts)  # last: its presence says both files are whole
    data = null_datamodule(model, tokenizer)(
        str(texts_path), str(hypotheses_path), out_dir=str(out), n_per_model=args.n_per_model, seed=seed,
        base=ModelSpec(args.model), intervention=ModelSpec(args.model), fresh_max_new_tokens=args.max_new_tokens,
        auto_n=auto_n)
    validator = HypothesisValidator(test=args.test, positive_threshold=args.positive_threshold, data=data)
    validator.judge = judge
    saffron = SaffronCallback(alpha=args.alpha, method=args.method)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, callbacks=[saffron])
    trainer.test(validator, datamodule=data, verbose=False)
    discoveries = sum(r["rejected"] for r in saffron.rows)
    sizes = {h: row["n_per_model"] for h, row in (data.sample_sizes or {}).items()}
    write_json(done, {"seed": seed, "discoveries": discoveries, "tested": len(saffron.rows),
                      "min_p": min(r["p_value"] for r in saffron.rows), "n_per_model": sizes or args.n_per_model,
                      "auto_n": asdict(auto_n) if args.n_per_model == "auto" else None})
    return discoveries


def run(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from difflens.errors import ConfigError
    from difflens.files import write_json
    from difflens.models import load_causal_lm, load_tokenizer
    from difflens.records import Hypothesis, read_records
    from difflens.stats import build_online_fdr
    from difflens.validation import sort_hypotheses
    from difflens.validation.sample_size import AutoSampleSize, check_planned_test
    from lightning_modules.validation import build_judge

    args = resolve(args)
    if args.seeds < 1 or (args.n_per_model != "auto" and (isinstance(args.n_per_model, str) or args.n_per_model < 1)):
        raise ConfigError(f"--seeds and --n-per-model must be >= 1 (or --n-per-model auto), got {args.seeds} and "
                          f"{args.n_per_model!r}")
    if args.n_per_model == "auto":
        check_planned_test(args.test)
        AutoSampleSize(**(args.auto_n or {}))  # a bad data.auto_n: fail before any work
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    build_online_fdr(args.method, alpha=args.alpha)  # bad alpha or method: fail before any work
    hypotheses = [replace(h, proposal_text_ids=[]) for h in sort_hypotheses(read_records(args.hypotheses, Hypothesis))]
    model, tokenizer = load_causal_lm(args.model), load_tokenizer(args.model)
    judge = build_judge(judge_spec(args.assistant))
    out = Path(args.out)
    per_seed = {}
    for seed in range(args.seeds):
        per_seed[seed] = run_seed(seed, model, tokenizer, hypotheses, judge, args, out / f"seed{seed}")
        print(f"[validate-null] seed {seed}: {per_seed[seed]} discoveries", flush=True)
    with_any = sum(d > 0 for d in per_seed.values())
    summary = {"model": args.model, "hypotheses": args.hypotheses, "n_hypotheses": len(hypotheses),
               "n_per_model": args.n_per_model, "auto_n": args.auto_n, "method": args.method, "alpha": args.alpha,
               "test": args.test,
               "positive_threshold": args.positive_threshold,
               "assistant": args.assistant, "seeds": args.seeds, "discoveries_per_seed": per_seed,
               "seeds_with_any_discovery": with_any, "seeds_with_none": args.seeds - with_any}
    write_json(out / "validate_null.json", summary)
    print(f"[validate-null] {args.seeds - with_any} of {args.seeds} A/A runs validated nothing "
          f"({with_any} with a false discovery); summary in {out / 'validate_null.json'}")
