"""The state store defends itself: a damaged, foreign, too-new or unwritable store is one clear line
naming the file and what to do, and exit 74 — never a traceback, never a crawl that reports ok.

Every case is a real store written by a real crawl, damaged on disk the way it happens (truncated
by a full disk or a bad copy, overwritten by another file, bytes changed under it), then a real
``python -m crawler`` subprocess.
"""

from __future__ import annotations

import random
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.loopback import LoopbackServer
from crawler.state import EXIT_STATE, SCHEMA_VERSION
from tests.conftest import REPO, run_cli
from tests.upstream_support import articles, assert_complete_posts, crawl, hits, serve, state_at

ITEMS = articles(30)


def db_path(root: Path) -> Path:
    return root / "state" / "wiremirror.sqlite3"


def one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The run failed with EXIT_STATE and said so in exactly one line containing ``needles``."""
    assert result.returncode == EXIT_STATE, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    # Scrapy's start-up notes (a disabled optional pipeline) may come first; the verdict is one line
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("WARNING: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wiremirror: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def mirrored(make_config, loopback: LoopbackServer, tmp_path: Path) -> Path:
    """A site and state store after one real crawl of ITEMS; returns the config."""
    config = make_config()
    serve(loopback, ITEMS)
    assert crawl(config).returncode == 0
    assert len(assert_complete_posts(tmp_path / "output")) == len(ITEMS)
    return config


def table_pages(db: Path, table: str) -> tuple[list[int], int]:
    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [row[0] for row in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
    finally:
        conn.close()
    return [(n - 1) * page_size for n in pages], page_size


def overwrite(db: Path, offsets: list[int], length: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    with db.open("r+b") as fh:
        for offset in offsets:
            fh.seek(offset)
            fh.write(rng.randbytes(length))


@pytest.mark.parametrize("command", [("crawl", "eastmoney"), ("status",), ("archive", "stats")])
def test_a_file_that_is_not_a_database_is_one_clear_line(mirrored: Path, tmp_path: Path, command):
    db_path(tmp_path).write_text("wiremirror.toml copied over the wrong file\n" * 50, encoding="utf-8")
    result = run_cli(*command, "--config", str(mirrored))
    one_clear_line(result, str(db_path(tmp_path)), "damaged (not an SQLite database)", "archive verify --fix")


@pytest.mark.parametrize("keep", [0.5, 50], ids=["half", "50-bytes"])
def test_a_truncated_store_is_one_clear_line(mirrored: Path, tmp_path: Path, keep: float):
    db = db_path(tmp_path)
    size = db.stat().st_size
    assert not db.with_name(db.name + "-wal").exists() or db.with_name(db.name + "-wal").stat().st_size == 0
    with db.open("r+b") as fh:
        fh.truncate(int(size * keep) if keep < 1 else int(keep))
    line = one_clear_line(crawl(mirrored), str(db), "damaged", "restore it from a backup")
    assert ("truncated" in line) if keep < 1 else ("not an SQLite database" in line)


def test_random_bytes_in_the_store_stop_the_crawl_and_verify_fix_rebuilds_it(
    mirrored: Path, loopback: LoopbackServer, tmp_path: Path
):
    db = db_path(tmp_path)
    offsets, page_size = table_pages(db, "articles")
    overwrite(db, offsets, page_size)
    more = [*ITEMS, *articles(2, prefix="2022052600009")]
    serve(loopback, more)

    # the crawl meets the damage when it records the new articles: it must not report ok
    one_clear_line(crawl(mirrored), str(db), "damaged", "malformed")
    # verify scans the whole store, whatever the crawl happened to read
    verify = run_cli("archive", "verify", "--config", str(mirrored))
    one_clear_line(verify, str(db), "damaged")

    fix = run_cli("archive", "verify", "--fix", "--config", str(mirrored))
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "moved it to" in fix.stderr
    (moved,) = (tmp_path / "state" / "quarantine").glob("*/wiremirror.sqlite3")
    assert moved.stat().st_size > 0  # the damaged file is kept for the operator, not deleted
    with state_at(tmp_path) as state:
        assert state.integrity_check() == "ok"
        posts = assert_complete_posts(tmp_path / "output")
        assert {r.article_id for r in state.iter_articles()} == set(posts)

    # the rebuilt store knows every post on disk: the next crawl fetches only what is missing
    loopback.clear_requests()
    result = crawl(mirrored)
    assert result.returncode == 0, result.stderr
    assert sorted(assert_complete_posts(tmp_path / "output")) == sorted(a.article_id for a in more)
    assert not any(hits(loopback, a.text_path) for a in ITEMS)


def test_a_deleted_store_is_rebuilt_from_the_posts_by_verify_fix(
    mirrored: Path, loopback: LoopbackServer, tmp_path: Path
):
    for part in db_path(tmp_path).parent.glob("wiremirror.sqlite3*"):
        part.unlink()
    fix = run_cli("archive", "verify", "--fix", "--config", str(mirrored))
    assert fix.returncode == 0, fix.stdout + fix.stderr
    loopback.clear_requests()
    assert crawl(mirrored).returncode == 0
    assert not any(hits(loopback, a.text_path) for a in ITEMS)  # nothing fetched twice
    assert len(assert_complete_posts(tmp_path / "output")) == len(ITEMS)
    with state_at(tmp_path) as state:
        assert [slug for slug, _, _ in state.categories()] == ["xinhuashe"]


def test_a_store_from_a_newer_wiremirror_is_refused_and_left_alone(mirrored: Path, tmp_path: Path):
    db = db_path(tmp_path)
    newer = SCHEMA_VERSION + 7
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(f"PRAGMA user_version = {newer}")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(newer),))
        conn.execute("CREATE TABLE from_the_future (x)")
    conn.close()
    before = db.read_bytes()
    line = one_clear_line(crawl(mirrored), str(db), f"schema version {newer}", "upgrade wiremirror")
    assert f"({SCHEMA_VERSION})" in line
    assert db.read_bytes() == before


def test_an_sqlite_file_of_another_program_is_refused(mirrored: Path, tmp_path: Path):
    db = db_path(tmp_path)
    for part in db.parent.glob("wiremirror.sqlite3*"):
        part.unlink()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.close()
    one_clear_line(crawl(mirrored), str(db), "not a wiremirror state store")


def test_a_read_only_state_folder_is_one_clear_line(mirrored: Path, tmp_path: Path, namespace: list[str]):
    state = tmp_path / "state"
    command = shlex.join([sys.executable, "-m", "crawler", "crawl", "eastmoney", "--config", str(mirrored)])
    script = (
        f'S={shlex.quote(str(state))}; mount --bind "$S" "$S" && mount -o remount,bind,ro "$S" && {command}'
    )
    result = subprocess.run(
        [*namespace, "sh", "-c", script],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    one_clear_line(result, str(db_path(tmp_path)), f"make {state} writable")
