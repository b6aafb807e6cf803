"""``difflens assistant prompts|cache``: look at the assistants' prompts and reply cache."""

from __future__ import annotations

import argparse
import json
import string

HELP = "show the assistants' versioned prompts, or what a reply cache holds"

# Assistant configs (`backend:` plus the backend's arguments), checked by tests/test_configs.py.
CONFIG_GLOBS = ("configs/assistants/*.yaml",)


def load_config(path):
    from difflens.assistants.registry import load_assistant_config

    return load_assistant_config(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    prompts = sub.add_parser("prompts", help="print every prompt with its version")
    prompts.add_argument("--name", action="append", default=[], help="only this prompt (repeatable)")
    prompts.add_argument("--json", action="store_true", help="one JSON object per prompt")
    cache = sub.add_parser("cache", help="count the cached replies by backend, model, prompt and version")
    cache.add_argument("path", help="the SQLite cache file (e.g. runs/assistant_cache.sqlite)")
    cache.add_argument("--drop-unparsed", action="store_true",
                       help="delete the replies today's parsers cannot read, so that a rerun asks again")


def run(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from difflens.assistants.prompts import PROMPTS
    from difflens.errors import DataError, unknown_name

    if args.action == "prompts":
        for name in args.name:
            if name not in PROMPTS:
                raise unknown_name("prompt", name, PROMPTS)
        for prompt in PROMPTS.values():
            if args.name and prompt.name not in args.name:
                continue
            # The user template as the model sees it, with each field shown as {field}.
            fields = {f for _, f, _, _ in string.Formatter().parse(prompt.user) if f}
            user = prompt.user.format(**{f: "{" + f + "}" for f in fields})
            if args.json:
                print(json.dumps({**asdict(prompt), "user": user, "fields": sorted(fields)}, ensure_ascii=False))
            else:
                print(f"=== {prompt.name} (version {prompt.version}; fields: {', '.join(sorted(fields))}) ===\n"
                      f"--- system ---\n{prompt.system}\n--- user ---\n{user}\n")
        return
    from pathlib import Path

    from difflens.assistants.cache import ReplyCache

    if Path(args.path).is_dir():
        raise DataError(f"{args.path!r} is a directory; give the cache file inside it "
                        f"(e.g. runs/assistant_cache.sqlite)")
    if not Path(args.path).is_file():
        raise DataError(f"no cache file at {args.path!r}; "
                        f"the LLM backends write runs/assistant_cache.sqlite by default")
    from collections import Counter

    from difflens.assistants.prompts import PARSERS

    # Unparsed replies are re-counted with today's parsers: the raw replies are all stored.
    groups: dict[tuple, Counter] = {}
    cache = ReplyCache(args.path)
    rows = cache._connect().execute(
        "SELECT key, backend, model, prompt, prompt_version, reply, prompt_tokens, completion_tokens FROM replies")
    unparsed = []
    for key, backend, model, prompt, version, reply, tin, tout in rows.fetchall():
        counts = groups.setdefault((backend, model, prompt, version), Counter())
        parse = PARSERS.get(prompt)
        bad = parse is not None and parse(reply) is None
        if bad:
            unparsed.append(key)
        counts.update(replies=1, unparsed=int(bad), tin=tin, tout=tout)
    header = ("backend", "model", "prompt", "version", "replies", "unparsed", "in tokens", "out tokens")
    line = "{:<8} {:<40} {:<15} {:<8} {:>8} {:>8} {:>10} {:>10}"
    print(line.format(*header))
    for key, c in sorted(groups.items()):
        print(line.format(*key, c["replies"], c["unparsed"], c["tin"], c["tout"]))
    if args.drop_unparsed:
        dropped = cache.delete(unparsed)
        print(f"dropped {dropped} unparsed replies from {args.path}; a rerun asks for them again")
