"""Write a weight-difference report: summary.json, PNG plots, and the same plots in TensorBoard."""

from __future__ import annotations

import re
from pathlib import Path

from difflens.files import atomic_path, write_json
from difflens.weightdiff.analysis import LayerDiff, summary

PLOTS = ("changes.png", "spectra.png", "layers.png")
_LAYER = re.compile(r"(?:^|\.)(?:h|layers|layer|blocks)\.(\d+)\.(.+)\.weight$")


def weight_layer(name: str) -> tuple[int, str] | None:
    """``(N, matrix)`` for a weight of decoder block N, the N of ``layer.N`` in every other stage
    (`difflens.models.layers`): ``"model.layers.3.mlp.up_proj.weight"`` -> ``(3, "mlp.up_proj")``;
    None for a weight outside the blocks."""
    m = _LAYER.search(name)
    return (int(m.group(1)), m.group(2)) if m else None


def _figures(layers: list[LayerDiff], n_plot: int, top_k: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    changed = [d for d in layers if d.changed][:n_plot]
    figs = {}

    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(changed), 1) + 1.2))
    ax.barh([d.name for d in changed][::-1], [d.relative_change for d in changed][::-1], color="tab:blue")
    ax.set_xlabel("‖ΔW‖_F / ‖W‖_F")
    ax.set_title(f"Most changed weight matrices (top {len(changed)})")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    figs["changes"] = fig

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for d in changed:
        sv = [s / d.singular_values[0] for s in d.singular_values if s > 0]
        ax.semilogy(range(1, len(sv) + 1), sv, marker=".", lw=1,
                    label=f"{d.name} (eff. rank {d.effective_rank:.1f}, top-{top_k} energy {d.energy_top_k:.2f})")
    ax.set_xlabel("singular value index")
    ax.set_ylabel("σ_i / σ_1 of ΔW")
    ax.set_title("Singular-value spectra of ΔW")
    if changed:
        ax.legend(fontsize=6)
    fig.tight_layout()
    figs["spectra"] = fig

    grid: dict[tuple[int, str], float] = {}
    for d in layers:
        site = weight_layer(d.name)
        if site:
            grid[site] = d.relative_change
    if grid:
        blocks = sorted({b for b, _ in grid})
        kinds = sorted({k for _, k in grid})
        values = [[grid.get((b, k), float("nan")) for k in kinds] for b in blocks]
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(kinds), 1.2 + 0.4 * len(blocks)))
        im = ax.imshow(values, aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(kinds)), kinds, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(blocks)), [str(b) for b in blocks], fontsize=7)
        ax.set_ylabel("block")
        ax.set_title("‖ΔW‖_F / ‖W‖_F per block and matrix")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        figs["layers"] = fig
    return figs


def write_report(layers: list[LayerDiff], out_dir: str | Path, base: str, tuned: str, top_k: int = 8,
                 n_plot: int = 12, tensorboard: bool = True) -> dict:
    """Write ``summary.json`` and the PNGs to ``out_dir`` (atomically), and log the figures to
    TensorBoard event files in the same directory. Returns the summary."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = summary(layers, base, tuned, top_k)
    figs = _figures(layers, n_plot, top_k)
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out_dir))
        top = "\n".join(f"{i + 1}. `{d['name']}` relative change {d['relative_change']:.4g}, effective rank "
                        f"{d['effective_rank']:.2f}" for i, d in enumerate(report["layers"][:n_plot]))
        writer.add_text("weightdiff/ranking", top or "no weight changed")
        # Scalars against the rank of each changed matrix (1 = most changed), and the totals.
        for i, d in enumerate(report["layers"], 1):
            writer.add_scalar("weightdiff/relative_change", d["relative_change"], i)
            writer.add_scalar("weightdiff/effective_rank", d["effective_rank"], i)
            writer.add_scalar("weightdiff/energy_top_k", d["energy_top_k"], i)
        writer.add_scalar("weightdiff/n_changed", report["n_changed"], 0)
    for name, fig in figs.items():
        with atomic_path(out_dir / f"{name}.png") as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        if writer is not None:
            writer.add_figure(f"weightdiff/{name}", fig, close=False)
        plt.close(fig)
    if writer is not None:
        writer.close()
    write_json(out_dir / "summary.json", report)
    return report
