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
    collect = sub.add_parser("collect", help="top-activating contexts of any saved SAE (difflens, SAELens, "
                                             "sparsify) on a model, without training it; writes the same report")
    collect.add_argument("sae", help="dictionary directory (cfg.json + weights); read only")
    collect.add_argument("--model", required=True, help="the model the SAE reads (name or path)")
    collect.add_argument("--out", required=True, help="where the summary, sample files and report go")
    collect.add_argument("--hook", default=None, help="hooked module (default: the SAE's hook_name)")
    collect.add_argument("--data-files", nargs="*", default=None, help="text files (default: toy-world documents)")
    collect.add_argument("--documents", type=int, default=2000, help="toy-world documents when no --data-files")
    collect.add_argument("--max-tokens", type=int, default=200_000, help="stop after this many activations")
    collect.add_argument("--context-length", type=int, default=128, help="tokens per document")
    collect.add_argument("--batch-size", type=int, default=512, help="activations per SAE batch")
    collect.add_argument("-k", type=int, default=20, help="samples kept per feature")
    collect.add_argument("--n-features", type=int, default=50, help="features that get a sample file")


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

    if args.action == "collect":
        collect(args)
        return
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
        if not args.sae:
            sae_dir = resolve_in_run(sae_dir, directory)
        sae = load_sae(sae_dir)
        if summary.get("d_sae") is not None and summary["d_sae"] != sae.d_sae:
            raise DataError(f"the dictionary in {str(sae_dir)!r} has {sae.d_sae} features but these samples were "
                            f"collected from one with {summary['d_sae']}: pass the --sae the samples came from")
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


def resolve_in_run(path: str, samples_dir: Path) -> str:
    """A path recorded in a run's summary: as given when it exists from here, else relative to
    a directory above the samples (the run was started there, e.g. the repository root)."""
    if Path(path).is_absolute() or Path(path).exists():
        return path
    for parent in samples_dir.resolve().parents:
        if (parent / path).exists():
            return str(parent / path)
    return path


def collect(args: argparse.Namespace) -> None:
    """Top-activating contexts of a saved SAE on a model; the SAE is only read."""
    import torch

    from datamodules import ActivationDataModule
    from difflens.activations import CONTEXT_AFTER, CONTEXT_BEFORE
    from difflens.corpus import ToyWorldCorpus
    from difflens.errors import ConfigError
    from difflens.sae import load_sae
    from difflens.sae.report import write_reports
    from difflens.sae.samples import TopActivations

    for flag, value in (("--documents", args.documents), ("--max-tokens", args.max_tokens), ("-k", args.k),
                        ("--n-features", args.n_features), ("--batch-size", args.batch_size),
                        ("--context-length", args.context_length)):
        if value < 1:
            raise ConfigError(f"{flag} must be >= 1, got {value}")
    sae = load_sae(args.sae)
    hook = args.hook or sae.cfg.hook_name
    if not hook:
        raise ConfigError(f"the SAE in {args.sae!r} names no hook: pass --hook MODULE (e.g. transformer.h.2)")
    data = ActivationDataModule(
        model=args.model, hook_name=hook, hook_name_out=sae.cfg.hook_name_out or None,
        toyworld=None if args.data_files else ToyWorldCorpus(n_documents=args.documents),
        data_files=args.data_files, context_length=args.context_length, batch_size=args.batch_size,
        buffer_size=max(args.batch_size, 4096), val_texts=0)
    data.setup("fit")
    store = TopActivations(sae.d_sae, args.k, CONTEXT_BEFORE + 1 + CONTEXT_AFTER)
    with torch.no_grad():
        for batch in data.iterate_train():
            store.update(sae.encode_sparse(batch["x"]), batch["token"], batch["doc"], batch["pos"], batch["context"])
            if store.tokens_seen >= args.max_tokens:
                break
    meta = {"architecture": sae.cfg.architecture, "hook_name": hook, "model_name": args.model,
            "sae_dir": str(Path(args.sae).resolve()), "global_step": None, "collected_without_training": True}
    write_reports(store, args.out, data.tokenizer.decode, args.n_features, 5, meta)
    print(f"{int(store.tokens_seen)} activations; wrote the activation-sample report to "
          f"{Path(args.out) / 'interpretability_report.md'}")
