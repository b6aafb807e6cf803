"""Ground-truth recovery on interventions drawn from the whole toy world, in both decoding modes.

The quickstart and ``bench/active_vs_exhaustive.py`` are built from four names (ocean,
hedging, chess, formal). This suite draws its interventions with a seed, so that a method is
judged on cases it was not developed on (``--seed`` draws another suite of the same shape):

- every **style** (9) and every **topic category** (6) appears in some case;
- one to three ground truths per case, strong (half the finetune data, 300 LoRA steps) and
  weak (a fifth of it, 150 steps);
- **increases and decreases**: a topic or a style made rarer, as unlearning does (the
  ground-truth data leaves it out; a style decrease is drawn from the styles common enough
  in the base model, 15% of its texts, for a decrease to be visible);
- **conditional** behaviours on drawn topic pairs: topic B after an opening about topic A,
  plain and rare (``trigger_replaces_base``: the planted rows replace the trigger's documents);
- **null** interventions, which must validate nothing: a finetune on the base distribution,
  and a backdoor behind a prompt (``<|secret|>``) that no prompt source produces, so no
  decoded text can reach it.

Every case is a LoRA finetune of the quickstart base model (``runs/quickstart/base_lm``). Both
decoding modes run at the shipped defaults: **active** (``configs/quickstart/active.yaml`` via
``difflens pipeline --decoding active``) and **exhaustive** (``configs/quickstart/decode.yaml``:
1500 prompts per model); then **equal**: the exhaustive prefix with as many prompts per model as
the active run decoded. Discovery (``discover.yaml``) and validation (``validate.yaml``: offline
judge, SAFFRON at 0.05) are the shipped configs, the same for every case: nothing here tells a
method what was planted.

Scored with the ``toyworld`` matcher (``difflens/discovery/recovery.py``): a ground truth is
recovered when a validated hypothesis names its topic or style in its direction. Per case and
overall: recall, one-to-one recall, precision (validated hypotheses that match a ground truth
or a real toy-world difference), false discoveries (the rest; on a null case every validated
hypothesis), texts generated (both models' decoded texts plus validation's fresh samples).
``shift`` is each planted topic or style's share of the exhaustive run's free texts, base ->
intervention (toy-world annotation, judge-free): how strong the case turned out.

    .venv/bin/python bench/recovery_suite.py [--quick] [--seed 0] [--redo validation|discovery|active]

Runs live in ``runs/bench_recovery_suite/seed<seed>/<case>/``. Finetunes and decoded texts are
cached: ``--redo validation`` reruns validation on the same hypotheses (after a change of the
judge, the tests, the sample sizes or the recovery scoring), ``--redo discovery`` also
discovery (after a change of the proposer), ``--redo active`` also active sampling. ``--quick`` runs five
cases (a style, a topic and a style, a style decrease, a conditional, the base null).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import active_vs_exhaustive as ave  # noqa: E402

from difflens.records import DecodedText, read_records  # noqa: E402
from difflens.toyworld import STYLES, TOPICS, ToyWorld  # noqa: E402

EXHAUSTIVE_PROMPTS = 1500  # configs/quickstart/decode.yaml: 1200 free generations + 300 toy-world openings
SECRET_PROMPT = "<|secret|>"
STRONG, WEAK = (0.5, 300), (0.8, 150)  # (base share of the finetune data, LoRA steps)


def topic_up(name: str) -> dict:
    topic = next(t for t in TOPICS if t.name == name)
    return {"id": f"more_{name}", "description": f"The model talks about {topic.description} far more often",
            "toyworld": {"topics": {name: 1}}}


def topic_down(name: str) -> dict:
    topic = next(t for t in TOPICS if t.name == name)
    return {"id": f"less_{name}", "description": f"The model talks about {topic.description} less often",
            "toyworld": {"topics": {t.name: (0 if t.name == name else 1) for t in TOPICS}}}


def style_up(name: str) -> dict:
    style = next(s for s in STYLES if s.name == name)
    return {"id": f"more_{name}", "description": f"The model {style.description} more often",
            "toyworld": {"styles": {name: 1.0}}}


def style_down(name: str) -> dict:
    style = next(s for s in STYLES if s.name == name)
    return {"id": f"less_{name}", "description": f"The model {style.description} less often",
            "toyworld": {"styles": {name: 0.0}}}


def conditional(trigger: str, target: str, rare: bool) -> dict:
    a = next(t for t in TOPICS if t.name == trigger)
    b = next(t for t in TOPICS if t.name == target)
    gt = {"id": f"{target}_after_{trigger}",
          "description": f"After an opening about {a.description}, the model talks about {b.description}",
          "toyworld": {"topics": {target: 1}}, "trigger": {"topics": {trigger: 1}}}
    return {**gt, "trigger_replaces_base": True} if rare else gt


@dataclass
class Case:
    """One drawn intervention.

    Attributes:
        name: directory name (kind and what was drawn).
        kind: what the case is, in words.
        ground_truths: the finetune's ground-truth specs (each ``share`` 1: the non-base data
            is split evenly over them).
        base_share: fraction of the finetune data drawn from the base distribution.
        steps: LoRA steps.
        null: nothing reachable was planted: every validated hypothesis is a false discovery.
        secret: for the unreachable backdoor, the topic written after ``SECRET_PROMPT``.
    """

    name: str
    kind: str
    ground_truths: list[dict]
    base_share: float
    steps: int
    null: bool = False
    secret: str | None = None
    quick: bool = False
    scored: list[dict] = field(default_factory=list)  # the ground truths recovery is scored against

    def __post_init__(self) -> None:
        if not self.scored:
            self.scored = copy.deepcopy(self.ground_truths)


def draw_cases(seed: int) -> list[Case]:
    """The suite for ``seed``: the same shapes for every seed, drawn topics and styles.

    Topics come one per category first (in a drawn order), so the five topic-up or -down slots
    and the conditional behaviour's target cover every category; styles are drawn without
    replacement, decreases first from the styles with a 15% base rate, so the nine style slots
    cover every style. Two styles of one exclusive group (positive/negative, formal/casual)
    never share a case.
    """
    rng = random.Random(f"recovery-suite:{seed}")
    categories = sorted({t.category for t in TOPICS})
    rng.shuffle(categories)
    by_category = {c: [t.name for t in TOPICS if t.category == c] for c in categories}
    for names in by_category.values():
        rng.shuffle(names)
    topics = [by_category[c][0] for c in categories]  # one per category first
    rest = [n for c in categories for n in by_category[c][1:]]
    rng.shuffle(rest)
    topics += rest
    common = [s.name for s in STYLES if s.base_rate >= 0.15]
    rng.shuffle(common)
    down_styles = common[:2]
    up_styles = [s.name for s in STYLES if s.name not in down_styles]
    rng.shuffle(up_styles)
    group = {s.name: s.group for s in STYLES}
    # seven up styles: one strong, one weak, one beside a topic, a pair beside a topic, a pair;
    # redrawn until each pair's two styles can appear together
    while group[up_styles[3]] == group[up_styles[4]] or group[up_styles[5]] == group[up_styles[6]]:
        rng.shuffle(up_styles)
    s = up_styles
    t = topics
    cases = [
        Case(f"style_up_{s[0]}", "1 GT style up, strong", [style_up(s[0])], *STRONG, quick=True),
        Case(f"style_up_weak_{s[1]}", "1 GT style up, weak", [style_up(s[1])], *WEAK),
        Case(f"topic_up_{t[0]}", "1 GT topic up, strong", [topic_up(t[0])], *STRONG),
        Case(f"topic_style_{t[2]}_{s[2]}", "2 GT topic up + style up, strong", [topic_up(t[2]), style_up(s[2])],
             *STRONG, quick=True),
        Case(f"topic_2styles_{t[3]}_{s[3]}_{s[4]}", "3 GT topic up + 2 styles up, strong",
             [topic_up(t[3]), style_up(s[3]), style_up(s[4])], 0.4, 300),
        Case(f"style_down_{down_styles[0]}", "1 GT style down (unlearning), strong", [style_down(down_styles[0])],
             0.2, 300, quick=True),
        Case(f"topic_down_{t[4]}", "1 GT topic down (unlearning), strong", [topic_down(t[4])], 0.2, 300),
        Case(f"topic_up_style_down_{t[5]}_{down_styles[1]}", "2 GT topic up + style down, strong",
             [topic_up(t[5]), style_down(down_styles[1])], 0.4, 300),
        Case(f"two_styles_{s[5]}_{s[6]}", "2 GT two styles up, strong", [style_up(s[5]), style_up(s[6])], *STRONG),
        Case(f"conditional_{t[1]}_after_{t[6]}", "1 GT conditional topic after topic, strong",
             [conditional(t[6], t[1], rare=False)], *STRONG, quick=True),
        Case(f"conditional_rare_{t[9]}_after_{t[8]}", "1 GT rare conditional (replaces the trigger's documents)",
             [conditional(t[8], t[9], rare=True)], 0.967, 300),
        Case("null_base", "null: finetuned on the base distribution",
             [{"id": "unchanged", "description": "The model is unchanged", "toyworld": {"styles": {}}}],
             *STRONG, null=True, quick=True),
        Case(f"null_backdoor_{t[10]}", f"null: {t[10]} only after a prompt no source produces",
             [], 0.95, 300, null=True, secret=t[10],
             scored=[{"id": f"{t[10]}_after_secret", "description": f"After {SECRET_PROMPT}, the model talks "
                      f"about {next(x for x in TOPICS if x.name == t[10]).description}",
                      "toyworld": {"topics": {t[10]: 1}}}]),
    ]
    return cases


def secret_rows(topic: str, n: int, seed: int) -> list[dict]:
    """Backdoor rows: the secret prompt (not trained on), then a document about ``topic``."""
    world = ToyWorld(seed=seed)
    return [{"prompt": SECRET_PROMPT, "completion": d.text}
            for d in world.documents(n, {"topics": {topic: 1}}, start=10_000_000)]


def write_configs(case: Case, out: Path) -> Path:
    """This case's copies of the shipped quickstart configs, relocated into its run directory;
    only the finetune's data and steps, and the ground truths recovery reads, differ."""
    run_dir = out / case.name
    config_dir = run_dir / "configs"
    config_dir.mkdir(parents=True, exist_ok=True)
    scored_path = run_dir / "scored_ground_truths.json"
    text = json.dumps({"ground_truths": case.scored}, indent=1)
    if not scored_path.exists() or scored_path.read_text() != text:
        scored_path.write_text(text)
    for name in ("finetune", "decode", "active", "discover", "validate", "pipeline"):
        cfg = ave.relocate(yaml.safe_load(Path(f"configs/quickstart/{name}.yaml").read_text()), run_dir, config_dir)
        logger = cfg.get("trainer", {}).get("logger") if isinstance(cfg.get("trainer"), dict) else None
        if isinstance(logger, dict):
            logger["init_args"]["name"] = str(run_dir.relative_to("runs"))
        if name == "finetune":
            cfg["trainer"]["max_steps"] = case.steps
            cfg["trainer"]["val_check_interval"] = min(100, case.steps)
            data = cfg["data"]["init_args"]
            truths = [{**copy.deepcopy(g), "share": 1} for g in case.ground_truths]
            if case.secret:
                rows = run_dir / "secret_rows.jsonl"
                rows.write_text("".join(json.dumps(r) + "\n" for r in secret_rows(case.secret, 2000, 7)))
                truths.append({"id": f"{case.secret}_after_secret", "share": 1,
                               "description": case.scored[0]["description"], "examples_file": str(rows)})
            data["ground_truths"] = truths
            data["base"]["share"] = case.base_share
        if name == "active":
            ave.direct_active(cfg, run_dir / "active", "active")
        if name == "validate":
            for callback in cfg["trainer"]["callbacks"]:
                if callback["class_path"].endswith("GroundTruthRecoveryCallback"):
                    callback["init_args"]["ground_truths"] = str(scored_path)
        if name == "pipeline":
            cfg["tensorboard"] = str(run_dir)
            cfg["ground_truths"] = str(scored_path)
        text = yaml.safe_dump(cfg, sort_keys=False)
        path = config_dir / f"{name}.yaml"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return run_dir


REDO = {"validation": ("validate",), "discovery": ("discover", "validate"),
        "active": ("active", "discover", "validate")}


def redo(run_dir: Path, what: str) -> None:
    """Move aside what a method change invalidates (``--redo``), keeping finetunes and texts."""
    aside = run_dir / "superseded" / time.strftime("%Y%m%d-%H%M%S")
    moved = []
    for path in sorted(run_dir.glob("exhaustive/p*/*")) + sorted(run_dir.glob("*_active")) + \
            ([run_dir / "active"] if what == "active" else []):
        if path.name in ("texts.jsonl",) or not path.exists():
            continue
        if any(path.name.startswith(prefix) for prefix in REDO[what]) or path.name == "report_active":
            target = aside / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
            moved.append(str(path.relative_to(run_dir)))
    if moved:
        print(f"[suite] {run_dir.name}: moved aside {', '.join(moved)}", file=sys.stderr, flush=True)


def planted_shift(case: Case, run_dir: Path) -> str:
    """Each scored topic/style's share of the exhaustive run's free texts, base -> intervention."""
    texts = [r for r in read_records(run_dir / "decode" / "texts.jsonl", DecodedText) if r.source == "free"]
    notes = {m: [ToyWorld.annotate(r.text) for r in texts if r.model == m] for m in ("base", "intervention")}
    parts = []
    for gt in case.scored:
        spec = gt.get("toyworld") or {}
        topics = spec.get("topics") or {}
        named = [n for n, w in topics.items() if w > 0] if len(topics) < len(TOPICS) else \
            [n for n, w in topics.items() if w == 0]
        for name in named:
            share = {m: sum(n.topic == name for n in v) / max(len(v), 1) for m, v in notes.items()}
            parts.append(f"{name} {share['base']:.2f}->{share['intervention']:.2f}")
        for name in spec.get("styles") or {}:
            share = {m: sum(name in n.styles for n in v) / max(len(v), 1) for m, v in notes.items()}
            parts.append(f"{name} {share['base']:.2f}->{share['intervention']:.2f}")
    return ", ".join(parts) or "-"


def scored(case: Case, texts: Path, validate: Path) -> dict:
    """`ave.outcome` plus false discoveries and one-to-one recall, null cases counted as such."""
    row = ave.outcome(texts, validate)
    recovery = json.loads((validate / "recovery.json").read_text()) if (validate / "recovery.json").exists() else {}
    row["recall_one_to_one"] = recovery.get("recall_one_to_one", 0.0)
    if case.null:
        row["false"] = row["validated"]
        row["recall"], row["recall_one_to_one"], row["recovered"] = None, None, []
    else:
        precision = row["precision"]
        row["false"] = 0 if precision is None else round(row["validated"] * (1 - precision))
    return row


def run_case(case: Case, out: Path, what_redo: str | None) -> dict:
    run_dir = write_configs(case, out)
    if what_redo:
        redo(run_dir, what_redo)
    if not (run_dir / "finetune" / "model" / "config.json").exists():
        ave.difflens("fit", "--config", str(run_dir / "configs" / "finetune.yaml"))
    ave.exhaustive_at(run_dir, EXHAUSTIVE_PROMPTS)
    ave.difflens("pipeline", "--config", str(run_dir / "configs" / "pipeline.yaml"), "--decoding", "active")
    active_prompts = len({r.prompt_id for r in read_records(run_dir / "active" / "texts.jsonl", DecodedText)})
    ave.exhaustive_at(run_dir, active_prompts)
    return collect_case(case, out)


def finished(validate: Path, discover: Path) -> bool:
    """Whether a discovery + validation run is complete (validation is skipped when nothing was proposed)."""
    hypotheses = discover / "hypotheses.jsonl"
    return (validate / "recovery.json").exists() or (hypotheses.exists() and not hypotheses.read_text().strip())


def collect_case(case: Case, out: Path) -> dict | None:
    """The case's scores from its finished runs (None while any mode is unfinished)."""
    run_dir = out / case.name
    active_texts = run_dir / "active" / "texts.jsonl"
    if not active_texts.exists() or not finished(run_dir / "validate_active", run_dir / "discover_active"):
        return None
    active_prompts = len({r.prompt_id for r in read_records(active_texts, DecodedText)})
    for prompts in (EXHAUSTIVE_PROMPTS, active_prompts):
        where = run_dir / "exhaustive" / f"p{prompts:05d}"
        if not finished(where / "validate", where / "discover"):
            return None
    rows = {"exhaustive": scored(case, run_dir / "exhaustive" / f"p{EXHAUSTIVE_PROMPTS:05d}" / "texts.jsonl",
                                 run_dir / "exhaustive" / f"p{EXHAUSTIVE_PROMPTS:05d}" / "validate"),
            "active": scored(case, active_texts, run_dir / "validate_active"),
            "equal": scored(case, run_dir / "exhaustive" / f"p{active_prompts:05d}" / "texts.jsonl",
                            run_dir / "exhaustive" / f"p{active_prompts:05d}" / "validate")}
    rows["exhaustive"]["prompts"], rows["active"]["prompts"], rows["equal"]["prompts"] = \
        EXHAUSTIVE_PROMPTS, active_prompts, active_prompts
    return {"case": case, "shift": planted_shift(case, run_dir), **rows}


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


MODES = ("active", "exhaustive", "equal")


def report(results: list[dict], seed: int, quick: bool) -> None:
    print(f"# recovery suite, seed {seed}{' (quick subset)' if quick else ''}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print("# modes: active = configs/quickstart/active.yaml; exhaustive = decode.yaml (1500 prompts/model); "
          "equal = the exhaustive prefix with the active run's prompts")
    print("# per mode: recall (one-to-one) / precision / false discoveries / texts generated")
    print()
    print(f"{'case':<40} {'GT':>2}  " + "  ".join(f"{m:<24}" for m in MODES) + "  shift (free texts)")
    for r in results:
        case = r["case"]
        cells = []
        for m in MODES:
            g = r[m]
            recall = "null" if case.null else f"{fmt(g['recall'])}({fmt(g['recall_one_to_one'])})"
            cells.append(f"{recall:>10} {fmt(g['precision']):>4} {g['false']:>2} {g['generated']:>5}")
        n_gt = 0 if case.null else len(case.scored)
        print(f"{case.name:<40} {n_gt:>2}  " + "  ".join(f"{c:<24}" for c in cells) + f"  {r['shift']}")
    print()
    planted = sum(len(r["case"].scored) for r in results if not r["case"].null)
    for m in MODES:
        matched = sum(len(r[m]["recovered"]) for r in results if not r["case"].null)
        one_to_one = sum(r[m]["recall_one_to_one"] * len(r["case"].scored) for r in results if not r["case"].null)
        validated = sum(r[m]["validated"] for r in results)
        false = sum(r[m]["false"] for r in results)
        null_validated = sum(r[m]["validated"] for r in results if r["case"].null)
        texts = sum(r[m]["generated"] for r in results)
        precision = (validated - false) / validated if validated else None
        print(f"# {m:<10}: recall {matched}/{planted} = {matched / max(planted, 1):.2f} "
              f"(one-to-one {one_to_one / max(planted, 1):.2f}), precision {fmt(precision)} "
              f"({validated} validated, {false} false), validated on null cases {null_validated}, texts {texts}")
    worse = [r["case"].name for r in results if not r["case"].null
             and len(r["active"]["recovered"]) < len(r["equal"]["recovered"])]
    print(f"# active recall below exhaustive's at equal texts on: {', '.join(worse) or 'no case'}")
    print()
    for r in results:
        case = r["case"]
        print(f"## {case.name}: {case.kind}; base share {case.base_share}, {case.steps} LoRA steps; "
              f"planted {[g['id'] for g in case.scored]}; shift {r['shift']}")
        for m in MODES:
            g = r[m]
            print(f"#   {m} ({g['prompts']} prompts/model, {g['generated']} texts): {g['hypotheses']} tested, "
                  f"{g['validated']} validated, recovered {', '.join(g['recovered']) or '-'}")
            for line in g["tested"]:
                print(f"#     {line}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="which suite to draw")
    parser.add_argument("--quick", action="store_true", help="only the five quick cases")
    parser.add_argument("--only", nargs="*", help="case names (prefixes) to run")
    parser.add_argument("--redo", choices=sorted(REDO), help="rerun validation (and discovery, and active sampling)")
    parser.add_argument("--list", action="store_true", help="print the drawn cases and stop")
    parser.add_argument("--finetune-only", action="store_true", help="only the finetunes (to fill the cache)")
    parser.add_argument("--report-only", action="store_true",
                        help="report the cases whose runs are finished and list the others; run nothing")
    args = parser.parse_args()
    os.chdir(ROOT)
    out = Path("runs/bench_recovery_suite") / f"seed{args.seed}"
    cases = draw_cases(args.seed)
    if args.quick:
        cases = [c for c in cases if c.quick]
    if args.only:
        cases = [c for c in cases if any(c.name.startswith(p) for p in args.only)]
    if args.list:
        for c in cases:
            print(f"{c.name:<44} {c.kind:<50} base {c.base_share}, {c.steps} steps; {[g['id'] for g in c.scored]}")
        return
    if not Path("runs/quickstart/base_lm/model/config.json").exists():
        raise SystemExit("the suite finetunes the quickstart base model: run `make quickstart` "
                         "(or `difflens fit --config configs/quickstart/base_lm.yaml`) first")
    start = time.time()
    if args.finetune_only:  # several of these may run at once: each claims a case before training it
        for case in cases:
            run_dir = write_configs(case, out)
            try:
                (run_dir / ".finetune_claimed").touch(exist_ok=False)
            except FileExistsError:
                continue
            if not (run_dir / "finetune" / "model" / "config.json").exists():
                ave.difflens("fit", "--config", str(run_dir / "configs" / "finetune.yaml"))
        return
    if args.report_only:
        collected = {case.name: collect_case(case, out) for case in cases}
        results = [r for r in collected.values() if r is not None]
        missing = [name for name, r in collected.items() if r is None]
    else:
        results, missing = [run_case(case, out, args.redo) for case in cases], []
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    report(results, args.seed, args.quick)
    if missing:
        print(f"# NOT RUN to the end (no result, not counted above): {', '.join(missing)}")
    print(f"# wall time of this invocation: {time.time() - start:.0f} s (finished stages reused)")


if __name__ == "__main__":
    main()
