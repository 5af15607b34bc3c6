"""The SQLite state store: known articles, runs, failures, categories and small key/values.

Every process (crawls, the daemon, archive commands) opens its own connection. WAL mode plus a
long busy timeout and ``BEGIN IMMEDIATE`` for writes let them share one file without "database
is locked" errors reaching the user. An article is recorded only after its post is on disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from crawler.timeutil import iso, now_beijing

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    key          TEXT PRIMARY KEY,          -- "<source>:<id>"
    source       TEXT NOT NULL,
    article_id   TEXT NOT NULL,
    media        TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    title        TEXT NOT NULL DEFAULT '',
    published    TEXT NOT NULL DEFAULT '',  -- ISO 8601 with +08:00
    content_hash TEXT NOT NULL DEFAULT '',
    post_path    TEXT NOT NULL DEFAULT '',  -- relative to the output dir
    match_key    TEXT NOT NULL DEFAULT '',  -- normalised title + publish minute (cross-source dedupe)
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS articles_match ON articles(match_key) WHERE match_key != '';
CREATE INDEX IF NOT EXISTS articles_source_published ON articles(source, published);
CREATE TABLE IF NOT EXISTS aliases (
    alias  TEXT PRIMARY KEY,                -- another key of the same story, e.g. eastmoney:<id>
    key    TEXT NOT NULL REFERENCES articles(key)
);
CREATE TABLE IF NOT EXISTS runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    source    TEXT NOT NULL,
    started   TEXT NOT NULL,
    finished  TEXT,
    outcome   TEXT NOT NULL DEFAULT 'running',  -- running, ok, failed, locked, interrupted
    stats     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_source ON runs(source, id);
CREATE TABLE IF NOT EXISTS failures (
    key        TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    url        TEXT NOT NULL,
    error      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 1,
    first_failed TEXT NOT NULL,
    last_failed  TEXT NOT NULL,
    next_retry TEXT NOT NULL,
    context    TEXT NOT NULL DEFAULT '{}'      -- what the spider needs to request it again
);
CREATE INDEX IF NOT EXISTS failures_due ON failures(source, next_retry);
CREATE TABLE IF NOT EXISTS categories (
    slug       TEXT PRIMARY KEY,
    media      TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(slots=True, frozen=True)
class ArticleRecord:
    key: str
    source: str
    article_id: str
    media: str
    url: str
    title: str
    published: str
    content_hash: str
    post_path: str
    match_key: str
    first_seen: str
    last_seen: str
    revision: int


@dataclass(slots=True, frozen=True)
class Failure:
    key: str
    source: str
    url: str
    error: str
    attempts: int
    next_retry: str
    context: dict[str, Any]


@dataclass(slots=True, frozen=True)
class RunRecord:
    id: int
    source: str
    started: str
    finished: str | None
    outcome: str
    stats: dict[str, Any]


class StateStore:
    """Thin, explicit access to the state database. Safe to open from many processes."""

    def __init__(self, path: Path | str, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across app crashes
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._init_schema()

    def _init_schema(self) -> None:
        # An existing store needs no write lock just to be opened (status, start-up are read-only).
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table yet: a new store
            row = None
        if row is not None and row[0] == str(SCHEMA_VERSION):
            return
        with self.write() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so concurrent writers queue, not fail."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- articles -------------------------------------------------------------------------
    def resolve(self, key: str) -> str | None:
        """The article key that ``key`` names, directly or as an alias; None when unknown."""
        row = self.conn.execute("SELECT key FROM articles WHERE key = ?", (key,)).fetchone()
        if row:
            return str(row[0])
        row = self.conn.execute("SELECT key FROM aliases WHERE alias = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def is_known(self, key: str) -> bool:
        return self.resolve(key) is not None

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already mirrored (as articles or aliases); one query per 500 keys."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for table, column in (("articles", "key"), ("aliases", "alias")):
                rows = self.conn.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", chunk)
                found.update(str(r[0]) for r in rows)
        return found

    def get_article(self, key: str) -> ArticleRecord | None:
        resolved = self.resolve(key)
        if resolved is None:
            return None
        row = self.conn.execute("SELECT * FROM articles WHERE key = ?", (resolved,)).fetchone()
        return ArticleRecord(**dict(row)) if row else None

    def find_by_match_key(self, match_key: str) -> ArticleRecord | None:
        """The first-seen article with this match key, if any."""
        return next(iter(self.find_all_by_match_key(match_key)), None)

    def find_all_by_match_key(self, match_key: str) -> list[ArticleRecord]:
        if not match_key:
            return []
        rows = self.conn.execute(
            "SELECT * FROM articles WHERE match_key = ? ORDER BY first_seen", (match_key,)
        )
        return [ArticleRecord(**dict(row)) for row in rows]

    def record_article(
        self,
        *,
        key: str,
        source: str,
        article_id: str,
        media: str,
        url: str,
        title: str,
        published: str,
        content_hash: str,
        post_path: str,
        match_key: str = "",
        aliases: Iterable[str] = (),
        seen: datetime | None = None,
    ) -> None:
        """Mark an article known. Call only after its post is safely on disk."""
        stamp = iso(seen or now_beijing())
        with self.write() as conn:
            old = conn.execute("SELECT content_hash FROM articles WHERE key = ?", (key,)).fetchone()
            if old is None:
                conn.execute(
                    "INSERT INTO articles(key, source, article_id, media, url, title, published, content_hash,"
                    " post_path, match_key, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        key,
                        source,
                        article_id,
                        media,
                        url,
                        title,
                        published,
                        content_hash,
                        post_path,
                        match_key,
                        stamp,
                        stamp,
                    ),
                )
            else:
                bump = 1 if old[0] != content_hash else 0
                conn.execute(
                    "UPDATE articles SET media=?, url=?, title=?, published=?, content_hash=?, post_path=?,"
                    " match_key=?, last_seen=?, revision=revision+? WHERE key=?",
                    (media, url, title, published, content_hash, post_path, match_key, stamp, bump, key),
                )
            for alias in aliases:
                if alias != key:
                    conn.execute("INSERT OR REPLACE INTO aliases(alias, key) VALUES (?, ?)", (alias, key))
            conn.execute("DELETE FROM failures WHERE key = ?", (key,))
            for alias in aliases:
                conn.execute("DELETE FROM failures WHERE key = ?", (alias,))

    def add_alias(self, alias: str, key: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO aliases(alias, key) VALUES (?, ?)", (alias, key))
            conn.execute("DELETE FROM failures WHERE key = ?", (alias,))

    def supersede(self, old_key: str, new_key: str) -> None:
        """Fold article ``old_key`` into ``new_key``: it becomes an alias, its row goes."""
        if old_key == new_key:
            return
        with self.write() as conn:
            conn.execute("UPDATE aliases SET key = ? WHERE key = ?", (new_key, old_key))
            conn.execute("INSERT OR REPLACE INTO aliases(alias, key) VALUES (?, ?)", (old_key, new_key))
            conn.execute("DELETE FROM articles WHERE key = ?", (old_key,))

    def touch(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE articles SET last_seen = ? WHERE key = ?", (iso(now_beijing()), key))

    def set_content_hash(self, key: str, content_hash: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE articles SET content_hash = ? WHERE key = ?", (content_hash, key))

    def set_post_path(self, key: str, post_path: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE articles SET post_path = ? WHERE key = ?", (post_path, key))

    def iter_articles(self, source: str | None = None) -> Iterator[ArticleRecord]:
        sql, args = "SELECT * FROM articles", cast(tuple[str, ...], ())
        if source:
            sql, args = sql + " WHERE source = ?", (source,)
        for row in self.conn.execute(sql + " ORDER BY published, key", args):
            yield ArticleRecord(**dict(row))

    def count_articles(self, source: str | None = None) -> int:
        if source:
            return int(
                self.conn.execute("SELECT COUNT(*) FROM articles WHERE source = ?", (source,)).fetchone()[0]
            )
        return int(self.conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0])

    # -- failures -------------------------------------------------------------------------
    def record_failure(
        self,
        *,
        key: str,
        source: str,
        url: str,
        error: str,
        context: dict[str, Any] | None = None,
        backoff: float = 600.0,
        now: datetime | None = None,
    ) -> int:
        """Record (or count again) a failure; the next retry waits ``backoff × 2^(attempts-1)``."""
        now = now or now_beijing()
        with self.write() as conn:
            row = conn.execute("SELECT attempts FROM failures WHERE key = ?", (key,)).fetchone()
            attempts = (int(row[0]) if row else 0) + 1
            delay = min(backoff * 2 ** (attempts - 1), 7 * 86400)
            next_retry = iso(now + timedelta(seconds=delay))
            ctx = json.dumps(context or {}, ensure_ascii=False, default=str)
            if row is None:
                conn.execute(
                    "INSERT INTO failures(key, source, url, error, attempts, first_failed, last_failed,"
                    " next_retry, context) VALUES (?,?,?,?,?,?,?,?,?)",
                    (key, source, url, error[:2000], attempts, iso(now), iso(now), next_retry, ctx),
                )
            else:
                conn.execute(
                    "UPDATE failures SET url=?, error=?, attempts=?, last_failed=?, next_retry=?, context=?"
                    " WHERE key=?",
                    (url, error[:2000], attempts, iso(now), next_retry, ctx, key),
                )
        return attempts

    def due_failures(
        self, source: str, *, now: datetime | None = None, max_attempts: int = 8, limit: int = 200
    ) -> list[Failure]:
        rows = self.conn.execute(
            "SELECT * FROM failures WHERE source = ? AND next_retry <= ? AND attempts < ?"
            " ORDER BY next_retry LIMIT ?",
            (source, iso(now or now_beijing()), max_attempts, limit),
        )
        return [self._failure(r) for r in rows]

    def waiting_failures(
        self, keys: Iterable[str], *, now: datetime | None = None, max_attempts: int = 8
    ) -> set[str]:
        """The subset of ``keys`` whose failure is not due yet (backoff) or has used up its attempts."""
        wanted = list(dict.fromkeys(keys))
        stamp = iso(now or now_beijing())
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT key FROM failures WHERE key IN ({marks}) AND (next_retry > ? OR attempts >= ?)",
                (*chunk, stamp, max_attempts),
            )
            found.update(str(r[0]) for r in rows)
        return found

    def failures(self, source: str | None = None) -> list[Failure]:
        sql, args = "SELECT * FROM failures", cast(tuple[str, ...], ())
        if source:
            sql, args = sql + " WHERE source = ?", (source,)
        return [self._failure(r) for r in self.conn.execute(sql + " ORDER BY key", args)]

    def clear_failure(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM failures WHERE key = ?", (key,))

    @staticmethod
    def _failure(row: sqlite3.Row) -> Failure:
        return Failure(
            key=row["key"],
            source=row["source"],
            url=row["url"],
            error=row["error"],
            attempts=row["attempts"],
            next_retry=row["next_retry"],
            context=json.loads(row["context"]),
        )

    # -- runs -----------------------------------------------------------------------------
    def start_run(self, source: str) -> int:
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO runs(source, started) VALUES (?, ?)", (source, iso(now_beijing()))
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, stats: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE runs SET finished = ?, outcome = ?, stats = ? WHERE id = ?",
                (iso(now_beijing()), outcome, json.dumps(stats, ensure_ascii=False, default=str), run_id),
            )

    def recent_runs(self, source: str, limit: int = 10) -> list[RunRecord]:
        rows = self.conn.execute(
            "SELECT * FROM runs WHERE source = ? ORDER BY id DESC LIMIT ?", (source, limit)
        )
        return [
            RunRecord(
                id=r["id"],
                source=r["source"],
                started=r["started"],
                finished=r["finished"],
                outcome=r["outcome"],
                stats=json.loads(r["stats"]),
            )
            for r in rows
        ]

    # -- categories -----------------------------------------------------------------------
    def category_for(self, media: str) -> tuple[str, str] | None:
        row = self.conn.execute("SELECT slug, title FROM categories WHERE media = ?", (media,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def assign_category(self, media: str, slug: str, title: str) -> str:
        """Register ``media`` under ``slug`` (or its first free ``slug-N``); return the slug it got."""
        with self.write() as conn:
            row = conn.execute("SELECT slug FROM categories WHERE media = ?", (media,)).fetchone()
            if row:
                return str(row[0])
            candidate, n = slug, 1
            while conn.execute("SELECT 1 FROM categories WHERE slug = ?", (candidate,)).fetchone():
                n += 1
                candidate = f"{slug}-{n}"
            conn.execute(
                "INSERT INTO categories(slug, media, title, first_seen) VALUES (?,?,?,?)",
                (candidate, media, title, iso(now_beijing())),
            )
            return candidate

    def categories(self) -> list[tuple[str, str, str]]:
        """Every category ever seen: (slug, media, title)."""
        rows = self.conn.execute("SELECT slug, media, title FROM categories ORDER BY slug")
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    # -- key/values -----------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
