"""Every request to an LLM backend and its reply, in SQLite, so that an interrupted run never
pays twice and a finished run replays offline.

The key is a SHA-256 of the canonical JSON of (backend, model, prompt name and version, the
messages, the sampling parameters). Only that, the raw reply and token counts are stored:
never an endpoint key, never a header. Several threads and processes may share one file: each
thread of each process has its own connection (a forked child opens a new one), the database
is in WAL mode with a busy timeout, and a reply is written with ``INSERT OR IGNORE`` so that
two writers of the same request keep the first.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from difflens.errors import ConfigError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    request TEXT NOT NULL,
    reply TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def request_key(request: dict) -> str:
    """SHA-256 of the request's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    """A stored reply with the token counts it cost when it was first made."""

    reply: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _set_up(conn: sqlite3.Connection, path: Path, attempts: int = 40) -> None:
    """Switch to WAL and create the tables, retrying while another process does the same.

    Switching the journal mode needs an exclusive lock, and SQLite can report "database is
    locked" at once (without the busy handler) when several processes open a new file together.
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and not {"replies", "meta"} <= tables:
        raise ConfigError(f"{path} is an SQLite file but not a difflens reply cache (its tables: "
                          f"{', '.join(sorted(tables))}); it is left untouched: give the cache file (e.g. "
                          f"runs/assistant_cache.sqlite) or a new path")
    for attempt in range(attempts):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


class ReplyCache:
    """SQLite cache of replies, shared by threads and processes.

    Args:
        path: the database file; created with its parent directories.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connect()
        except (OSError, sqlite3.Error) as err:
            if isinstance(err, sqlite3.DatabaseError) and "not a database" in str(err):
                raise ConfigError(f"{str(self.path)!r} is not an SQLite database (damaged, or another kind of "
                                  f"file); move it away to start a new cache") from None
            raise ConfigError(f"cannot open the assistant cache {str(self.path)!r}: {err}; "
                              f"set cache_path to a writable file") from None

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            conn = None  # a connection must not cross a fork (ddp_fork, DataLoader workers): open a new one
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 60000")
            try:
                _set_up(conn, self.path)
            except ConfigError:
                conn.close()
                raise
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def get(self, key: str) -> CachedReply | None:
        row = self._connect().execute(
            "SELECT reply, prompt_tokens, completion_tokens FROM replies WHERE key = ?", (key,)).fetchone()
        return CachedReply(*row) if row else None

    def put(self, key: str, request: dict, reply: CachedReply) -> None:
        """Store a reply; a reply already stored under ``key`` is kept."""
        self._connect().execute(
            "INSERT OR IGNORE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, request["backend"], request["model"], request["prompt"], request["prompt_version"],
             json.dumps(request, sort_keys=True, ensure_ascii=False), reply.reply, reply.prompt_tokens,
             reply.completion_tokens, time.time()))

    def delete(self, keys: list[str]) -> int:
        """Remove the replies stored under ``keys``; returns how many were removed."""
        conn = self._connect()
        before = len(self)
        conn.executemany("DELETE FROM replies WHERE key = ?", [(k,) for k in keys])
        return before - len(self)

    def __len__(self) -> int:
        return self._connect().execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __getstate__(self):
        # Connections cannot cross processes: a pickled cache reconnects where it is used.
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._local = threading.local()
