"""``report.md`` of a pipeline run: what was generated, what was validated, what was recovered.

Reads the stages' outputs (decoded texts, the active-sampling summary, SAFFRON results,
recovery, weight-difference plots, the cluster map) and writes one Markdown file with plots
beside it. Missing outputs are reported as missing, never invented.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from difflens.files import atomic_path, write_text
from difflens.pipeline import PipelineConfig
from difflens.validation.fdr_stream import claim


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def text_counts(path: Path) -> Counter:
    """Texts per model in a ``texts.jsonl`` (or fresh-samples) file."""
    return Counter(row["model"] for row in _rows(path))


def plot_saffron_levels(rows: list[dict], path: Path) -> None:
    """p_t and α_t of every tested hypothesis in order, rejections marked (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    t = [r["t"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.step(t, [r["alpha_t"] for r in rows], where="mid", label="α_t (test level)", color="tab:blue")
    colours = ["tab:red" if r["rejected"] else "tab:gray" for r in rows]
    ax.scatter(t, [max(r["p_value"], 1e-12) for r in rows], c=colours,
               label="p_t (red: validated)", zorder=3)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("hypothesis (proposal order)")
    ax.set_ylabel("level / p-value")
    ax.set_title(f"{rows[0]['method'] if rows else 'online FDR'}: {sum(r['rejected'] for r in rows)} of {len(rows)} "
                 f"validated")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _link(target: Path, report_dir: Path) -> str:
    return os.path.relpath(target, report_dir)


def themes_section(validated: list[dict]) -> list[str]:
    """The report's "Recurring themes": validated hypotheses grouped by meaning
    (`difflens.validation.themes`)."""
    from difflens.discovery.recovery import default_embedder
    from difflens.validation.themes import recurring_themes

    themes = recurring_themes(validated, default_embedder())
    lines = ["## Recurring themes", "",
             f"{len(validated)} validated hypotheses make {len(themes)} distinct claims (statements about one "
             f"model at MiniLM cosine 0.7 or more on average are one theme, named by its most central one).", "",
             "| theme | hypotheses | smallest p |", "|---|---|---|"]
    lines += [f"| {t.statement} | {', '.join(t.hypothesis_ids)} | {t.p_value:.2e} |" for t in themes]
    return [*lines, ""]


def write_report(config: PipelineConfig, timings: dict[str, float] | None = None) -> Path:
    """Write ``config.report`` (and ``saffron_levels.png`` beside it); returns its path."""
    report = config.path(config.report)
    out = report.parent
    out.mkdir(parents=True, exist_ok=True)
    decode_dir = config.path(config.decode_dir)
    validate_dir = config.path(config.validate_dir) if config.validate_dir else None
    lines = [f"# difflens report ({config.decoding} decoding)", ""]
    lines += texts_section(decode_dir, validate_dir)
    lines += active_sampling_section(decode_dir / "active")
    lines += discoveries_section(config, validate_dir, out)
    lines += recovery_section(config, validate_dir)
    lines += plots_section(config, out)
    if timings:
        lines += stages_section(timings)
    lines += [f"TensorBoard: `tensorboard --logdir {config.tensorboard}`", ""]
    write_text(report, "\n".join(lines))
    return report


def texts_section(decode_dir: Path, validate_dir: Path | None) -> list[str]:
    """The "Texts generated" section: per model, by the decoding stage and by validation's fresh samples."""
    decoded = text_counts(decode_dir / "texts.jsonl")
    fresh = Counter()
    if validate_dir:  # continuations of conditional hypotheses' prompts and the paired test's pairs count too
        for name in ("fresh_texts.jsonl", "condition_texts.jsonl", "fresh_pairs.jsonl", "condition_pairs.jsonl"):
            fresh += text_counts(validate_dir / name)
    return ["## Texts generated", "",
            "| stage | base | intervention | total |", "|---|---|---|---|",
            f"| decoding ({decode_dir}) | {decoded['base']} | {decoded['intervention']} | {sum(decoded.values())} |",
            f"| validation, fresh samples | {fresh['base']} | {fresh['intervention']} | {sum(fresh.values())} |",
            f"| **all** | {decoded['base'] + fresh['base']} | {decoded['intervention'] + fresh['intervention']} | "
            f"**{sum(decoded.values()) + sum(fresh.values())}** |", ""]


def active_sampling_section(active_dir: Path) -> list[str]:
    """Active sampling's rounds and why it stopped (nothing after exhaustive decoding)."""
    summary = _json(active_dir / "summary.json")
    if not summary:
        return []
    lines = [f"Active sampling: {summary['rounds']} rounds after the seed round, stopped by "
             f"**{summary['stop_reason']}** at {summary['texts_per_model']} texts per model.", "",
             "| round | texts per model | max abs h | divergent areas | ARI | top set changed | next prompts |",
             "|---|---|---|---|---|---|---|"]
    for plan in sorted(active_dir.glob("round_*.json")):
        m = _json(plan)
        ari = "-" if m["ari"] is None else f"{m['ari']:.3f}"
        lines.append(f"| {m['round']} | {m['texts_per_model']} | {m['max_abs_h']:.3f} | {m['n_divergent']} | "
                     f"{ari} | "
                     f"{'yes' if m['top_changed'] else 'no'} | {len(m['prompts']) or m.get('stop_reason')} |")
    return [*lines, ""]


def discoveries_section(config: PipelineConfig, validate_dir: Path | None, out: Path) -> list[str]:
    """The "Validated discoveries" section in proposal order, with the SAFFRON levels plot
    (written to ``out``) and, for more than one, their recurring themes; or why there are none."""
    rows = _rows(validate_dir / "saffron_results.jsonl") if validate_dir else []
    validated = [r for r in rows if r["rejected"]]
    lines = ["## Validated discoveries", ""]
    hypotheses = config.path(config.discover_dir) / "hypotheses.jsonl" if config.discover_dir else None
    if not rows and hypotheses is not None and hypotheses.exists() and not _rows(hypotheses):
        return [*lines, "Discovery proposed no hypotheses: no cluster pair or global contrast differed enough, so "
                        "nothing was validated.", ""]
    if not rows:
        return [*lines, "No validation results (the validation stage has not run).", ""]
    lines += [f"{len(validated)} of {len(rows)} hypotheses validated by {rows[0]['method']} at "
              f"α = {rows[0].get('alpha')}, in proposal order.", "",
              "| t | hypothesis | n | AUC | p | α_t |", "|---|---|---|---|---|---|"]
    for r in validated:
        auc = "-" if r.get("auc") is None else f"{r['auc']:.3f}"
        lines.append(f"| {r['t']} | {claim(r)} | {r['n']} | {auc} | {r['p_value']:.2e} | {r['alpha_t']:.2e} |")
    lines.append("")
    plot_saffron_levels(rows, out / "saffron_levels.png")
    lines += ["![SAFFRON levels](saffron_levels.png)", ""]
    if len(validated) > 1:
        lines += themes_section(validated)
    return lines


def recovery_section(config: PipelineConfig, validate_dir: Path | None) -> list[str]:
    """The "Ground-truth recovery" section: recall, precision and each ground truth's matched
    hypotheses; or why recovery is not scored."""
    recovery = _json(validate_dir / "recovery.json") if validate_dir else None
    truths = _json(config.path(config.ground_truths)) if config.ground_truths else None
    lines = ["## Ground-truth recovery", ""]
    if recovery is None and not config.ground_truths:
        return [*lines, "No ground truths were given (an audit of models whose changes are unknown), so recovery "
                        "is not scored: the validated discoveries above are the result.", ""]
    if recovery is None:
        return [*lines, "No recovery score (the validation stage has not run).", ""]
    precision = "-" if recovery["precision"] is None else f"{recovery['precision']:.2f}"
    lines += [f"**Recall {recovery['recall']:.2f}** (one-to-one {recovery['recall_one_to_one']:.2f}), "
              f"**precision {precision}** over {recovery['n_validated']} validated hypotheses "
              f"(matcher: {recovery['matcher']}).", "", "| ground truth | description | matched hypotheses |",
              "|---|---|---|"]
    descriptions = {g["id"]: g["description"] for g in (truths or {}).get("ground_truths", [])}
    for gid, match in recovery["matches"].items():
        lines.append(f"| {gid} | {descriptions.get(gid, '')} | {', '.join(match['hypothesis_ids']) or 'none'} |")
    return [*lines, ""]


def plots_section(config: PipelineConfig, out: Path) -> list[str]:
    """The "Plots" section: the weight-difference and cluster-map images, linked relative to
    ``out``, or where each was expected."""
    plots = []
    if config.weightdiff_dir:
        plots += [("weight-difference spectra", config.path(config.weightdiff_dir) / "spectra.png"),
                  ("most changed layers", config.path(config.weightdiff_dir) / "changes.png")]
    if config.discover_dir:
        plots.append(("cluster map (both models' texts)", config.path(config.discover_dir) / "map.png"))
    lines = ["## Plots", ""]
    for title, path in plots:
        lines.append(f"![{title}]({_link(path, out)})" if path.exists() else f"- {title}: not available ({path})")
    return [*lines, ""]


def stages_section(timings: dict[str, float | None]) -> list[str]:
    """The "Stages" section: each stage's seconds, or that it was skipped as done."""
    lines = ["## Stages", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {'skipped (done)' if sec is None else f'{sec:.0f}'} |" for name, sec in timings.items()]
    return [*lines, ""]
