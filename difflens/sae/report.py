"""Files written from a `TopActivations` store: summary, per-feature samples, markdown report.

    collection_summary.json        statistics of every feature, which features have sample files
    feature_XXXXX_samples.json     one feature: statistics, histogram, top samples with text
    interpretability_report.md     statistics and the top examples, activating token in **bold**
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from difflens.activations import CONTEXT_BEFORE
from difflens.errors import DataError
from difflens.files import write_json, write_text
from difflens.sae.samples import HIST_HIGH, HIST_LOW, TopActivations

SUMMARY = "collection_summary.json"


def feature_file(directory: Path, i: int) -> Path:
    return Path(directory) / f"feature_{i:05d}_samples.json"


def render_context(context: list[int], decode: Callable[[list[int]], str]) -> dict:
    """Split a context window into text before, the activating token, and text after."""
    ids = [t for t in context]
    before = [t for t in ids[:CONTEXT_BEFORE] if t >= 0]
    after = [t for t in ids[CONTEXT_BEFORE + 1:] if t >= 0]
    return {"before": decode(before), "token_str": decode([ids[CONTEXT_BEFORE]]), "after": decode(after)}


def feature_record(store: TopActivations, i: int, decode: Callable[[list[int]], str]) -> dict:
    record = store.feature_summary(i)
    record["histogram"] = {"log10_edges": torch.linspace(HIST_LOW, HIST_HIGH, store.hist.shape[1] + 1).tolist(),
                           "counts": store.hist[i].tolist()}
    record["samples"] = [{**s, **render_context(s["context"], decode)} for s in store.samples(i)]
    return record


def write_reports(store: TopActivations, directory: str | Path, decode: Callable[[list[int]], str],
                  n_features: int = 50, n_examples: int = 5, meta: dict | None = None) -> list[int]:
    """Write the summary, the sample files of the ``n_features`` most active features and the report.

    Returns:
        The features that got a sample file, most active first.
    """
    directory = Path(directory)
    density = store.density()
    alive = int((store.count > 0).sum())
    top = [i for i in torch.argsort(store.count, descending=True, stable=True)[:n_features].tolist()
           if store.count[i] > 0]
    for i in top:
        write_json(feature_file(directory, i), feature_record(store, i, decode))
    summary = {
        **(meta or {}),
        "d_sae": store.d_sae, "k": store.k, "threshold": store.threshold,
        "tokens_seen": int(store.tokens_seen), "features_alive": alive,
        "features_never_fired": store.d_sae - alive,
        "feature_files": top,
        "features": [{"feature": i, "count": int(store.count[i]), "density": float(density[i]),
                      "max_activation": float(store.maximum[i])} for i in range(store.d_sae)],
    }
    write_json(directory / SUMMARY, summary)
    write_text(directory / "interpretability_report.md", markdown_report(store, top, decode, n_examples, meta))
    return top


def feature_card(record: dict, n_examples: int = 5) -> str:
    """A markdown card: statistics and the top examples with the activating token in bold."""
    lines = [f"### Feature {record['feature']}",
             f"fired on {record['count']} tokens (density {record['density']:.2e}), "
             f"mean {record['mean_activation']:.3f}, max {record['max_activation']:.3f}", ""]
    for s in record["samples"][:n_examples]:
        text = f"{s['before']}**{s['token_str']}**{s['after']}".replace("\n", " ")
        lines.append(f"- `{s['activation']:.3f}` {text}")
    return "\n".join(lines) + "\n"


def markdown_report(store: TopActivations, features: list[int], decode, n_examples: int, meta: dict | None) -> str:
    density = store.density()
    alive = density > 0
    lines = ["# Interpretability report", ""]
    for key, value in (meta or {}).items():
        lines.append(f"- {key}: {value}")
    lines += [
        f"- tokens seen by the sample collector: {int(store.tokens_seen)}",
        f"- features: {store.d_sae}, alive: {int(alive.sum())}, never fired: {int((~alive).sum())}",
        f"- median density of alive features: "
        f"{float(density[alive].median()) if alive.any() else 0.0:.2e}",
        "", "## Most active features", "",
    ]
    for i in features:
        lines.append(feature_card(feature_record(store, i, decode), n_examples))
    return "\n".join(lines)


def read_summary(directory: str | Path) -> dict:
    path = Path(directory) / SUMMARY
    if not path.exists():
        raise DataError(f"no {SUMMARY} in {str(directory)!r}: pass the samples directory of a run "
                        f"(ActivationSampleCallback.output_dir)")
    return json.loads(path.read_text())


def read_feature(directory: str | Path, i: int) -> dict:
    path = feature_file(Path(directory), i)
    if not path.exists():
        files = read_summary(directory)["feature_files"]
        raise DataError(f"feature {i} has no sample file in {str(directory)!r}; features with samples: "
                        f"{', '.join(map(str, files[:20]))}{' ...' if len(files) > 20 else ''}")
    return json.loads(path.read_text())
