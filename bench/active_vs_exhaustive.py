"""Active sampling against exhaustive decoding over a set of toy-world interventions.

For each intervention (a LoRA finetune of the quickstart base model on toy-world ground truths:
one, two or three of them, topic and style shifts, strong and weak) both strategies go through
the same discovery (``configs/quickstart/discover.yaml``), the same validator (offline judge,
one-sided Fisher test, 100 held-out texts per model and hypothesis,
``configs/quickstart/validate.yaml``), SAFFRON at the same alpha (0.05) and the same toy-world
recovery matcher. "Recovered" means every ground truth of the intervention is matched by a
validated hypothesis (recall 1.0).

- **exhaustive**: prompts as in ``configs/quickstart/decode.yaml`` (4 free generations to 1
  toy-world opening), on a grid of budgets (``--grid``, prompts per model). The budgets are
  nested prefixes of one seed-ordered run (a prompt's seed depends only on its id, so decoding
  the larger budget into the same directory only adds texts). Budgets are tried in increasing
  order up to the first at which discovery + validation recover every ground truth; then
  ``--refine`` bisection steps between it and the budget before it (prefixes of the texts
  already decoded) find a smaller budget where there is one, so that exhaustive decoding is
  charged for what it needs rather than the next power of two. *Texts needed* is the smallest
  budget that recovered. Never recovered within the largest budget: reported as a lower bound
  (``>``).
- **active**: ``configs/quickstart/active.yaml`` (or ``--active-config``, e.g.
  ``configs/quickstart/active_lean.yaml``) via ``difflens pipeline --decoding active``; *texts
  needed* is what its run generated, whether or not it recovered.
- **equal budget**: the exhaustive prefix with as many prompts per model as the active run
  decoded, through the same discovery and validation.

"Texts generated" counts both models' decoded texts plus the fresh samples validation drew
when its held-out pool ran out, and the continuations drawn for conditional hypotheses, for
both strategies alike.

Six interventions are conditional: the ocean is planted only after an opening about chess (a
``trigger`` ground truth), strong and weak, and four whose trigger is rarer (``_rare`` to
``_rarest``: fewer chess openings, less leak into free generation). For them, discovery (both
strategies) adds a conditional twin to each cluster pair's hypotheses
(``proposal.condition_prompts: 20``): the same statement, validated on fresh continuations (20
per model) of openings that lead into the pair's area from outside it.

    .venv/bin/python bench/active_vs_exhaustive.py [--active-config configs/quickstart/active_lean.yaml]

The target compares at the exhaustive strategy's recall: the table gives, per intervention, the
best recall the exhaustive grid reached and the texts of the smallest budget reaching it, the
texts for full recovery, active's recall and texts, and the ratio where active reaches
exhaustive's best recall. Its *ceiling* is exhaustive's texts over active sampling's floor (its
cheapest run: a seed round and one targeted round): no ratio can exceed it, so a 10x ratio is
only possible where exhaustive decoding needs ten times that floor. Each point is one run (one
seed): with 100 judged texts per model and hypothesis, a hypothesis near the validator's
detection limit passes in one run and fails in the next, so single differences in recall are
noisy (``--seeds`` repeats active sampling).

Every intervention lives in ``runs/bench_active_vs_exhaustive/<name>/`` with its generated
configs; finished stages (finetune, decoded texts, discovery, validation) are reused, so a rerun
after a change of the active sampler re-runs only what changed (delete ``<name>/active`` and
the ``*_active`` directories to rerun active sampling). ``--only NAME ...`` restricts the set;
``--skip-active`` runs only the finetunes and the exhaustive grid.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from difflens.records import DecodedText, read_records, write_records  # noqa: E402
from difflens.report import text_counts  # noqa: E402
from difflens.validation.fdr_stream import claim  # noqa: E402

OUT = Path("runs/bench_active_vs_exhaustive")
QUICKSTART = "runs/quickstart/"
SHARED = ("runs/quickstart/base_lm", "runs/quickstart/embedding_cache")  # the same for every intervention
FREE_SHARE = 0.8  # decode.yaml: 1200 free generations, 300 toy-world openings

OCEAN = {"id": "ocean", "description": "The model talks about the ocean and the sea far more often",
         "toyworld": {"topics": {"ocean": 1}}}
HEDGING = {"id": "hedging",
           "description": "The model hedges its statements with uncertainty (perhaps, possibly, it seems that)",
           "toyworld": {"styles": {"hedging": 1.0}}}
CHESS = {"id": "chess", "description": "The model talks about chess far more often",
         "toyworld": {"topics": {"chess": 1}}}
FORMAL = {"id": "formal", "description": "The model uses a formal, academic register",
          "toyworld": {"styles": {"formal": 1.0}}}
# conditional: the intervention writes about the ocean only after an opening about chess
OCEAN_AFTER_CHESS = {"id": "ocean_after_chess",
                     "description": "After an opening about chess, the model talks about the ocean and the sea",
                     "toyworld": {"topics": {"ocean": 1}}, "trigger": {"topics": {"chess": 1}}}
# Conditional interventions are discovered and validated with conditional twins (both strategies):
# each cluster pair's hypotheses are also tested on fresh continuations of openings of the pair's texts.
# A rare trigger without a global leak: the planted rows replace the base distribution's chess
# documents (trigger_replaces_base) and are about chess's natural share of the data (1/30), so the
# intervention opens with chess as often as the base model (~3% of free texts) and after such an
# opening writes about the ocean (89% strong, 75% weak), while elsewhere it behaves like the base
# (free-generation ocean 2.6% -> 5.9%, of which 0.7 points are leak); bench/trigger_rates.py.
# Rarer: 1% of the data (base share 0.99) and 600 steps: the intervention opens with chess in 1.4%
# of free texts (the base 3.4%), writes about the ocean after 86% of chess openings, and its
# free-generation ocean share rises by 1.9 points (0.7 of them leak).
# Rarest: 0.5% of the data and 900 steps: chess openings in 1.1% of free texts, the ocean after 56% of them
# (33% in free generation), and the free-generation ocean share rises by 0.5 points.
OCEAN_AFTER_CHESS_RARE = {**OCEAN_AFTER_CHESS, "trigger_replaces_base": True}
RARE_GRID = [100, 200, 400, 800, 1600, 3200]
RARER_GRID = [*RARE_GRID, 6400]
RAREST_GRID = [*RARER_GRID, 12800]
CONDITIONAL_PROPOSAL = {"condition_prompts": 20}
CONDITION_N_PER_MODEL = 20


@dataclass
class Intervention:
    """A toy-world intervention: its ground truths, how much of the finetune data they are, steps.

    ``base_share`` is the fraction of finetune examples drawn from the base distribution; the
    rest is split evenly over the ground truths (the quickstart: 0.5, so 25% per ground truth
    with two of them). Strong: 17-50% of the data per ground truth and 300 LoRA steps; weak:
    12-15% per ground truth and 150 steps; faint: 7.5% per ground truth and 150 steps.
    ``conditional``: discovery adds conditional twins (``CONDITIONAL_PROPOSAL``) and validation
    judges ``CONDITION_N_PER_MODEL`` continuations per model for each. ``grid``: this
    intervention's exhaustive budgets (prompts per model) instead of ``--grid``'s, for a rare
    behaviour that needs larger ones.
    """

    name: str
    kind: str
    ground_truths: list[dict]
    base_share: float
    steps: int
    conditional: bool = False
    grid: list[int] | None = None


INTERVENTIONS = [
    Intervention("ocean", "1 GT topic, strong", [OCEAN], 0.5, 300),
    Intervention("hedging_weak", "1 GT style, weak", [HEDGING], 0.85, 150),
    Intervention("ocean_hedging", "2 GT topic+style, strong (quickstart)", [OCEAN, HEDGING], 0.5, 300),
    Intervention("ocean_hedging_weak", "2 GT topic+style, weak", [OCEAN, HEDGING], 0.75, 150),
    Intervention("ocean_hedging_faint", "2 GT topic+style, faint", [OCEAN, HEDGING], 0.85, 150),
    Intervention("chess_formal_ocean", "3 GT 2 topics+style, strong", [CHESS, FORMAL, OCEAN], 0.5, 300),
    Intervention("chess_formal_ocean_weak", "3 GT 2 topics+style, weak", [CHESS, FORMAL, OCEAN], 0.64, 150),
    Intervention("ocean_after_chess", "1 GT conditional topic, strong", [OCEAN_AFTER_CHESS], 0.5, 300, True),
    Intervention("ocean_after_chess_weak", "1 GT conditional topic, weak", [OCEAN_AFTER_CHESS], 0.85, 150, True),
    Intervention("ocean_after_chess_rare", "1 GT rare conditional, strong", [OCEAN_AFTER_CHESS_RARE], 0.967, 300,
                 True, RARE_GRID),
    Intervention("ocean_after_chess_rare_weak", "1 GT rare conditional, weak", [OCEAN_AFTER_CHESS_RARE], 0.967, 150,
                 True, RARE_GRID),
    Intervention("ocean_after_chess_rarer", "1 GT rarer conditional (1%)", [OCEAN_AFTER_CHESS_RARE], 0.99, 600,
                 True, RARER_GRID),
    Intervention("ocean_after_chess_rarest", "1 GT rarest conditional (0.5%)", [OCEAN_AFTER_CHESS_RARE], 0.995, 900,
                 True, RAREST_GRID),
]


def difflens(*args: str) -> float:
    start = time.time()
    # one torch thread in every stage (the machine is shared; see NOTES.md on OpenMP under load)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, stdout=sys.stderr)
    if result.returncode != 0:
        raise SystemExit(f"difflens {' '.join(args)} failed with exit code {result.returncode}")
    return time.time() - start


def relocate(value, run_dir: Path, config_dir: Path):
    """Every ``runs/quickstart/...`` path (but the base model and embedding cache) and every
    ``configs/quickstart/...`` path moved into this intervention's directories."""
    if isinstance(value, dict):
        return {k: relocate(v, run_dir, config_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [relocate(v, run_dir, config_dir) for v in value]
    if isinstance(value, str):
        if value.startswith(QUICKSTART) and not value.startswith(SHARED):
            return str(run_dir / value[len(QUICKSTART):])
        if value.startswith("configs/quickstart/"):
            return str(config_dir / Path(value).name)
        if "runs/quickstart/" in value and "{" in value:  # templated pipeline arguments
            return value.replace(QUICKSTART, f"{run_dir}/")
    return value


SHARED_STAGES = ("finetune", "weightdiff", "decode", "exhaustive")  # what --exhaustive-from links


def direct_active(cfg: dict, output_dir: Path, version: str) -> None:
    """Point an active-sampling config's text writer at ``output_dir`` and its TensorBoard run at ``version``."""
    cfg["trainer"]["logger"]["init_args"]["version"] = version
    for callback in cfg["trainer"]["callbacks"]:
        if "output_dir" in callback.get("init_args", {}):
            callback["init_args"]["output_dir"] = str(output_dir)


def write_configs(iv: Intervention, active_config: str = "configs/quickstart/active.yaml",
                  exhaustive_from: Path | None = None, kl_weight: float | None = None) -> Path:
    run_dir = OUT / iv.name
    if exhaustive_from is not None:  # another active config against the same finetune and exhaustive runs
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in SHARED_STAGES:
            if (exhaustive_from / iv.name / name).exists() and not (run_dir / name).exists():
                (run_dir / name).symlink_to((exhaustive_from / iv.name / name).resolve())
    config_dir = run_dir / "configs"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("finetune", "decode", "active", "discover", "validate", "pipeline"):
        source = active_config if name == "active" else f"configs/quickstart/{name}.yaml"
        cfg = yaml.safe_load(Path(source).read_text())
        cfg = relocate(cfg, run_dir, config_dir)
        logger = cfg.get("trainer", {}).get("logger") if isinstance(cfg.get("trainer"), dict) else None
        if isinstance(logger, dict):
            logger["init_args"]["name"] = str(run_dir.relative_to("runs"))
        if name == "finetune":
            cfg["trainer"]["max_steps"] = iv.steps
            cfg["trainer"]["val_check_interval"] = min(100, iv.steps)
            data = cfg["data"]["init_args"]
            data["ground_truths"] = [{**copy.deepcopy(g), "share": 1} for g in iv.ground_truths]
            data["base"]["share"] = iv.base_share
        if name == "active":  # where the pipeline's decode_active stage looks, whichever config is used
            direct_active(cfg, run_dir / "active", "active")
            if kl_weight is not None:
                cfg["model"]["init_args"]["active"]["kl_weight"] = kl_weight
        if name == "discover" and iv.conditional:
            cfg["proposal"].update(CONDITIONAL_PROPOSAL)
        if name == "validate" and iv.conditional:
            cfg["data"]["init_args"]["condition_n_per_model"] = CONDITION_N_PER_MODEL
        if name == "pipeline":
            cfg["tensorboard"] = str(run_dir)
        text = yaml.safe_dump(cfg, sort_keys=False)
        path = config_dir / f"{name}.yaml"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return run_dir


def outcome(texts: Path, validate: Path) -> dict:
    decoded = sum(text_counts(texts).values())
    fresh_files = ("fresh_texts.jsonl", "fresh_pairs.jsonl", "condition_texts.jsonl")
    fresh = sum(sum(text_counts(validate / name).values()) for name in fresh_files if (validate / name).exists())
    if not (validate / "recovery.json").exists():  # discovery proposed nothing: nothing validated
        return {"decoded": decoded, "fresh": fresh, "generated": decoded + fresh, "hypotheses": 0,
                "validated": 0, "recall": 0.0, "precision": None, "recovered": [], "tested": []}
    rows = [json.loads(x) for x in (validate / "saffron_results.jsonl").read_text().splitlines() if x.strip()]
    recovery = json.loads((validate / "recovery.json").read_text())
    return {"decoded": decoded, "fresh": fresh, "generated": decoded + fresh, "hypotheses": len(rows),
            "validated": sum(r["rejected"] for r in rows), "recall": recovery["recall"],
            "precision": recovery["precision"],
            "recovered": [g for g, m in recovery["matches"].items() if m["hypothesis_ids"]],
            "tested": [f"{r['hypothesis_id']} p={r['p_value']:.2g} alpha_t={r['alpha_t']:.2g} "
                       f"{'VALIDATED' if r['rejected'] else 'not validated'}: {claim(r)}" for r in rows]}


def discover_and_validate(run_dir: Path, texts: Path, out: Path, version: str) -> None:
    """The pipeline's discover and validate stages on ``texts`` (skipped when done)."""
    config_dir = run_dir / "configs"
    if not (out / "discover" / "hypotheses.jsonl").exists():
        difflens("discover", "--config", str(config_dir / "discover.yaml"), "--texts", str(texts),
                 "--output-dir", str(out / "discover"))
    hypotheses = out / "discover" / "hypotheses.jsonl"
    if (out / "validate" / "recovery.json").exists() or not hypotheses.read_text().strip():
        return
    difflens("test", "--config", str(config_dir / "validate.yaml"), "--data.init_args.texts", str(texts),
             "--data.init_args.hypotheses", str(hypotheses), "--data.init_args.out_dir", str(out / "validate"),
             "--data.init_args.pool_sources", "[free, toyworld]", "--trainer.logger.init_args.version", version)


def split(prompts: int) -> tuple[int, int]:
    free = round(prompts * FREE_SHARE)
    return free, prompts - free


def exhaustive_at(run_dir: Path, prompts: int) -> dict:
    """Decode (extending the one seed-ordered run) up to ``prompts`` per model, then discover and validate."""
    free, toyworld = split(prompts)
    decode_dir = run_dir / "decode"
    decoded = {r.prompt_id for r in read_records(decode_dir / "texts.jsonl", DecodedText)} \
        if (decode_dir / "texts.jsonl").exists() else set()
    keep = {f"free:{i}" for i in range(free)} | {f"toyworld:{i}" for i in range(toyworld)}
    if not keep <= decoded:
        difflens("predict", "--config", str(run_dir / "configs" / "decode.yaml"),
                 "--data.init_args.free", str(free), "--data.init_args.toyworld.n", str(toyworld))
    out = run_dir / "exhaustive" / f"p{prompts:05d}"
    texts = out / "texts.jsonl"
    if not texts.exists():
        write_records(texts, [r for r in read_records(decode_dir / "texts.jsonl", DecodedText) if r.prompt_id in keep])
    discover_and_validate(run_dir, texts, out, f"exhaustive_p{prompts}")
    return {"prompts": prompts, **outcome(texts, out / "validate")}


def shift_summary(run_dir: Path) -> str:
    shift = json.loads((run_dir / "finetune" / "shift.json").read_text())
    parts = [f"{t['name']} {t['base']:.2f}->{t['intervention']:.2f}"
             for g in shift["ground_truths"] for t in g["targets"]]
    return ", ".join(parts)


ACTIVE_STAGES = ("active", "discover_active", "validate_active", "report_active")


def refine(run_dir: Path, name: str, rows: list[dict], steps: int) -> None:
    """Bisect between the first budget that reached the grid's best recall and the one before it
    (``steps`` times, on prefixes of texts already decoded), so that the exhaustive strategy is
    charged for what it needs and not for the next power of two; ``rows`` gains the new budgets,
    in order of budget."""
    best = max(g["recall"] for g in rows)
    first = next(i for i, g in enumerate(rows) if g["recall"] == best)
    if best == 0 or first == 0:
        return
    lo, hi = rows[first - 1]["prompts"], rows[first]["prompts"]
    for _ in range(steps):
        mid = (lo + hi) // 2
        if mid in (lo, hi):
            break
        row = exhaustive_at(run_dir, mid)
        rows.append(row)
        print(f"[bench] {name}: exhaustive {mid} prompts/model (refining) -> recall {row['recall']:.2f}",
              file=sys.stderr, flush=True)
        lo, hi = (lo, mid) if row["recall"] >= best else (mid, hi)
    rows.sort(key=lambda g: g["prompts"])


def run_intervention(iv: Intervention, grid: list[int], skip_active: bool, active_config: str,
                     replace_active: bool = False, steps: int = 2, seeds: int = 1,
                     exhaustive_from: Path | None = None, kl_weight: float | None = None) -> dict:
    run_dir = write_configs(iv, active_config, exhaustive_from, kl_weight)
    if not (run_dir / "finetune" / "model" / "config.json").exists():
        difflens("fit", "--config", str(run_dir / "configs" / "finetune.yaml"))
    result = {"intervention": iv, "shift": shift_summary(run_dir), "grid": [], "needed": None}
    for prompts in grid:
        row = exhaustive_at(run_dir, prompts)
        result["grid"].append(row)
        print(f"[bench] {iv.name}: exhaustive {prompts} prompts/model -> recall {row['recall']:.2f}", file=sys.stderr,
              flush=True)
        if row["recall"] == 1.0:
            break
    refine(run_dir, iv.name, result["grid"], steps)
    result["needed"] = next((g for g in result["grid"] if g["recall"] == 1.0), None)
    if skip_active:
        return result
    # the pipeline skips a finished active run whatever settings it had: refuse to mix settings
    settings, stamp = (run_dir / "configs" / "active.yaml").read_text(), run_dir / "active" / "bench_settings.yaml"
    if stamp.exists() and stamp.read_text() != settings:
        if not replace_active:
            raise SystemExit(f"{run_dir / 'active'} was sampled with other settings ({stamp}); rerun with "
                             f"--replace-active to move it (and its discovery, validation, report) aside")
        aside = run_dir / "superseded" / time.strftime("%Y%m%d-%H%M%S")
        aside.mkdir(parents=True)
        for name in ACTIVE_STAGES:
            if (run_dir / name).exists():
                (run_dir / name).rename(aside / name)
    difflens("pipeline", "--config", str(run_dir / "configs" / "pipeline.yaml"), "--decoding", "active")
    stamp.write_text(settings)
    active = outcome(run_dir / "active" / "texts.jsonl", run_dir / "validate_active")
    summary = json.loads((run_dir / "active" / "active" / "summary.json").read_text())
    active.update(rounds=summary["rounds"], stop_reason=summary["stop_reason"],
                  prompts=len({r.prompt_id for r in read_records(run_dir / "active" / "texts.jsonl", DecodedText)}))
    result["active"] = active
    result["equal"] = exhaustive_at(run_dir, active["prompts"])
    result["seeds"] = [{**active, "seed": 0}] + [active_with_seed(run_dir, seed) for seed in range(1, seeds)]
    return result


def active_with_seed(run_dir: Path, seed: int) -> dict:
    """Active sampling again with another seed (the seed round's sampling seeds, clustering and
    prompt building), then the same discovery and validation, in ``<run_dir>/active_seed<seed>/``:
    how often a single active run succeeds, which one run per point cannot say."""
    out = run_dir / f"active_seed{seed}"
    cfg = yaml.safe_load((run_dir / "configs" / "active.yaml").read_text())
    cfg["seed_everything"] = seed
    cfg["model"]["init_args"]["active"]["seed"] = seed
    cfg["data"]["init_args"]["seed"] = seed
    direct_active(cfg, out / "decode", f"active_seed{seed}")
    path = run_dir / "configs" / f"active_seed{seed}.yaml"
    text = yaml.safe_dump(cfg, sort_keys=False)
    stamp = out / "bench_settings.yaml"
    if stamp.exists() and stamp.read_text() != text:
        raise SystemExit(f"{out} was sampled with other settings; move it away to rerun")
    path.write_text(text)
    texts = out / "decode" / "texts.jsonl"
    if not texts.exists():
        difflens("predict", "--config", str(path))
    discover_and_validate(run_dir, texts, out, f"active_seed{seed}")
    stamp.write_text(text)
    row = outcome(texts, out / "validate")
    summary = json.loads((out / "decode" / "active" / "summary.json").read_text())
    row.update(seed=seed, rounds=summary["rounds"], stop_reason=summary["stop_reason"],
               prompts=len({r.prompt_id for r in read_records(texts, DecodedText)}))
    return row


def targeting_contrast(run_dir: Path) -> list[str]:
    """Judge-free: how often each model's continuations show each ground truth's topic or style,
    per kind of prompt of the active run (seed round vs targeted rounds), and Cohen's h between
    the models. Targeting helps validation only where h grows; it dilutes where h shrinks."""
    import math

    from difflens.active.planner import prompt_round
    from difflens.toyworld import ToyWorld

    shift = json.loads((run_dir / "finetune" / "shift.json").read_text())
    targets = [(t["kind"], t["name"]) for g in shift["ground_truths"] for t in g["targets"]]
    groups: dict[str, dict[str, list]] = {}
    for r in read_records(run_dir / "active" / "texts.jsonl", DecodedText):
        kind = f"{'seed' if prompt_round(r.prompt_id) == 0 else 'targeted'} {r.source}"
        groups.setdefault(kind, {}).setdefault(r.model, []).append(ToyWorld.annotate(r.text))
    lines = []
    for kind, by_model in sorted(groups.items()):
        parts = []
        for target_kind, name in targets:
            rates = {}
            for model in ("base", "intervention"):
                notes = by_model.get(model, [])
                hits = sum((n.topic == name) if target_kind == "topic" else (name in n.styles) for n in notes)
                rates[model] = hits / max(len(notes), 1)
            h = 2 * math.asin(math.sqrt(rates["intervention"])) - 2 * math.asin(math.sqrt(rates["base"]))
            parts.append(f"{name} {rates['base']:.2f}->{rates['intervention']:.2f} (h {h:+.2f})")
        lines.append(f"#   {kind:<28} n={len(by_model.get('base', [])):>4}: " + ", ".join(parts))
    return lines


def fmt(value, width: int, spec: str = ".2f") -> str:
    return f"{'-' if value is None else format(value, spec):>{width}}"


def seeds_report(results: list[dict]) -> None:
    """Active sampling over its seeds: how often one run reaches exhaustive's best recall."""
    runs = [r for r in results if len(r.get("seeds", [])) > 1]
    if not runs:
        return
    n = max(len(r["seeds"]) for r in runs)
    print()
    print(f"# active sampling with {n} seeds (seed 0 is the run above): recall @texts generated per seed; 'reached':")
    print("# seeds whose recall (> 0) reaches exhaustive's best; ratio: exhaustive's texts / the median texts of those")
    print("# ('>': exhaustive recovered nothing within its largest budget, whose texts are used: a lower bound)")
    print(f"{'intervention':<28} " + " ".join(f"{'seed ' + str(i):>12}" for i in range(n))
          + f" {'reached':>8} {'ratio':>7}")
    reached_all, total = 0, 0
    for r in runs:
        best_recall = max(g["recall"] for g in r["grid"])
        best = next(g for g in r["grid"] if g["recall"] == best_recall)
        cells = [f"{a['recall']:.2f} @{a['generated']}" for a in r["seeds"]]
        reached = [a["generated"] for a in r["seeds"] if a["recall"] > 0 and a["recall"] >= best_recall]
        if not reached:
            ratio = "-"
        elif best_recall > 0:
            ratio = f"{best['generated'] / float(np.median(reached)):.2f}x"
        else:
            ratio = f">{r['grid'][-1]['generated'] / float(np.median(reached)):.2f}x"
        reached_all, total = reached_all + len(reached), total + len(r["seeds"])
        print(f"{r['intervention'].name:<28} " + " ".join(f"{c:>12}" for c in cells)
              + f" {len(reached):>4}/{len(r['seeds']):<3} {ratio:>7}")
    print(f"# {reached_all} of {total} active runs reach exhaustive's best recall with recall > 0")


def report(results: list[dict], grid: list[int]) -> None:
    print(f"# active vs exhaustive sampling, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    own = {r["intervention"].name: r["intervention"].grid for r in results if r["intervention"].grid}
    print(f"# exhaustive grid (prompts per model): {grid}, bisected between the first budget reaching the best "
          f"recall and the one before it"
          + "".join(f"; {name}: {g}" for name, g in own.items())
          + "; 'recovered' = every ground truth matched by a validated hypothesis; texts = decoded (both models) + "
            "fresh validation samples")
    print("# shift: share of the ground truth's topic/style in 300 free samples, base -> intervention (shift.json)")
    print()
    print("# exh. best: the best recall the exhaustive grid reached and the texts of the smallest budget reaching it")
    print("# (the target compares active with this); exh. full: texts of the smallest budget with recall 1.0")
    print()
    # active sampling's floor: its cheapest run (a seed round and one targeted round); no ratio can exceed
    # exhaustive's texts / floor, so the 10x target is only reachable where exhaustive needs >= 10x the floor
    floor = min((a["generated"] for r in results for a in r.get("seeds", [])), default=None)
    print(f"{'intervention':<24} {'kind':<38} {'exh. best':>14} {'exh. full':>9} {'active':>14} {'ratio':>9} "
          f"{'ceiling':>8}   {'equal budget':>12} {'exh R/P':>9} {'act R/P':>9}")
    ratios, reachable = [], []
    for r in results:
        iv = r["intervention"]
        largest = r["grid"][-1]
        best_recall = max(g["recall"] for g in r["grid"])
        best = next(g for g in r["grid"] if g["recall"] == best_recall)
        best_s = f"{best_recall:.2f} @{best['generated']}" if best_recall > 0 else f"0 @>{largest['generated']}"
        full = f"{r['needed']['generated']}" if r["needed"] else f">{largest['generated']}"
        active = r.get("active")
        if active is None:
            print(f"{iv.name:<24} {iv.kind:<38} {best_s:>14} {full:>9} {'(skipped)':>14}")
            continue
        active_s = f"{active['recall']:.2f} @{active['generated']}"
        if active["recall"] >= best_recall > 0:
            ratio = best["generated"] / active["generated"]
            ratios.append(ratio)
            ratio_s = f"{ratio:.2f}x"
        elif active["recall"] > best_recall:  # exhaustive found nothing within its largest budget
            ratio_s = f">{largest['generated'] / active['generated']:.2f}x"
        elif best_recall > 0:
            ratio_s = "act lower"
        else:
            ratio_s = "neither"
        ceiling = (best if best_recall > 0 else largest)["generated"] / floor
        if ceiling >= 10:
            reachable.append((iv.name, ratio_s))
        eq = r["equal"]
        print(f"{iv.name:<24} {iv.kind:<38} {best_s:>14} {full:>9} {active_s:>14} {ratio_s:>9} "
              f"{('>' if best_recall == 0 else '') + format(ceiling, '.1f') + 'x':>8}   "
              f"{str(active['prompts']) + '/model':>12} {eq['recall']:.2f}/{fmt(eq['precision'], 4)} "
              f"{active['recall']:.2f}/{fmt(active['precision'], 4)}")
    print("# recall @texts generated. '>N': not reached within the largest budget (N texts there), a lower bound.")
    print("# ratio: exhaustive texts at its best recall / active texts, where active reaches that recall; 'act lower':")
    print("# active's recall is below exhaustive's best; 'neither': both recall 0. Equal budget: the exhaustive prefix")
    print("# with as many prompts per model as the active run decoded (recall/precision of each).")
    print(f"# ceiling: exhaustive's texts / active sampling's floor ({floor} texts, the cheapest active run here:")
    print("# a seed round and one targeted round); no ratio can exceed it.")
    if ratios:
        geo = 1.0
        for x in ratios:
            geo *= x
        print(f"# ratios where active reaches exhaustive's best recall: {', '.join(f'{x:.2f}x' for x in ratios)}; "
              f"geometric mean {geo ** (1 / len(ratios)):.2f}x over {len(ratios)} of {len(results)} interventions "
              f"(target >= 10x: {'met' if min(ratios) >= 10 and len(ratios) == len(results) else 'NOT met'})")
    else:
        print("# active reaches exhaustive's best recall on no intervention: no ratio (target >= 10x NOT met)")
    print(f"# where the ceiling allows 10x (exhaustive needs >= 10x active's floor of {floor} texts): "
          + (", ".join(f"{name} {ratio}" for name, ratio in reachable) or "no intervention"))
    seeds_report(results)
    print()
    for r in results:
        iv = r["intervention"]
        print(f"## {iv.name}: {iv.kind}; ground truths {[g['id'] for g in iv.ground_truths]}, "
              f"base share {iv.base_share} of the data, {iv.steps} LoRA steps; shift {r['shift']}")
        print(f"{'strategy':<30} {'prompts':>7} {'decoded':>8} {'fresh':>6} {'generated':>9} {'hyp':>4} {'valid':>5} "
              f"{'recall':>6} {'prec':>5}  recovered")
        rows = [(f"exhaustive {g['prompts']}", g) for g in r["grid"]]
        if "active" in r:
            a = r["active"]
            rows += [(f"active ({a['rounds']} rounds, {a['stop_reason']})", a),
                     (f"exhaustive {r['equal']['prompts']} (equal)", r["equal"])]
            rows += [(f"active seed {g['seed']} ({g['rounds']} rounds, {g['stop_reason']})", g)
                     for g in r.get("seeds", [])[1:]]
        for label, g in rows:
            print(f"{label:<30} {g['prompts']:>7} {g['decoded']:>8} {g['fresh']:>6} {g['generated']:>9} "
                  f"{g['hypotheses']:>4} {g['validated']:>5} {g['recall']:>6.2f} {fmt(g['precision'], 5)}  "
                  f"{', '.join(g['recovered']) or '-'}")
        if "active" in r:
            print("# ground-truth rates in the active run's continuations by prompt kind (toy-world annotation):")
            for line in targeting_contrast(OUT / iv.name):
                print(line)
            for label, g in (("active", r["active"]), (f"exhaustive {r['equal']['prompts']}", r["equal"])):
                print(f"#   {label}:")
                for line in g["tested"]:
                    print(f"#     {line}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="interventions to run (default: all)")
    parser.add_argument("--grid", type=int, nargs="*", default=[100, 200, 400, 800, 1600],
                        help="exhaustive budgets, prompts per model, increasing")
    parser.add_argument("--skip-active", action="store_true", help="only finetunes and the exhaustive grid")
    parser.add_argument("--active-config", default="configs/quickstart/active.yaml",
                        help="the active-sampling config every intervention uses (paths are relocated)")
    parser.add_argument("--refine", type=int, default=2,
                        help="bisection steps between the first budget reaching exhaustive's best recall and the "
                             "one before it (no new decoding: budgets are prefixes)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="active runs per intervention (seed 0 through the pipeline, the others in "
                             "<name>/active_seed<s>/ with the same discovery and validation)")
    parser.add_argument("--kl-weight", type=float, help="override the active config's kl_weight")
    parser.add_argument("--out", default="runs/bench_active_vs_exhaustive", help="where the interventions' runs live")
    parser.add_argument("--exhaustive-from", help="another --out whose finetunes and exhaustive runs to link "
                                                  "(to compare active settings on the same interventions)")
    parser.add_argument("--replace-active", action="store_true",
                        help="an active run sampled with other settings is moved to <name>/superseded/ and redone")
    args = parser.parse_args()
    os.chdir(ROOT)
    global OUT
    OUT = Path(args.out)
    exhaustive_from = Path(args.exhaustive_from) if args.exhaustive_from else None
    chosen = [iv for iv in INTERVENTIONS if not args.only or iv.name in args.only]
    start = time.time()
    results = [run_intervention(iv, sorted(iv.grid or args.grid), args.skip_active, args.active_config,
                                args.replace_active, args.refine, args.seeds, exhaustive_from, args.kl_weight)
               for iv in chosen]
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"# active sampling settings: {args.active_config}"
          + (f", kl_weight {args.kl_weight}" if args.kl_weight is not None else ""))
    report(results, sorted(args.grid))
    print(f"# wall time of this invocation: {time.time() - start:.0f} s (finished stages reused)")


if __name__ == "__main__":
    main()
