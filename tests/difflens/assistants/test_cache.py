import multiprocessing as mp
import threading

import pytest

from difflens.assistants.cache import CachedReply, ReplyCache, request_key
from difflens.errors import ConfigError

BASE = {"backend": "openai", "model": "m", "prompt": "judge", "prompt_version": "1",
        "messages": [{"role": "user", "content": "hi"}], "sampling": {"temperature": 0.0, "max_tokens": 5}}


@pytest.mark.parametrize("change", [
    {"backend": "local"}, {"model": "m2"}, {"prompt_version": "2"}, {"prompt": "propose"},
    {"messages": [{"role": "user", "content": "hi!"}]}, {"sampling": {"temperature": 0.5, "max_tokens": 5}},
])
def test_every_part_of_the_request_is_in_the_key(change):
    assert request_key({**BASE, **change}) != request_key(BASE)


def test_key_ignores_dict_order():
    assert request_key(dict(reversed(list(BASE.items())))) == request_key(BASE)


def test_put_get_and_first_writer_wins(tmp_path):
    cache = ReplyCache(tmp_path / "sub" / "cache.sqlite")
    key = request_key(BASE)
    assert cache.get(key) is None
    cache.put(key, BASE, CachedReply("first", 10, 2))
    cache.put(key, BASE, CachedReply("second", 10, 2))
    assert cache.get(key) == CachedReply("first", 10, 2) and len(cache) == 1
    assert ReplyCache(tmp_path / "sub" / "cache.sqlite").get(key).reply == "first"  # persisted


def _write_many(path, start, n):
    cache = ReplyCache(path)
    for i in range(start, start + n):
        request = {**BASE, "messages": [{"role": "user", "content": str(i % 150)}]}
        cache.put(request_key(request), request, CachedReply(str(i % 150)))


def test_threads_and_processes_share_one_file(tmp_path):
    path = tmp_path / "cache.sqlite"
    ReplyCache(path)
    # spawn, not fork: forking while this process's threads hold SQLite or interpreter locks can deadlock.
    procs = [mp.get_context("spawn").Process(target=_write_many, args=(path, 50 * i, 100)) for i in range(2)]
    threads = [threading.Thread(target=_write_many, args=(path, 50 * i, 100)) for i in range(3)]
    for w in [*procs, *threads]:
        w.start()
    for w in [*threads, *procs]:
        w.join()
    assert all(p.exitcode == 0 for p in procs)
    cache = ReplyCache(path)
    assert len(cache) == 150
    request = {**BASE, "messages": [{"role": "user", "content": "42"}]}
    assert cache.get(request_key(request)).reply == "42"


def test_unwritable_path_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cache_path"):
        ReplyCache(tmp_path / "file" / "cache.sqlite")


def _read_after_fork(cache, key, queue):
    queue.put((cache.get(key).reply, cache._local.pid))


def test_a_forked_child_opens_its_own_connection(tmp_path):
    import os

    cache = ReplyCache(tmp_path / "cache.sqlite")
    key = request_key(BASE)
    cache.put(key, BASE, CachedReply("parent"))
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_after_fork, args=(cache, key, queue))
    child.start()
    reply, pid = queue.get(timeout=30)
    child.join()
    assert reply == "parent" and pid != os.getpid()
