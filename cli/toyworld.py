"""``difflens toyworld list|sample``: look at the toy world."""

from __future__ import annotations

import argparse
import json

HELP = "list the toy world's topics and styles, or print samples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="print topics (with category and words) and styles")
    sample = sub.add_parser("sample", help="print sample documents")
    sample.add_argument("--n", type=int, default=5, help="how many documents")
    sample.add_argument("--topic", action="append", default=[], help="topic name (repeatable)")
    sample.add_argument("--style", action="append", default=[], help="style name, probability 1 (repeatable)")
    sample.add_argument("--mixture", help="YAML/JSON file with {topics: {...}, styles: {...}}")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--start", type=int, default=0, help="index of the first document")
    sample.add_argument("--json", action="store_true", help="one JSON object per line with labels")


def run(args: argparse.Namespace) -> None:
    from difflens.toyworld import STYLES, TOPICS, Mixture, ToyWorld

    if args.action == "list":
        print(f"{len(TOPICS)} topics:")
        for t in TOPICS:
            print(f"  {t.name:<12} {t.category:<11} {', '.join(t.nouns[:6])}, ...")
        print(f"{len(STYLES)} styles:")
        for s in STYLES:
            print(f"  {s.name:<18} base rate {s.base_rate:<5} {s.description}")
        return
    from difflens.errors import ConfigError

    if args.n < 1:
        raise ConfigError(f"--n must be >= 1 (documents to print), got {args.n}")
    if args.start < 0:
        raise ConfigError(f"--start must be >= 0, got {args.start}")
    spec = {}
    if args.mixture:
        from difflens.files import read_yaml_mapping

        spec = read_yaml_mapping(args.mixture, "mixture")
    if args.topic:
        spec["topics"] = {t: 1.0 for t in args.topic}
    if args.style:
        spec["styles"] = {**spec.get("styles", {}), **{s: 1.0 for s in args.style}}
    mixture = Mixture.from_spec(spec)
    for doc in ToyWorld(args.seed).documents(args.n, mixture, start=args.start):
        if args.json:
            print(json.dumps({"text": doc.text, "topic": doc.topic, "styles": list(doc.styles), "index": doc.index}))
        else:
            print(doc.text)
