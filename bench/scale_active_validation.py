"""Active sampling and validation at scale: 10k to 1M texts per model, measured as bench/scale_discovery.py does.

    nice .venv/bin/python bench/scale_active_validation.py | tee bench/scale_active_validation.txt
    .venv/bin/python bench/scale_active_validation.py --sizes 10000 --baseline-sizes 10000   # quick look

The stand-in data are bench/scale_discovery.py's, made by its generator (imported, not copied):

- **texts**: not decoded by a model. Toy-world sentences recombined, distinct, ``free:<i>``
  prompts; the base and intervention texts of prompt ``free:<i>`` share its prompt id and seed
  ``i``, so each is a same-prompt pair for the paired plan.
- **vectors**: not MiniLM's. A unit vector per topic plus Gaussian noise, put in the embedding
  cache under each text's key, so no text is embedded by a model.

Two measurements per size, each in its own subprocess (peak RSS is that run's alone):

1. **Validation plan**: `HypothesisValidationDataModule.setup("test")` on a texts.jsonl of
   that size, with the quickstart's validate settings as far as they apply without a judge:
   ``paired`` (the quickstart's test is paired), ``exclude_proposal_texts: all``, seed 0, and
   a fixed ``n_per_model`` (``--n-per-model``, 300) in place of ``auto`` (which needs the
   judge). Four hypotheses, each with 40 proposal text ids per model.
2. **Active sampling rounds**: rank 0's side of `cli.decoding.sample_actively` driven by hand
   (`RoundPlanner.next`, then `ActivePromptDataModule.start_round`) with a real
   `ActiveSampler` (its `ActivePlanner`, cached `TextEmbedder`, offline assistant) and the
   quickstart's active settings, but no language model, trainer or LightningCLI: the seed
   round is the size's texts already written (``texts.jsonl``, prompts ``free:<i>``), and
   each planned round is "decoded" by appending the next unused stand-in texts of each model
   to the writer's shard under the planned prompts' ids (a code from before that loop is
   driven through ``ActivePromptDataModule.rounds()`` and a stand-in trainer instead). So the
   measured round is what happens between two rounds of a real run: reading back the texts so
   far, embedding them (from the cache), clustering, stability, scoring and prompt building.
   ``budget`` is raised above the size and ``patience`` to 100 so that no round stops early;
   ``--rounds`` (3) rounds are planned and the resident memory after each is reported.

Reported as bench/scale_discovery.py does: wall and CPU seconds and peak resident memory of
the subprocess (``ru_maxrss``), the growth exponent between sizes (1 = linear), and a per-stage
breakdown taken by wrapping functions from outside (the same wrappers for both codes; a name a
code lacks is skipped). The subprocess's wall time includes importing torch and Lightning
(about 8 s); ``setup s`` and ``round s`` do not.

The baseline is the code at ``--baseline-ref`` (git archive into the work directory), run on
the same data at ``--baseline-sizes`` (validation) and ``--baseline-active-sizes`` (active
rounds; 10k only, since its distance arrays outgrow the machine above that); where both codes
ran, the plan (``plan.jsonl``) and the round plans (``active/round_*.json``) are compared by
digest. One BLAS/OpenMP thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import scale_discovery as SD  # noqa: E402  (the stand-in data's generator)

BASELINE_REF = "83792ba"  # main before this benchmark
EXTRA = 1_000  # stand-in texts per model beyond the largest size: the "decoded" texts of active rounds

# Shared by both drivers: wrap module-level functions and methods by "module:qualname" to time them.
PRELUDE = SD.STAGE_TIMER + r"""
def wrap(spec):
    for path, label in spec:
        module, qualname = path.split(":")
        try:
            owner = importlib.import_module(module)
        except ImportError:
            continue
        *outer, attr = qualname.split(".")
        for name in outer:
            owner = getattr(owner, name, None)
        if owner is not None and hasattr(owner, attr):
            setattr(owner, attr, timed(label, getattr(owner, attr)))

args = json.loads(sys.argv[1])
wrap(args["stages"])
"""

VALIDATION_DRIVER = PRELUDE + r"""
import hashlib
from datamodules.validation import HypothesisValidationDataModule

data = HypothesisValidationDataModule(texts=args["texts"], hypotheses=args["hypotheses"], out_dir=args["out_dir"],
                                      n_per_model=args["n_per_model"], exclude_proposal_texts="all", seed=0,
                                      batch_size=16, paired=True)
t0, c0 = time.perf_counter(), time.process_time()
data.setup("test")
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
plan = open(args["out_dir"] + "/plan.jsonl", "rb").read()
print("RESULT " + json.dumps({"stages": stages, "wall": wall, "cpu": cpu, "tasks": len(data.tasks),
                              "reference": {m: len(v) for m, v in data.reference_texts.items()},
                              "digest": hashlib.sha256(plan).hexdigest()[:12]}))
"""

ACTIVE_DRIVER = PRELUDE + r"""
import gc
import hashlib
import inspect
from dataclasses import asdict
from pathlib import Path

from callbacks.decoded_text_writer import DecodedTextWriter
from datamodules.active_prompts import ActivePromptDataModule
from difflens.models import ModelSpec
from difflens.records import MODELS, DecodedText
from lightning_modules.active_sampling import ActiveSampler

run_dir = Path(args["run_dir"])
extra = {m: [] for m in MODELS}  # the stand-in texts each planned prompt is "decoded" into, in order
for line in open(args["extra"], encoding="utf-8"):
    row = json.loads(line)
    extra[row["model"]].append(row["text"])

# a baseline from before the per-side ModelSpec takes the two models' names
if "base" in inspect.signature(ActiveSampler).parameters:
    models = (ModelSpec("stand-in base"), ModelSpec("stand-in intervention"))
else:
    models = ("stand-in base", "stand-in intervention")
sampler = ActiveSampler(*models, active=args["active"], assistant={"backend": "offline"})
data = ActivePromptDataModule(free=args["n"], seed=0, batch_size=64)
t0, c0 = time.perf_counter(), time.process_time()
data.setup("predict")
data.exclude({job.key for job in data.jobs})  # the seed round is written already (texts.jsonl)
setup_wall = time.perf_counter() - t0
shard = run_dir / "shards" / "rank0.jsonl"
shard.parent.mkdir(parents=True, exist_ok=True)
used = 0


def decode(jobs):  # "decode" a batch: both models, the next stand-in texts
    global used
    with shard.open("a", encoding="utf-8") as f:
        for job in jobs:
            for model in MODELS:
                text = DecodedText(f"{model}/{job.key}", job.prompt_id, model, job.seed, job.prompt,
                                   extra[model][used], 40, job.source)
                f.write(json.dumps(asdict(text), ensure_ascii=False) + "\n")
            used += 1


def measured(planned, mark):
    gc.collect()
    return {"round": planned, "wall": time.perf_counter() - mark[0], "cpu": time.process_time() - mark[1],
            "rss": status("VmRSS"), "hwm": status("VmHWM")}


rounds = []
try:
    from cli.decoding import RoundPlanner
except ImportError:  # the code before the explicit round loop: rounds() with a barrier batch between rounds
    RoundPlanner = None
if RoundPlanner is not None:  # what sample_actively does between two rounds, on rank 0
    planner = RoundPlanner(sampler, run_dir, {job.key for job in data.jobs}, data.seed, loggers=[])
    for planned in range(1, args["rounds"] + 1):
        mark = (time.perf_counter(), time.process_time())
        step = planner.next(planned)
        if not step["stop"]:
            data.start_round(planned, step["prompts"], step["done"])
            batches = data.batches()
        rounds.append(measured(planned, mark))
        if step["stop"]:
            break
        for jobs in batches:
            decode(jobs)
else:
    class StandInTrainer:  # what rounds() asks of the trainer: one process, the writer, the sampler
        world_size = 1

        def __init__(self, sampler):
            self.callbacks = [DecodedTextWriter(str(run_dir))]
            self.lightning_module = sampler

    data.trainer = StandInTrainer(sampler)
    planned, mark = 0, None
    for item in data.rounds():
        if mark is not None:  # the first item after a barrier: the next round was planned
            planned += 1
            rounds.append(measured(planned, mark))
            mark = None
            if planned == args["rounds"]:
                break
        if not item["jobs"]:
            mark = (time.perf_counter(), time.process_time())
            continue
        decode(item["jobs"])
digest = hashlib.sha256()
for path in sorted((run_dir / "active").glob("round_*.json")):
    digest.update(path.read_bytes())
print("RESULT " + json.dumps({"stages": stages, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                              "setup": setup_wall, "rounds": rounds, "digest": digest.hexdigest()[:12]}))
"""

VALIDATION_STAGES = [
    ("datamodules.validation:read_records", "read texts"),
    ("datamodules.validation:read_text_columns", "read texts"),
    ("datamodules.validation:check_references", "check ids"),
    ("datamodules.validation:allocate", "allocate"),
    ("datamodules.validation:write_plan", "write plan"),
    ("datamodules.validation:HypothesisValidationDataModule._reference_texts", "reference sample"),
]

ACTIVE_STAGES = [
    ("callbacks.decoded_text_writer:collect", "read texts so far"),
    ("callbacks.decoded_text_writer:WrittenTexts.update", "read texts so far"),
    ("callbacks.decoded_text_writer:finished_keys", "finished keys"),
    ("difflens.active.planner:ActivePlanner.plan", "plan"),
    ("difflens.discovery.embed:TextEmbedder.encode", "embed (cache)"),
    ("difflens.discovery.embed:TextEmbedder.matrix", "embed (cache)"),
    ("difflens.active.planner:match_clusters", "cluster+match"),
    ("difflens.active.planner:reference_labels", "stability labels"),
    ("difflens.active.planner:boundary_uncertainty", "boundary uncertainty"),
    ("difflens.active.planner:score_areas", "score areas"),
    ("difflens.active.planner:targeted_prompts", "build prompts"),
    ("difflens.active.planner:ActivePlanner._paraphrases", "paraphrases"),
]


def hypotheses_file(work: Path, n: int) -> Path:
    """Four hypotheses (two each way), each with 40 proposal text ids per model drawn from the first ``n``."""
    import random

    path = work / f"hypotheses_{n}.jsonl"
    statements = [("intervention", "Texts from the intervention model mention the ocean more often"),
                  ("intervention", "Texts from the intervention model hedge more"),
                  ("base", "Texts from the base model mention chess more often"),
                  ("base", "Texts from the base model are more formal")]
    rng = random.Random(f"hypotheses:{n}")
    with path.open("w", encoding="utf-8") as f:
        for order, (direction, statement) in enumerate(statements):
            ids = [f"{model}/free:{i}/0" for model in ("base", "intervention") for i in rng.sample(range(n), 40)]
            f.write(json.dumps({"hypothesis_id": f"h{order + 1:04d}", "order": order, "text": statement,
                                "direction": direction, "cluster_ids": [order], "proposal_text_ids": ids,
                                "score": 1.0}) + "\n")
    return path


def extra_file(work: Path, n: int) -> Path:
    """``extra_<n>.jsonl``: per model, the `EXTRA` stand-in texts after the first ``n`` (in the cache too)."""
    path = work / f"extra_{n}.jsonl"
    if not path.exists():
        with (work / "texts_all.jsonl").open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as out:
            for line in src:
                head = line[: line.index('", "model"')]
                i = int(head[head.index("free:") + 5: head.rindex("/")])
                if n <= i < n + EXTRA:
                    out.write(line)
    return path


def active_settings(work: Path, n: int) -> dict:
    """The quickstart's active settings, with the budget above ``n`` and patience out of reach."""
    import yaml

    raw = yaml.safe_load((REPO / "configs/quickstart/active.yaml").read_text())
    active = dict(raw["model"]["init_args"]["active"])
    active.update(budget=n + 100 * EXTRA, patience=100, embedding_cache=str(work / "cache"))
    return active


def run_driver(driver: str, code: Path, args: dict, cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           **{v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", driver, json.dumps(args)], cwd=str(cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    (cwd / "log.txt").write_text(log)
    if os.waitstatus_to_exitcode(status) != 0:
        return {"failed": log[-1500:], "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                "rss_gib": usage.ru_maxrss / 2**20}
    inner = json.loads(next(line[7:] for line in log.splitlines() if line.startswith("RESULT ")))
    return {**inner, "inner_wall": inner["wall"], "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_gib": usage.ru_maxrss / 2**20}


def validation_point(work: Path, code: Path, label: str, n: int, n_per_model: int) -> dict:
    out = work / f"validate-{label.split()[-1].strip('()')}-{n}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    args = {"texts": str(SD.texts_file(work, n)), "hypotheses": str(hypotheses_file(work, n)),
            "out_dir": str(out / "validate"), "n_per_model": n_per_model, "stages": VALIDATION_STAGES}
    point = run_driver(VALIDATION_DRIVER, code, args, out)
    shutil.rmtree(out, ignore_errors=True)
    return {"part": "validation", "label": label, "n": n, **point}


def active_point(work: Path, code: Path, label: str, n: int, rounds: int) -> dict:
    out = work / f"active-{label.split()[-1].strip('()')}-{n}"
    shutil.rmtree(out, ignore_errors=True)
    run_dir = out / "active"
    run_dir.mkdir(parents=True)
    shutil.copyfile(SD.texts_file(work, n), run_dir / "texts.jsonl")  # the seed round, written and merged
    args = {"run_dir": str(run_dir), "extra": str(extra_file(work, n)), "n": n, "rounds": rounds,
            "active": active_settings(work, n), "stages": ACTIVE_STAGES}
    point = run_driver(ACTIVE_DRIVER, code, args, out)
    shutil.rmtree(out, ignore_errors=True)
    return {"part": "active", "label": label, "n": n, **point}


def exponent(points: list[dict], key: str) -> str:
    ok = [p for p in points if "failed" not in p]
    return SD.exponent(ok, key) if len(ok) > 1 else "-"


def stage_table(points: list[dict]) -> None:
    names = list(dict.fromkeys(s for p in points for s in p.get("stages", {})))
    print("| code | n | " + " | ".join(names) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
    for p in points:
        cells = [f"{p['stages'][s][0]:.1f} ({p['stages'][s][2]:.1f})" if s in p.get("stages", {}) else ""
                 for s in names]
        print(f"| {p['label']} | {p['n']:,} | " + " | ".join(cells) + " |")


def report(points: list[dict]) -> None:
    for part in ("validation", "active"):
        ps = [p for p in points if p["part"] == part]
        if not ps:
            continue
        labels = list(dict.fromkeys(p["label"] for p in ps))
        if part == "validation":
            print("\n## Validation plan: HypothesisValidationDataModule.setup('test'), paired, fixed n per model\n")
            print("| code | texts per model | wall s (process) | setup s | CPU s | peak RSS GiB | tasks | "
                  "plan digest |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for p in ps:
                if "failed" in p:
                    print(f"| {p['label']} | {p['n']:,} | {p['wall']:.1f} | failed | {p['cpu']:.1f} | "
                          f"{p['rss_gib']:.2f} | | |")
                    continue
                print(f"| {p['label']} | {p['n']:,} | {p['wall']:.1f} | {p['inner_wall']:.1f} | {p['cpu']:.1f} | "
                      f"{p['rss_gib']:.2f} | {p['tasks']} | {p['digest']} |")
        else:
            print("\n## Active sampling: rounds planned from the texts so far (planner driven without a language "
                  "model)\n")
            print("Per round: wall s from the end of one round to the first batch of the next (reading back, "
                  "embedding, planning), and the resident memory after it (GiB, after gc).\n")
            width = max(len(p.get("rounds", [])) for p in ps)
            head = " | ".join(f"round {r + 1} s | RSS after {r + 1}" for r in range(width))
            print(f"| code | texts per model | {head} | process wall s | CPU s | peak RSS GiB | rounds digest |")
            print("| --- | --- | " + " | ".join("--- | ---" for _ in range(width)) + " | --- | --- | --- | --- |")
            for p in ps:
                if "failed" in p:
                    cells = " | ".join("failed | " for _ in range(width))
                    print(f"| {p['label']} | {p['n']:,} | {cells} | {p['wall']:.1f} | {p['cpu']:.1f} | "
                          f"{p['rss_gib']:.2f} | |")
                    continue
                cells = " | ".join(f"{r['wall']:.1f} | {r['rss']:.2f}" for r in p["rounds"])
                print(f"| {p['label']} | {p['n']:,} | {cells} | {p['wall']:.1f} | {p['cpu']:.1f} | "
                      f"{p['rss_gib']:.2f} | {p['digest']} |")
            for p in ps:
                if "failed" not in p:
                    p["round1"] = p["rounds"][0]["wall"]
        print("\nGrowth exponent between consecutive sizes (log ratio of the figure over log ratio of n; "
              "1 = linear):")
        for label in labels:
            mine = [p for p in ps if p["label"] == label]
            key = "inner_wall" if part == "validation" else "round1"
            print(f"- {label}: {'setup' if part == 'validation' else 'round 1'} wall {exponent(mine, key)}; "
                  f"peak RSS {exponent(mine, 'rss_gib')}")
        print("\nPer stage, wall s summed over the run (in brackets the peak RSS in GiB when the stage last "
              "ended)" + (": every round's, nested stages inside `plan`" if part == "active" else "") + ":\n")
        stage_table([p for p in ps if "failed" not in p])
        for p in ps:
            if "failed" in p:
                print(f"\n{p['label']} at {p['n']:,} failed: {p['failed'].strip().splitlines()[-1]}")
        for n in sorted({p["n"] for p in ps}):
            same = [p for p in ps if p["n"] == n and "failed" not in p]
            if len(same) == 2:
                a, b = same
                print(f"\nAt {n:,} per model: {'same' if a['digest'] == b['digest'] else 'DIFFERENT'} "
                      f"{'plan' if part == 'validation' else 'round plans'} in both codes; {b['label']} against "
                      f"{a['label']}: wall {a['wall'] / b['wall']:.1f}x faster, peak RSS "
                      f"{a['rss_gib'] / b['rss_gib']:.1f}x lower")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--baseline-sizes", type=int, nargs="*", default=[10_000, 100_000],
                        help="sizes of the baseline's validation plans")
    parser.add_argument("--baseline-active-sizes", type=int, nargs="*", default=[10_000],
                        help="sizes of the baseline's active rounds: above 10k its (texts x clusters x width) "
                             "distance arrays (12 GB at 100k per model, 120 GB at 1M) do not fit")
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--parts", nargs="+", default=["validation", "active"], choices=["validation", "active"])
    parser.add_argument("--n-per-model", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "difflens-scale-active"))
    parser.add_argument("--data-size", type=int, default=0,
                        help="texts per model to generate (default: the largest size plus the active rounds' texts)")
    parser.add_argument("--report-only", action="store_true",
                        help="print the tables from the points this work directory's last run measured")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes) | set(args.baseline_sizes) | set(args.baseline_active_sizes))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {' '.join(['bench/scale_active_validation.py', *sys.argv[1:]])}")
    print(f"# {platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}, 1 BLAS thread, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print("# stand-in texts: toy-world sentences recombined; stand-in vectors: topic direction + noise, in the "
          "embedding cache (bench/scale_discovery.py's generator); no language model, no judge", flush=True)
    saved = work / "points.jsonl"
    if args.report_only:
        report([json.loads(line) for line in saved.read_text().splitlines()])
        return
    SD.generate(work, args.data_size or max(sizes) + EXTRA, [])
    saved.write_text("")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    baseline = (f"baseline {args.baseline_ref}", SD.baseline_code(work, args.baseline_ref)) \
        if args.baseline_sizes or args.baseline_active_sizes else None
    points = []
    for part in args.parts:
        codes = [(f"this code ({head})", REPO, sizes)]
        if baseline:
            codes.insert(0, (*baseline, args.baseline_sizes if part == "validation" else args.baseline_active_sizes))
        for n in sizes:
            for label, code, code_sizes in codes:
                if n not in code_sizes:
                    continue
                point = (validation_point(work, code, label, n, args.n_per_model) if part == "validation"
                         else active_point(work, code, label, n, args.rounds))
                outcome = "failed" if "failed" in point else f"{point['digest']}"
                print(f"# {part}, {label} at {n:,}: {point['wall']:.1f} s wall, {point['cpu']:.1f} s CPU, "
                      f"{point['rss_gib']:.2f} GiB peak; {outcome}", flush=True)
                points.append(point)
                with saved.open("a") as f:
                    f.write(json.dumps(point) + "\n")
    report(points)


if __name__ == "__main__":
    main()
