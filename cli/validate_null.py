"""``difflens validate-null``: the A/A check of the validation pipeline under the global null.

For each seed, two independent sets of samples are drawn from the *same* model and labelled
"base" and "intervention"; the hypotheses are then validated exactly as in ``difflens test``
(`HypothesisValidator`, held-out plan, SAFFRON). Nothing is different, so every discovery is
false: the share of seeds with any discovery estimates the procedure's false-discovery
probability under the global null (SAFFRON keeps it at most alpha). Each seed's run lives
in ``OUT/seed<k>/``; finished seeds are skipped, so an interrupted check resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "A/A check: validate hypotheses on base vs base (different seeds); count seeds with any discovery"


BUILTIN = {"model": "runs/quickstart/base_lm/model", "hypotheses": "runs/quickstart/discover/hypotheses.jsonl",
           "seeds": 20, "n_per_model": 20, "alpha": 0.05, "method": "saffron", "test": "binomial",
           "positive_threshold": 0.5,
           "assistant": "offline", "max_new_tokens": 48, "out": "runs/quickstart/validate_null"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="a `difflens test` validation config (e.g. configs/quickstart/validate.yaml): its base "
                             "model, hypotheses, n_per_model, test, judge and SAFFRON settings become the defaults")
    parser.add_argument("--model", help=f"the model sampled for both sides (default {BUILTIN['model']})")
    parser.add_argument("--hypotheses", help="hypotheses to validate; their proposal text ids are ignored")
    parser.add_argument("--seeds", type=int, help="number of A/A runs (default 20)")
    parser.add_argument("--n-per-model", type=int, help="held-out texts per side per hypothesis (default 20)")
    parser.add_argument("--alpha", type=float, help="FDR level (default 0.05)")
    parser.add_argument("--method", help="saffron, addis or lord++ (default saffron)")
    parser.add_argument("--test", help="binomial, mann_whitney or fisher (default binomial)")
    parser.add_argument("--positive-threshold", type=float,
                        help="score above which the judge flags the property, for fisher (default 0.5)")
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
    out = {"model": data.get("base_model"), "hypotheses": data.get("hypotheses"),
           "n_per_model": data.get("n_per_model"), "test": model.get("test"),
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


def run_seed(seed: int, model, tokenizer, hypotheses, judge, args, out: Path) -> int:
    """Validate on one A/A sample; return the number of discoveries."""
    import pytorch_lightning as pl

    from callbacks import SaffronCallback
    from datamodules import HypothesisValidationDataModule
    from difflens.decoding import SamplingConfig
    from difflens.files import write_json
    from difflens.records import write_records
    from difflens.validation.fresh import sample_fresh_texts
    from lightning_modules import HypothesisValidator

    done = out / "null_summary.json"
    if done.exists():
        return json.loads(done.read_text())["discoveries"]
    texts_path = out / "texts.jsonl"
    if not texts_path.exists():
        n = len(hypotheses) * args.n_per_model
        texts = [t for side, offset in (("base", 0), ("intervention", 1))
                 for t in sample_fresh_texts(model, tokenizer, side, n, seed=2 * seed + offset,
                                             sampling=SamplingConfig(max_new_tokens=args.max_new_tokens))]
        write_records(texts_path, texts)
        write_records(out / "hypotheses.jsonl", hypotheses)
    data = HypothesisValidationDataModule(str(texts_path), str(out / "hypotheses.jsonl"), out_dir=str(out),
                                          n_per_model=args.n_per_model, seed=seed)
    validator = HypothesisValidator(test=args.test, positive_threshold=args.positive_threshold)
    validator.judge = judge
    saffron = SaffronCallback(alpha=args.alpha, method=args.method)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, callbacks=[saffron])
    trainer.test(validator, datamodule=data, verbose=False)
    discoveries = sum(r["rejected"] for r in saffron.rows)
    write_json(done, {"seed": seed, "discoveries": discoveries, "tested": len(saffron.rows),
                      "min_p": min(r["p_value"] for r in saffron.rows)})
    return discoveries


def run(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from difflens.errors import ConfigError
    from difflens.files import write_json
    from difflens.models import load_causal_lm, load_tokenizer
    from difflens.records import Hypothesis, read_records
    from difflens.stats import build_online_fdr
    from difflens.validation import sort_hypotheses
    from lightning_modules.validation import build_judge

    args = resolve(args)
    if args.n_per_model == "auto" or args.test == "paired":
        # A/A samples are free generations with a seed per text: there is no proposal split for a
        # pilot, and no same-prompt pairs (paired base-vs-base texts would be identical)
        raise ConfigError("validate-null checks a fixed n and an unpaired test: pass --n-per-model N and "
                          "--test fisher (or binomial, mann_whitney) to override the config's "
                          f"n_per_model={args.n_per_model!r}, test={args.test!r}")
    if args.seeds < 1 or args.n_per_model < 1:
        raise ConfigError("--seeds and --n-per-model must be >= 1")
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
               "n_per_model": args.n_per_model, "method": args.method, "alpha": args.alpha, "test": args.test,
               "positive_threshold": args.positive_threshold,
               "assistant": args.assistant, "seeds": args.seeds, "discoveries_per_seed": per_seed,
               "seeds_with_any_discovery": with_any, "seeds_with_none": args.seeds - with_any}
    write_json(out / "validate_null.json", summary)
    print(f"[validate-null] {args.seeds - with_any} of {args.seeds} A/A runs validated nothing "
          f"({with_any} with a false discovery); summary in {out / 'validate_null.json'}")
