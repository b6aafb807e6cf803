"""``difflens samples``: read the activation samples of a dictionary-training run.

    difflens samples report  DIR               print interpretability_report.md
    difflens samples feature DIR 12 [--png F]  one feature's statistics, samples, histogram PNG
    difflens samples compare DIR 12 40         two features side by side
    difflens samples similar DIR 12 [--sae S]  nearest features by decoder cosine similarity

``DIR`` is the ``output_dir`` of ``ActivationSampleCallback`` (e.g.
``runs/quickstart/sae/samples``); the dictionary is found through the summary's ``sae_dir``.
"""

from __future__ import annotations

import argparse
import textwrap
from itertools import pairwise
from pathlib import Path

HELP = "read a dictionary run's activation samples: report, feature, compare, similar"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    report = sub.add_parser("report", help="print the markdown report")
    report.add_argument("dir", help="samples directory (ActivationSampleCallback.output_dir)")
    feature = sub.add_parser("feature", help="one feature: statistics, top samples, histogram PNG")
    feature.add_argument("dir")
    feature.add_argument("feature", type=int)
    feature.add_argument("--png", help="where to write the activation histogram (default: beside the samples)")
    feature.add_argument("-n", type=int, default=10, help="samples to print")
    compare = sub.add_parser("compare", help="two features side by side")
    compare.add_argument("dir")
    compare.add_argument("a", type=int)
    compare.add_argument("b", type=int)
    compare.add_argument("-n", type=int, default=8, help="samples per feature")
    similar = sub.add_parser("similar", help="nearest features by decoder cosine similarity")
    similar.add_argument("dir")
    similar.add_argument("feature", type=int)
    similar.add_argument("--sae", help="dictionary directory (default: the summary's sae_dir)")
    similar.add_argument("-n", type=int, default=10, help="neighbours to list")


def _line(sample: dict, width: int = 100) -> str:
    text = f"{sample['before']}[{sample['token_str']}]{sample['after']}".replace("\n", " ")
    return f"{sample['activation']:8.3f}  {textwrap.shorten(text, width, placeholder='…')}"


def histogram_png(record: dict, path: Path) -> Path:
    """Bar chart of a feature's log10-binned activation counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from difflens.files import atomic_path

    edges = record["histogram"]["log10_edges"]
    counts = record["histogram"]["counts"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(edges[:-1], counts, width=[b - a for a, b in pairwise(edges)], align="edge")
    ax.set_xlabel("log10 activation")
    ax.set_ylabel("tokens")
    ax.set_title(f"feature {record['feature']} (density {record['density']:.2e})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> None:
    from difflens.errors import DataError
    from difflens.sae.report import read_feature, read_summary

    directory = Path(args.dir)
    if args.action == "report":
        path = directory / "interpretability_report.md"
        if not path.exists():
            read_summary(directory)  # raises the one-line error for a wrong directory
            raise DataError(f"no interpretability_report.md in {str(directory)!r}")
        print(path.read_text())
    elif args.action == "feature":
        record = read_feature(directory, args.feature)
        print(f"feature {record['feature']}: fired on {record['count']} tokens (density {record['density']:.2e}), "
              f"mean {record['mean_activation']:.3f}, max {record['max_activation']:.3f}")
        for sample in record["samples"][: args.n]:
            print(_line(sample))
        png = histogram_png(record, Path(args.png) if args.png else directory / f"feature_{args.feature:05d}_hist.png")
        print(f"histogram: {png}")
    elif args.action == "compare":
        a, b = read_feature(directory, args.a), read_feature(directory, args.b)
        width = 60
        print(f"{'feature ' + str(args.a):<{width + 10}} | feature {args.b}")
        stats_a = f"density {a['density']:.2e}, max {a['max_activation']:.2f}"
        print(f"{stats_a:<{width + 10}} | density {b['density']:.2e}, max {b['max_activation']:.2f}")
        for i in range(args.n):
            left = _line(a["samples"][i], width) if i < len(a["samples"]) else ""
            right = _line(b["samples"][i], width) if i < len(b["samples"]) else ""
            print(f"{left:<{width + 10}} | {right}")
    elif args.action == "similar":
        import torch

        from difflens.sae import load_sae

        summary = read_summary(directory)
        sae_dir = args.sae or summary.get("sae_dir")
        if not sae_dir:
            raise DataError("the summary names no dictionary: pass --sae DIR")
        sae = load_sae(sae_dir)
        if not 0 <= args.feature < sae.d_sae:
            raise DataError(f"feature {args.feature} is out of range: the dictionary has {sae.d_sae} features")
        W = torch.nn.functional.normalize(sae.W_dec.detach(), dim=1)  # (d_sae, d_out)
        cosine = W @ W[args.feature]  # (d_sae,)
        cosine[args.feature] = float("-inf")
        values, indices = cosine.topk(min(args.n, sae.d_sae - 1))
        files = set(summary.get("feature_files", []))
        stats = {f["feature"]: f for f in summary.get("features", [])}
        print(f"features nearest to {args.feature} by decoder cosine ({sae_dir}):")
        for v, i in zip(values.tolist(), indices.tolist()):
            density = stats.get(i, {}).get("density", float("nan"))
            print(f"  {i:6d}  cos {v:+.3f}  density {density:.2e}{'  (samples)' if i in files else ''}")
