"""Discovery at scale: 10k to 2M texts per model, with the quickstart's discover config.

    nice .venv/bin/python bench/scale_discovery.py | tee bench/scale_discovery.txt
    .venv/bin/python bench/scale_discovery.py --sizes 10000 --baseline-sizes 10000   # quick look

Each point is `run_discovery` in its own subprocess (so peak RSS is that run's alone), with
``configs/quickstart/discover.yaml`` and only ``texts``, ``output_dir`` and
``embedding_cache`` changed. Reported: wall and CPU seconds, peak resident memory (the
child's ``ru_maxrss``: file pages of memory-mapped vectors count while they are resident),
bytes written under the output directory, the growth exponent of wall time and memory between
sizes (1 = linear), and a per-stage breakdown taken by wrapping the pipeline's module-level
functions from outside (the same wrappers for both codes; a name a code lacks is skipped).

Stand-ins, generated cheaply and named as such:

- **texts**: not decoded by a model. Toy-world sentences recombined: 20,000 toy-world
  documents per model are split into sentences, and each stand-in text joins 2-4 sentences of
  one topic drawn by its model's mixture (the intervention: ocean four times as likely, hedging
  in 40% of its documents). Every text is distinct.
- **vectors**: not MiniLM's. A unit vector per topic plus Gaussian noise, normalised, put in
  the embedding cache under each text's key before the run, so no text is embedded (MiniLM still
  loads once to embed the proposed hypotheses, in both codes). The new code's cache holds one
  part per model covering the largest size, in text order (what embedding the texts in order
  writes); a smaller size's texts are a prefix of it. The baseline reads its own format: one
  ``.npz`` part per model and size.

The baseline is the code at ``--baseline-ref`` (git archive into the work directory) with that
commit's ``configs/quickstart/discover.yaml``, run on the same texts and vectors at the sizes it
can afford; when both commits' configs are the same, the outputs of both codes
(``clusters.json``, ``hypotheses.jsonl``, ``proposal_text_ids.json``) are compared.
One BLAS/OpenMP thread unless ``--threads``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DIM = 384  # MiniLM's width
POOL_DOCUMENTS = 20_000
BLOCK = 10_000  # texts per seeded block of the stand-in data
BASELINE_REF = "aafcf6c"  # the code before issue 21

# (attribute of difflens.discovery.pipeline or a dotted path, stage label); both codes' names
STAGES = [
    ("read_records", "read texts"),
    ("read_text_columns", "read texts"),
    ("TextEmbedder.encode", "embedder"),
    ("TextEmbedder.matrix", "embedder"),
    ("difflens.discovery.matching.kmeans", "cluster"),
    ("match_clusters", "cluster+match"),
    ("propose_hypotheses", "propose"),
    ("toyworld_topics", "toy-world labels"),
    ("cluster_topics", "toy-world labels"),
    ("clusters_report", "report"),
    ("write_json", "write json"),
    ("write_clusters_json", "write json"),
    ("project_2d", "map"),
    ("plot_map", "map"),
    ("write_projector", "projector"),
]

# The child's stage timer, text that any code under test runs (bench/scale_active_validation.py
# uses it too): `timed(label, fn)` adds fn's wall and CPU seconds and the peak RSS so far to
# ``stages[label]``.
STAGE_TIMER = r"""
import importlib, json, sys, time

stages = {}

def status(field):  # a line of /proc/self/status in GiB (VmHWM: the peak resident memory so far)
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    return 0.0

active = set()

def timed(label, fn):
    def wrapper(*args, **kwargs):
        if label in active:  # a stage calling itself by another name (encode -> matrix) counts once
            return fn(*args, **kwargs)
        active.add(label)
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            active.discard(label)
            s = stages.setdefault(label, [0.0, 0.0, 0.0])
            s[0] += time.perf_counter() - t
            s[1] += time.process_time() - c
            s[2] = max(s[2], status("VmHWM"))
    return wrapper
"""

DRIVER = STAGE_TIMER + r"""
import yaml
import difflens.discovery.pipeline as P

for name, label in json.loads(sys.argv[2]):
    owner, attr = P, name
    if name.startswith("difflens."):
        module, attr = name.rsplit(".", 1)
        owner = importlib.import_module(module)
    elif "." in name:
        cls, attr = name.split(".")
        owner = getattr(P, cls, None)
    if owner is not None and hasattr(owner, attr):
        setattr(owner, attr, timed(label, getattr(owner, attr)))

try:  # the pipeline's "[discover]" lines go through logging; a baseline ref may print them instead
    from difflens.logs import configure_logging
    configure_logging()
except ImportError:
    pass
raw = yaml.safe_load(open(sys.argv[1]))
t0, c0 = time.perf_counter(), time.process_time()
try:  # the code under test reads configs through difflens.config; a baseline ref may predate it
    from difflens.config import config_from_mapping
    config = config_from_mapping(P.DiscoveryConfig, raw, sys.argv[1])
except ImportError:
    config = P.DiscoveryConfig.from_dict(raw)
P.run_discovery(config)
print("STAGES " + json.dumps({"stages": stages, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""


def text_key(text: str) -> str:  # the cache key both codes use
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def mixtures() -> dict[str, dict]:
    from difflens.toyworld import TOPICS

    ocean = {t.name: (4.0 if t.name == "ocean" else 1.0) for t in TOPICS}
    return {"base": {}, "intervention": {"topics": ocean, "styles": {"hedging": 0.4}}}


def sentence_pools(model: str, mixture: dict) -> dict[str, list[str]]:
    from difflens.toyworld import ToyWorld

    world = ToyWorld(seed=21)
    start = 0 if model == "base" else 10**7
    pools: dict[str, list[str]] = {}
    for doc in world.documents(POOL_DOCUMENTS, mixture, start=start):
        pools.setdefault(doc.topic, []).extend(re.split(r"(?<=[.!?])\s+", doc.text))
    return pools


def topic_weights(mixture: dict) -> tuple[list[str], np.ndarray]:
    from difflens.toyworld import TOPICS

    names = [t.name for t in TOPICS]
    w = np.array([mixture.get("topics", {}).get(n, 1.0) for n in names])
    return names, w / w.sum()


def generate(work: Path, n_max: int, baseline_sizes: list[int]) -> None:
    """Stand-in texts (``texts_all.jsonl``, ``n_max`` per model) and vectors: the new code's cache
    (one part per model) and a legacy ``.npz`` cache per baseline size. Text ``i`` depends on
    ``i`` alone (seeded by blocks of `BLOCK`), so a smaller size is a prefix of a larger one."""
    from difflens.discovery.embed import EmbeddingCache

    done = work / "data.json"
    state = json.loads(done.read_text()) if done.exists() else {}
    if state.get("n_max", 0) >= n_max and set(baseline_sizes) <= set(state.get("baseline", [])):
        return
    done.unlink(missing_ok=True)
    for old in work.glob("texts_*.jsonl"):
        old.unlink()
    centroids = np.random.default_rng(0).standard_normal((30, DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    cache = EmbeddingCache(work / "cache", "all-MiniLM-L6-v2")
    shutil.rmtree(cache.directory, ignore_errors=True)
    seen: set[bytes] = set()
    t0 = time.perf_counter()
    with (work / "texts_all.jsonl").open("w", encoding="utf-8") as f:
        for m, (model, mixture) in enumerate(mixtures().items()):
            pools = sentence_pools(model, mixture)
            names, weights = topic_weights(mixture)
            keys, topics = [], np.zeros(n_max, dtype=np.int64)
            for lo in range(0, n_max, BLOCK):
                rng = np.random.default_rng([m, lo // BLOCK])
                hi = min(lo + BLOCK, n_max)
                topics[lo:hi] = rng.choice(len(names), size=BLOCK, p=weights)[: hi - lo]
                lengths = rng.integers(2, 5, size=BLOCK)
                picks = rng.random((BLOCK, 4))
                for i in range(lo, hi):
                    pool = pools[names[topics[i]]]
                    chosen = (picks[i - lo, : lengths[i - lo]] * len(pool)).astype(int)
                    text = " ".join(pool[j] for j in chosen)
                    digest = hashlib.sha256(text.encode()).digest()[:16]
                    while digest in seen:  # every text distinct: redraw its sentences
                        text = " ".join(pool[j] for j in rng.integers(0, len(pool), size=lengths[i - lo]))
                        digest = hashlib.sha256(text.encode()).digest()[:16]
                    seen.add(digest)
                    keys.append(digest.hex())
                    f.write(f'{{"text_id": "{model}/free:{i}/0", "prompt_id": "free:{i}", "model": "{model}", '
                            f'"seed": {i}, "prompt": "", "text": {json.dumps(text)}, "n_tokens": 40, '
                            f'"source": "toyworld", "log_ratio": null}}\n')
            vectors = cache.open_part(len(keys), DIM)
            for lo in range(0, n_max, BLOCK):
                hi = min(lo + BLOCK, n_max)
                noise = np.random.default_rng([m, lo // BLOCK, 1]).standard_normal((BLOCK, DIM), dtype=np.float32)
                x = centroids[topics[lo:hi]] + 0.04 * noise[: hi - lo]
                vectors.array[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
            for n in baseline_sizes:  # the legacy format, for the baseline code
                legacy = work / f"legacy_cache_{n}" / cache.directory.name
                legacy.mkdir(parents=True, exist_ok=True)
                np.savez(legacy / f"part-{model}.npz", keys=np.asarray(keys[:n]),
                         vectors=np.asarray(vectors.array[:n]))
            vectors.commit(keys)
            print(f"# generated {n_max} {model} texts and vectors in {time.perf_counter() - t0:.0f} s", flush=True)
    done.write_text(json.dumps({"n_max": n_max, "baseline": baseline_sizes}))


def texts_file(work: Path, n: int) -> Path:
    """``texts_<n>.jsonl``: the first ``n`` texts of each model in ``texts_all.jsonl``."""
    path = work / f"texts_{n}.jsonl"
    if not path.exists():
        counts: dict[str, int] = {}
        with (work / "texts_all.jsonl").open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as out:
            for line in src:
                model = line[line.index('"model": "') + 10: line.index('", "seed"')]
                counts[model] = counts.get(model, 0) + 1
                if counts[model] <= n:
                    out.write(line)
    return path


def baseline_code(work: Path, ref: str) -> Path:
    root = work / f"code-{ref}"
    if not (root / "difflens").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def discover_config(ref: str | None) -> str:
    """The quickstart's discover config: this checkout's, or as it was at ``ref``."""
    if ref is None:
        return (REPO / "configs/quickstart/discover.yaml").read_text()
    return subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:configs/quickstart/discover.yaml"], check=True,
                          capture_output=True, text=True).stdout


def run_point(work: Path, code: Path, label: str, n: int, cache: Path, threads: int, config_text: str) -> dict:
    import yaml

    out = work / f"out-{label}-{n}"
    shutil.rmtree(out, ignore_errors=True)
    raw = yaml.safe_load(config_text)
    raw.update(texts=str(texts_file(work, n)), output_dir=str(out / "discover"), embedding_cache=str(cache))
    config = out / "discover.yaml"
    out.mkdir(parents=True)
    config.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(config), json.dumps(STAGES)], cwd=str(out), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    (out / "log.txt").write_text(log)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label} at {n} failed:\n{log[-3000:]}")
    inner = json.loads(next(line[7:] for line in log.splitlines() if line.startswith("STAGES ")))
    return {"label": label, "n": n, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_gib": usage.ru_maxrss / 2**20, "written": dir_bytes(out / "discover"), "stages": inner["stages"],
            "out": out / "discover", "log": [line for line in log.splitlines() if line.startswith("[discover]")]}


def results_of(out: Path) -> dict:
    clusters = json.loads((out / "clusters.json").read_text())
    return {"clusters.json": clusters, "hypotheses.jsonl": (out / "hypotheses.jsonl").read_text(),
            "proposal_text_ids.json": json.loads((out / "proposal_text_ids.json").read_text())}


def exponent(points: list[dict], key: str) -> str:
    rows = [f"{math.log(b[key] / a[key]) / math.log(b['n'] / a['n']):.2f}" for a, b in itertools.pairwise(points)]
    return " ".join(rows) or "-"


def report(points: list[dict]) -> None:
    labels = list(dict.fromkeys(p["label"] for p in points))
    names = list(dict.fromkeys(s for p in points for s in p["stages"]))
    print("\n| code | texts per model | wall s | CPU s | peak RSS GiB | written MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for p in points:
        print(f"| {p['label']} | {p['n']:,} | {p['wall']:.1f} | {p['cpu']:.1f} | {p['rss_gib']:.2f} | "
              f"{p['written'] / 1e6:.1f} |")
    print("\nGrowth exponent between consecutive sizes (log ratio of the figure over log ratio of n; 1 = linear):")
    for label in labels:
        ps = [p for p in points if p["label"] == label]
        print(f"- {label}: wall {exponent(ps, 'wall')}; peak RSS {exponent(ps, 'rss_gib')}")
    print("\nPer stage, wall s (nested stages are inside their parent: cluster inside cluster+match, "
          "toy-world labels inside report; embedder is every call to it: the vectors of the texts, and MiniLM "
          "loaded to embed the proposed hypotheses, inside propose); in brackets the peak RSS in GiB "
          "when the stage last ended:\n")
    print("| code | n | " + " | ".join(names) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
    for p in points:
        cells = [f"{p['stages'][s][0]:.1f} ({p['stages'][s][2]:.1f})" if s in p["stages"] else "" for s in names]
        print(f"| {p['label']} | {p['n']:,} | " + " | ".join(cells) + " |")
    for label in labels[1:]:
        for p in points:
            base = next((q for q in points if q["label"] == labels[0] and q["n"] == p["n"]), None)
            if p["label"] == label and base and p["n"] == base["n"]:
                print(f"\nAt {p['n']:,} per model, {label} against {labels[0]}: wall {base['wall'] / p['wall']:.1f}x "
                      f"faster, peak RSS {base['rss_gib'] / p['rss_gib']:.1f}x lower, "
                      f"{base['written'] / max(p['written'], 1):.0f}x fewer bytes written")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 2_000_000])
    parser.add_argument("--baseline-sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "difflens-scale-discovery"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep each run's outputs (they are large)")
    parser.add_argument("--data-size", type=int, default=0,
                        help="texts per model to generate (default: the largest size)")
    parser.add_argument("--generate-only", action="store_true", help="make the stand-in data and stop")
    parser.add_argument("--report-only", action="store_true",
                        help="print the tables from the points this work directory's last run measured")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes) | set(args.baseline_sizes))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {' '.join(['bench/scale_discovery.py', *sys.argv[1:]])}")
    print(f"# {platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{args.threads} BLAS thread(s), {time.strftime('%Y-%m-%d %H:%M')}")
    print("# stand-in texts: toy-world sentences recombined; stand-in vectors: topic direction + noise "
          "(see the docstring); config: configs/quickstart/discover.yaml", flush=True)
    saved = work / "points.jsonl"  # each point as it is measured: a run cut short still reports
    if args.report_only:
        report([json.loads(line) for line in saved.read_text().splitlines()])
        return
    generate(work, args.data_size or max(sizes), sorted(args.baseline_sizes))
    if args.generate_only:
        return
    saved.write_text("")
    points = []
    codes = []
    if args.baseline_sizes:
        codes.append((f"baseline {args.baseline_ref}", baseline_code(work, args.baseline_ref), args.baseline_sizes,
                      discover_config(args.baseline_ref)))
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    codes.append((f"this code ({head})", REPO, sizes, discover_config(None)))
    # Each code runs with the discover config of its own commit; outputs are compared only
    # when the two configs are the same (a stage added to the config changes the hypotheses).
    same_config = len({c[3] for c in codes}) == 1
    if not same_config:
        print(f"# the baseline runs {args.baseline_ref}'s configs/quickstart/discover.yaml, which differs from "
              "this checkout's: outputs are not compared", flush=True)
    for n in sizes:
        for label, code, code_sizes, config_text in codes:
            if n not in code_sizes:
                continue
            cache = work / f"legacy_cache_{n}" if code != REPO else work / "cache"
            point = run_point(work, code, label, n, cache, args.threads, config_text)
            print(f"# {label} at {n:,}: {point['wall']:.1f} s wall, {point['cpu']:.1f} s CPU, "
                  f"{point['rss_gib']:.2f} GiB peak, {point['written'] / 1e6:.1f} MB written", flush=True)
            for line in point["log"]:
                if "projector" in line or "differ" in line:
                    print(f"#   {line}", flush=True)
            points.append(point)
            with saved.open("a") as f:
                f.write(json.dumps({k: v for k, v in point.items() if k != "out"}) + "\n")
        same = [p for p in points if p["n"] == n]
        if len(same) == 2 and same_config:
            a, b = (results_of(p["out"]) for p in same)
            verdict = {name: "same" if a[name] == b[name] else "DIFFERENT" for name in a}
            print(f"# outputs at {n:,}: " + ", ".join(f"{k} {v}" for k, v in verdict.items()), flush=True)
        if not args.keep:
            for p in same:
                shutil.rmtree(p["out"], ignore_errors=True)
    report(points)


if __name__ == "__main__":
    main()
