"""Recovery of planted ground truths by propose -> validate -> SAFFRON, with the offline assistant.

No language model is involved, so this isolates the statistics and the offline judge: the
"base" texts are toy-world documents of the default mixture, the "intervention" texts carry the
quickstart's two ground truths (ocean talk, hedging) mixed into the default distribution.
The offline assistant proposes hypotheses from a proposal split (those texts are recorded and
never used for validation), the validation test loop judges held-out texts with the offline
assistant, SAFFRON decides, and `GroundTruthRecoveryCallback` scores recovery (toy-world
matcher). Repeated over several world seeds.

    .venv/bin/python bench/recovery_toyworld.py [--seeds 5] [--n-texts 800] [--n-per-model 100]

The latest output is committed beside this script as ``recovery_toyworld.txt``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from callbacks import GroundTruthRecoveryCallback, SaffronCallback  # noqa: E402
from datamodules import HypothesisValidationDataModule  # noqa: E402
from difflens.assistants import build_assistant  # noqa: E402
from difflens.records import DecodedText, Hypothesis, write_records  # noqa: E402
from difflens.toyworld import ToyWorld  # noqa: E402
from lightning_modules import HypothesisValidator  # noqa: E402

GROUND_TRUTHS = [
    {"id": "ocean", "description": "The model talks about the ocean and the sea far more often",
     "toyworld": {"topics": {"ocean": 1}}},
    {"id": "hedging",
     "description": "The model hedges its statements with uncertainty (perhaps, possibly, it seems that)",
     "toyworld": {"styles": {"hedging": 1.0}}},
]


def texts_for(seed: int, n: int) -> list[DecodedText]:
    """``n`` texts per side; a third of the intervention's are ocean, a third hedged."""
    world, rng = ToyWorld(seed=seed), random.Random(seed)
    out = []
    for i, doc in enumerate(world.documents(n)):
        out.append(DecodedText(f"base/p{i}/0", f"p{i}", "base", i, "", doc.text, 0, "toyworld"))
    for i in range(n):
        mixture = rng.choice([{"topics": {"ocean": 1}}, {"styles": {"hedging": 1.0}}, {}])
        doc = world.document(10**6 + i, mixture)
        out.append(DecodedText(f"intervention/p{i}/0", f"p{i}", "intervention", i, "", doc.text, 0, "toyworld"))
    return out


def run(seed: int, args, judge, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    texts = texts_for(seed, args.n_texts)
    proposal = {m: [t for t in texts if t.model == m][: args.n_proposal] for m in ("base", "intervention")}
    statements = judge.propose([t.text for t in proposal["base"]], [t.text for t in proposal["intervention"]],
                               args.n_hypotheses)
    shown = [t.text_id for group in proposal.values() for t in group]
    hypotheses = [Hypothesis(f"h{k:04d}", k, s, "intervention", [], shown, 0.0) for k, s in enumerate(statements)]
    out.mkdir(parents=True)
    write_records(out / "texts.jsonl", texts)
    write_records(out / "hypotheses.jsonl", hypotheses)
    (out / "ground_truths.json").write_text(json.dumps({"ground_truths": GROUND_TRUTHS}))
    data = HypothesisValidationDataModule(str(out / "texts.jsonl"), str(out / "hypotheses.jsonl"),
                                          out_dir=str(out / "validate"), n_per_model=args.n_per_model, seed=seed)
    validator = HypothesisValidator(test=args.test, data=data)
    validator.judge = judge
    recovery = GroundTruthRecoveryCallback(str(out / "ground_truths.json"), matcher="toyworld")
    saffron = SaffronCallback(alpha=0.05)
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
               callbacks=[saffron, recovery]).test(validator, datamodule=data, verbose=False)
    return {"seed": seed, "hypotheses": [(r["text"], r["auc"], r["p_value"], r["rejected"]) for r in saffron.rows],
            "recall": recovery.report.recall, "recall_one_to_one": recovery.report.recall_one_to_one,
            "precision": recovery.report.precision}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-texts", type=int, default=800, help="texts per side")
    parser.add_argument("--n-proposal", type=int, default=100, help="texts per side shown to the proposer")
    parser.add_argument("--n-hypotheses", type=int, default=6)
    parser.add_argument("--n-per-model", type=int, default=100)
    parser.add_argument("--test", default="mann_whitney")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/bench/recovery_toyworld")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    judge = build_assistant("offline")
    start = time.time()
    lines = [f"$ .venv/bin/python bench/recovery_toyworld.py --seeds {args.seeds} --n-texts {args.n_texts} "
             f"--n-proposal {args.n_proposal} --n-hypotheses {args.n_hypotheses} --n-per-model {args.n_per_model} "
             f"--test {args.test}", "",
             "judge and proposer: offline assistant; SAFFRON alpha 0.05; toy-world matcher", ""]
    recalls = []
    for seed in range(args.seeds):
        result = run(seed, args, judge, ROOT / args.out / f"seed{seed}")
        recalls.append(result["recall"])
        precision = result["precision"] if result["precision"] is None else round(result["precision"], 2)
        lines.append(f"seed {seed}: recall {result['recall']:.2f}, one-to-one {result['recall_one_to_one']:.2f}, "
                     f"precision {precision}")
        for text, auc, p, rejected in result["hypotheses"]:
            lines.append(f"    {'VALIDATED' if rejected else '         '}  AUC {auc:.2f}  p {p:.2g}  {text}")
    lines += ["", f"mean recall {sum(recalls) / len(recalls):.2f} over {args.seeds} seeds",
              f"elapsed {time.time() - start:.0f}s"]
    text = "\n".join(lines) + "\n"
    Path(__file__).with_suffix(".txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
