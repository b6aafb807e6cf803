"""Active sampling against exhaustive decoding: texts generated, recall and precision.

Both strategies go through the same discovery, the same validator (offline judge, Fisher test,
100 held-out texts per model and hypothesis) and SAFFRON at the same alpha, and are scored by
the same toy-world recovery matcher against the intervention's ground truths:

- **exhaustive**: ``configs/quickstart/decode.yaml`` (1500 prompts per model, free generation
  and toy-world openings), via ``difflens pipeline --decoding exhaustive``;
- **active**: ``configs/quickstart/active.yaml`` (a 250-prompt seed round, rounds of 100 targeted
  prompts until stable, at most 650), via ``difflens pipeline --decoding active``;
- **exhaustive at the active budget**: the exhaustive texts of the first N seed-ordered prompts,
  N = the number of prompts active sampling used (equal-budget comparison).

"Texts generated" counts both models' decoded texts plus the fresh samples validation drew
when its held-out pool ran out. Reduced setting (time): one intervention (the quickstart's
LoRA with two ground truths, ocean topic and hedging style), not the issue's set of one-, two-
and three-ground-truth interventions of different strengths.

    .venv/bin/python bench/active_vs_exhaustive.py

Finished stages are reused (the pipeline skips them). The latest output is committed beside
this script as ``active_vs_exhaustive.txt``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from difflens.records import DecodedText, read_records, write_records  # noqa: E402
from difflens.report import text_counts  # noqa: E402

PIPELINE = "configs/quickstart/pipeline.yaml"
SUBSET = Path("runs/bench_active_vs_exhaustive/exhaustive_at_active_budget")


def difflens(*args: str) -> float:
    start = time.time()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, stdout=sys.stderr)
    if result.returncode != 0:
        raise SystemExit(f"difflens {' '.join(args)} failed with exit code {result.returncode}")
    return time.time() - start


def outcome(name: str, texts: Path, validate: Path, seconds: float | None) -> dict:
    decoded, fresh = text_counts(texts), text_counts(validate / "fresh_texts.jsonl")
    rows = [json.loads(x) for x in (validate / "saffron_results.jsonl").read_text().splitlines() if x.strip()]
    recovery = json.loads((validate / "recovery.json").read_text())
    return {"strategy": name, "decoded": sum(decoded.values()), "fresh": sum(fresh.values()),
            "generated": sum(decoded.values()) + sum(fresh.values()), "hypotheses": len(rows),
            "validated": sum(r["rejected"] for r in rows), "recall": recovery["recall"],
            "precision": recovery["precision"], "seconds": seconds,
            "recovered": [g for g, m in recovery["matches"].items() if m["hypothesis_ids"]],
            "tested": [f"{r['hypothesis_id']} p={r['p_value']:.2g} AUC={r['auc']:.3f} "
                       f"{'VALIDATED' if r['rejected'] else 'not validated'}: {r['text']}" for r in rows]}


def prompt_order(record: DecodedText) -> tuple:
    source, _, index = record.prompt_id.rpartition(":")
    return (source != "free", int(index) if index.isdigit() else 0)


def flags_ocean(texts: list[DecodedText], embed) -> bool:
    """Is a top-divergent pair (the active sampler's rule) mostly ocean texts on the intervention side?"""
    import numpy as np

    from difflens.active.stability import top_divergent
    from difflens.discovery.matching import match_clusters
    from difflens.toyworld import ToyWorld

    base = sorted((t for t in texts if t.model == "base"), key=lambda t: t.text_id)
    tuned = sorted((t for t in texts if t.model == "intervention"), key=lambda t: t.text_id)
    matching = match_clusters(embed([t.text for t in base]), embed([t.text for t in tuned]), 20, "base_init", 0)
    top = top_divergent(matching.pairs, 0.05, 0.1, 5)
    for pair in matching.pairs:
        if pair.base_cluster in top and pair.cohens_h > 0:
            members = [tuned[i].text for i in np.flatnonzero(matching.intervention.labels == pair.intervention_cluster)]
            if sum(ToyWorld.annotate(t).topic == "ocean" for t in members) >= 0.5 * len(members):
                return True
    return False


def area_detection(exhaustive: list[DecodedText], active: list[DecodedText]) -> list[str]:
    """Texts per model each strategy needs before the ocean area is among the top-divergent pairs."""
    from difflens.active.planner import prompt_round
    from difflens.discovery.embed import TextEmbedder

    embed = TextEmbedder(cache_dir="runs/quickstart/embedding_cache").encode
    lines = ["# area-level detection (judge-free): is a top-divergent pair (Bonferroni 0.05, |h| >= 0.1, k = 20)",
             "# mostly ocean on the intervention side? texts per model used:"]
    free = sorted({r.prompt_id for r in exhaustive if r.source == "free"}, key=lambda p: int(p.split(":")[1]))
    other = sorted({r.prompt_id for r in exhaustive if r.source != "free"}, key=lambda p: int(p.rsplit(":", 1)[1]))
    for n in (50, 100, 150, 250, 450, 1500):
        n_free = round(n * len(free) / (len(free) + len(other)))
        keep = set(free[:n_free]) | set(other[: n - n_free])
        flagged = flags_ocean([r for r in exhaustive if r.prompt_id in keep], embed)
        lines.append(f"exhaustive, first {n:>4} prompts: {'ocean area flagged' if flagged else 'not flagged'}")
    for last in sorted({prompt_round(r.prompt_id) for r in active}):
        subset = [r for r in active if prompt_round(r.prompt_id) <= last]
        lines.append(f"active, rounds 0-{last} ({len(subset) // 2:>4} per model): "
                     f"{'ocean area flagged' if flags_ocean(subset, embed) else 'not flagged'}")
    return lines


def main() -> None:
    os.chdir(ROOT)
    seconds = {}
    for mode in ("exhaustive", "active"):
        seconds[mode] = difflens("pipeline", "--config", PIPELINE, "--decoding", mode)
    active_texts = read_records("runs/quickstart/active/texts.jsonl", DecodedText)
    n_prompts = len({r.prompt_id for r in active_texts})
    exhaustive = read_records("runs/quickstart/decode/texts.jsonl", DecodedText)
    # the same mix of sources as the seed order: free prompts first, then toy-world openings,
    # in proportion to the full exhaustive run
    free = sorted({r.prompt_id for r in exhaustive if r.source == "free"}, key=lambda p: int(p.split(":")[1]))
    other = sorted({r.prompt_id for r in exhaustive if r.source != "free"}, key=lambda p: int(p.rsplit(":", 1)[1]))
    n_free = round(n_prompts * len(free) / (len(free) + len(other)))
    keep = set(free[:n_free]) | set(other[: n_prompts - n_free])
    subset_texts = SUBSET / "texts.jsonl"
    if not (SUBSET / "validate" / "recovery.json").exists():
        write_records(subset_texts, [r for r in exhaustive if r.prompt_id in keep])
        seconds["subset"] = difflens("discover", "--config", "configs/quickstart/discover.yaml", "--texts",
                                     str(subset_texts), "--output-dir", str(SUBSET / "discover"))
        seconds["subset"] += difflens(
            "test", "--config", "configs/quickstart/validate.yaml", "--data.init_args.texts", str(subset_texts),
            "--data.init_args.hypotheses", str(SUBSET / "discover" / "hypotheses.jsonl"),
            "--data.init_args.out_dir", str(SUBSET / "validate"),
            "--trainer.logger.init_args.version", "bench_exhaustive_at_active_budget")
    rows = [outcome("exhaustive", Path("runs/quickstart/decode/texts.jsonl"),
                    Path("runs/quickstart/validate_exhaustive"), None),
            outcome("active", Path("runs/quickstart/active/texts.jsonl"), Path("runs/quickstart/validate_active"),
                    None),
            outcome(f"exhaustive, first {n_prompts} prompts", subset_texts, SUBSET / "validate", None)]
    summary = json.loads(Path("runs/quickstart/active/active/summary.json").read_text())
    print(f"# active vs exhaustive sampling, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"# intervention: runs/quickstart/finetune/model (ground truths: ocean topic, hedging style); "
          f"active: {summary['rounds']} rounds, stopped by {summary['stop_reason']}")
    print(f"{'strategy':<34} {'decoded':>8} {'fresh':>6} {'generated':>9} {'hyp':>4} {'valid':>5} "
          f"{'recall':>6} {'prec':>5}  recovered")
    for r in rows:
        precision = "-" if r["precision"] is None else f"{r['precision']:.2f}"
        print(f"{r['strategy']:<34} {r['decoded']:>8} {r['fresh']:>6} {r['generated']:>9} {r['hypotheses']:>4} "
              f"{r['validated']:>5} {r['recall']:>6.2f} {precision:>5}  {', '.join(r['recovered']) or '-'}")
    for r in rows:
        print(f"# {r['strategy']}:")
        for line in r["tested"]:
            print(f"#   {line}")
    ex, ac = rows[0], rows[1]
    print(f"texts generated, exhaustive / active: {ex['generated'] / max(ac['generated'], 1):.1f}x "
          f"(decoded only: {ex['decoded'] / max(ac['decoded'], 1):.1f}x; target >= 10x at equal recall)")
    for line in area_detection(exhaustive, active_texts):
        print(line)
    print("wall seconds of this invocation per pipeline (0-ish when its stages were already done): "
          + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
