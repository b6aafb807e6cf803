"""``difflens assistant prompts|cache``."""

import json

from cli.main import main
from difflens.assistants.cache import CachedReply, ReplyCache, request_key
from difflens.assistants.prompts import PROMPTS


def test_prompts_lists_every_prompt_with_its_version(capsys):
    assert main(["assistant", "prompts", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["name"], r["version"]) for r in rows} == {(p.name, p.version) for p in PROMPTS.values()}
    judge = next(r for r in rows if r["name"] == "judge")
    assert judge["fields"] == ["hypothesis", "text"] and '{"score"' in judge["user"]


def test_prompts_by_name_and_unknown_name(capsys):
    assert main(["assistant", "prompts", "--name", "propose"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("=== propose (version") and "judge" not in out.split("\n")[0]
    assert main(["assistant", "prompts", "--name", "jduge"]) == 2
    assert "Did you mean 'judge'" in capsys.readouterr().err


def test_cache_counts_replies(tmp_path, capsys):
    path = tmp_path / "c.sqlite"
    request = {"backend": "openai", "model": "m", "prompt": "judge", "prompt_version": "1", "messages": [],
               "sampling": {}}
    ReplyCache(path).put(request_key(request), request, CachedReply("{}", 7, 3))
    other = {**request, "messages": [{"role": "user", "content": "x"}]}
    ReplyCache(path).put(request_key(other), other, CachedReply('{"score": 0.5}', 7, 3))
    assert main(["assistant", "cache", str(path)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row == ["openai", "m", "judge", "1", "2", "1", "14", "6"]
    assert main(["assistant", "cache", str(tmp_path / "missing.sqlite")]) == 2
