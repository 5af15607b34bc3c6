"""Schema migrations: a store written by an older wiremirror is upgraded in place, data kept.

The version-1 store is built here with the schema SQL wiremirror 0.1 shipped (copied verbatim
from crawler/state.py at commit 79f16f6, so later edits to the code cannot change the test), the
way 0.1 wrote it: tables, then ``meta.schema_version = '1'``; ``PRAGMA user_version`` left at 0.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crawler import state as state_module
from crawler.sources import rank
from crawler.state import MIGRATIONS, SCHEMA_VERSION, Migration, StateStore
from tests.conftest import run_cli, write_config

V1_SCHEMA = """
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


def build_version_1(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in V1_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    stamp = "2026-11-01T08:00:00+08:00"
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO meta(key, value) VALUES ('chinanews:day_archive_at', ?)", (stamp,))
    conn.execute(
        "INSERT INTO articles(key, source, article_id, media, url, title, published, content_hash,"
        " post_path, match_key, first_seen, last_seen, revision) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            "chinanews:10000001",
            "chinanews",
            "10000001",
            "中国新闻网",
            "https://www.chinanews.com.cn/gn/2026/11-01/10000001.shtml",
            "老文章",
            stamp,
            "abcdef0123456789",
            "_posts/2026-11-01-cns10000001.md",
            "老文章|2026-11-01 08:00",
            stamp,
            stamp,
            3,
        ),
    )
    conn.execute(
        "INSERT INTO aliases(alias, key) VALUES ('eastmoney:202611010000000001', 'chinanews:10000001')"
    )
    conn.execute(
        "INSERT INTO runs(source, started, finished, outcome, stats) VALUES ('chinanews', ?, ?, 'ok', '{\"new\": 1}')",
        (stamp, stamp),
    )
    conn.execute(
        "INSERT INTO failures(key, source, url, error, attempts, first_failed, last_failed, next_retry)"
        " VALUES ('chinanews:10000002', 'chinanews', 'https://www.chinanews.com.cn/x.shtml', 'HTTP 503', 2, ?, ?, ?)",
        (stamp, stamp, stamp),
    )
    conn.execute(
        "INSERT INTO categories(slug, media, title, first_seen) VALUES ('zhongguoxinwenwang', '中国新闻网', '中国新闻网新闻', ?)",
        (stamp,),
    )
    conn.close()


def conn_claims(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return [(str(m), str(k)) for m, k in conn.execute("SELECT match_key, key FROM claims")]
    finally:
        conn.close()


def user_version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_version_1_store_is_upgraded_and_keeps_its_data(tmp_path: Path):
    db = tmp_path / "state" / "wiremirror.sqlite3"
    build_version_1(db)
    assert user_version(db) == 0

    StateStore(db).close()
    assert user_version(db) == SCHEMA_VERSION
    conn = sqlite3.connect(db)
    logged = [row[0] for row in conn.execute("SELECT version FROM schema_log ORDER BY version")]
    conn.close()
    assert logged == [m.version for m in MIGRATIONS if m.version > 1]

    with StateStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        record = store.get_article("eastmoney:202611010000000001")  # through the alias
        assert record is not None
        assert (record.key, record.title, record.revision) == ("chinanews:10000001", "老文章", 3)
        assert store.category_for("中国新闻网") == ("zhongguoxinwenwang", "中国新闻网新闻")
        assert [f.key for f in store.failures()] == ["chinanews:10000002"]
        (run,) = store.recent_runs("chinanews")
        assert (run.outcome, run.stats) == ("ok", {"new": 1})
        assert store.get_meta("chinanews:day_archive_at") == "2026-11-01T08:00:00+08:00"
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.integrity_check() == "ok"
        # version 3: the story of every known article is claimed, so a new copy becomes an alias
        copy = store.claim_story("eastmoney:202611019999999999", "eastmoney", "老文章|2026-11-01 08:00", rank)
        assert (copy.verdict, copy.owner) == ("alias", "chinanews:10000001")
        assert conn_claims(db) == [("老文章|2026-11-01 08:00", "chinanews:10000001")]


def test_the_cli_upgrades_a_version_1_store_and_a_crawl_keeps_what_it_knew(tmp_path: Path):
    config = write_config(tmp_path, {"state": {"dir": "state"}})
    db = tmp_path / "state" / "wiremirror.sqlite3"
    build_version_1(db)
    result = run_cli("archive", "stats", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert user_version(db) == SCHEMA_VERSION
    with StateStore(db) as store:
        assert store.count_articles() == 1


def test_a_new_store_runs_every_step(tmp_path: Path):
    db = tmp_path / "wiremirror.sqlite3"
    with StateStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
    with StateStore(db) as store:  # opening a current store again changes nothing
        assert store.schema_version() == SCHEMA_VERSION


def test_a_further_step_is_one_appended_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """What another engineer does to add run counters: append a step; old stores get it once."""
    db = tmp_path / "state" / "wiremirror.sqlite3"
    build_version_1(db)
    step = Migration(
        SCHEMA_VERSION + 1,
        "runs: pages counter",
        "ALTER TABLE runs ADD COLUMN pages INTEGER NOT NULL DEFAULT 0",
    )
    monkeypatch.setattr(state_module, "MIGRATIONS", (*MIGRATIONS, step))
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", step.version)
    with StateStore(db) as store:
        assert store.schema_version() == step.version
        assert [r["pages"] for r in store.conn.execute("SELECT pages FROM runs")] == [0]
    with StateStore(db) as store:  # not applied twice (ALTER TABLE would fail)
        assert store.schema_version() == step.version
