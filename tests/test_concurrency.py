"""Concurrency: crawls, archive maintenance and the daemon sharing one site and one state store.

Real processes throughout: two ``wiremirror crawl`` at once, a crawl racing ``archive rotate`` and
``archive rebuild``, the daemon plus a cron-style run, and many writers on one SQLite file. The
promise: no duplicate post, no lost update, and no "database is locked" ever reaching the user.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.loopback import LoopbackServer
from crawler.state import StateStore
from tests.conftest import REPO, read_post, run_cli
from tests.upstream_support import Article, articles, assert_complete_posts, serve, state_at

LOCKED_MESSAGES = ("database is locked", "database table is locked", "OperationalError")


def _env() -> dict[str, str]:
    return {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)}


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", *args],
        cwd=REPO,
        env=_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def assert_no_lock_errors(*outputs: str) -> None:
    for text in outputs:
        for message in LOCKED_MESSAGES:
            assert message not in text, text
        assert "Traceback" not in text, text


def slow_upstream(server: LoopbackServer, items: list[Article], delay: float = 0.02) -> None:
    serve(server, items, bodies=False)
    for article in items:
        server.add_json(article.text_path, {"text": article.body}, delay=delay)


def all_posts(output: Path, archive_dir: str = "old_post") -> dict[str, list[Path]]:
    """article_id → every post file for it, in _posts and in the archive folder."""
    found: dict[str, list[Path]] = {}
    for folder in (output / "_posts", output / archive_dir):
        if folder.is_dir():
            for path in folder.glob("*.md"):
                found.setdefault(str(read_post(path)["article_id"]), []).append(path)
    return found


def test_two_crawls_of_one_source_at_once_write_each_post_once(loopback, make_config, tmp_path):
    items = articles(30)
    slow_upstream(loopback, items)
    config = make_config(crawl={"lock_timeout": 60.0, "concurrent_per_domain": 4})
    first, second = (
        start("crawl", "eastmoney", "--config", str(config)),
        start("crawl", "eastmoney", "--config", str(config)),
    )
    (code1, out1), (code2, out2) = finish(first), finish(second)
    assert (code1, code2) == (0, 0), out1 + out2
    assert_no_lock_errors(out1, out2)
    posts = assert_complete_posts(tmp_path / "output")
    assert sorted(posts) == sorted(a.article_id for a in items)
    # one of them mirrored everything; the other waited for the lock and found nothing new
    assert sorted(["new=30" in out1, "new=30" in out2]) == [False, True], out1 + out2
    with state_at(tmp_path) as state:
        assert state.count_articles() == 30
        assert [r.outcome for r in state.recent_runs("eastmoney")] == ["ok", "ok"]


def test_a_crawl_that_cannot_get_the_lock_says_so_and_exits_75(loopback, make_config, tmp_path):
    items = articles(20)
    slow_upstream(loopback, items, delay=0.1)
    config = make_config(crawl={"lock_timeout": 0.0, "concurrent_per_domain": 1})
    first = start("crawl", "eastmoney", "--config", str(config))
    while not loopback.requests_to("/comm/"):  # the first crawl holds the lock and is working
        time.sleep(0.01)
    code, text = finish(start("crawl", "eastmoney", "--config", str(config)))
    assert code == 75
    assert "crawl-eastmoney is locked by another process (pid=" in text
    assert finish(first)[0] == 0
    assert sorted(assert_complete_posts(tmp_path / "output")) == sorted(a.article_id for a in items)


@pytest.mark.parametrize("action", [["rotate", "--keep-days", "1"], ["rebuild"]], ids=["rotate", "rebuild"])
def test_crawl_racing_archive_maintenance(loopback, make_config, tmp_path, action):
    old, new = articles(10), articles(10, prefix="2022052700000")
    slow_upstream(loopback, old)
    config = make_config(crawl={"lock_timeout": 60.0, "concurrent_per_domain": 4})
    assert run_cli("crawl", "eastmoney", "--config", str(config)).returncode == 0
    slow_upstream(loopback, [*new, *old])  # ten more listed: the next crawl writes while the archive job runs

    crawl = start("crawl", "eastmoney", "--config", str(config))
    archive = start("archive", *action, "--config", str(config))
    (crawl_code, crawl_out), (archive_code, archive_out) = finish(crawl), finish(archive)
    assert crawl_code == 0, crawl_out
    assert archive_code == 0, archive_out
    assert_no_lock_errors(crawl_out, archive_out)

    # and once more, as cron would: nothing is re-created next to its archived copy
    assert run_cli("crawl", "eastmoney", "--config", str(config)).returncode == 0
    found = all_posts(tmp_path / "output")
    assert sorted(found) == sorted(a.article_id for a in [*old, *new])
    assert all(len(paths) == 1 for paths in found.values()), {k: v for k, v in found.items() if len(v) > 1}
    with state_at(tmp_path) as state:
        assert state.integrity_check() == "ok"
        assert state.count_articles() == 20
        for record in state.iter_articles():  # the state follows every move
            assert (tmp_path / "output" / record.post_path).is_file(), record


def test_daemon_plus_cron_runs(loopback, make_config, tmp_path):
    batches = [articles(8, prefix=f"202205{day}00000") for day in (26, 27, 28)]
    slow_upstream(loopback, batches[0])
    config = make_config(
        crawl={"lock_timeout": 60.0, "concurrent_per_domain": 4},
        sources={"chinanews": {"enabled": False}},
        schedule={"eastmoney": {"interval": 1.0}, "shutdown_grace": 30.0},
    )
    daemon = start("--config", str(config), "schedule")
    try:
        cron_outputs = []
        listed: list[Article] = []
        for batch in batches:
            listed = [*batch, *listed]
            slow_upstream(loopback, listed)  # upstream publishes more between runs
            code, text = finish(start("crawl", "eastmoney", "--config", str(config)))
            assert code == 0, text
            cron_outputs.append(text)
        deadline = time.monotonic() + 60
        with state_at(tmp_path) as state:
            while len(state.recent_runs("eastmoney", limit=50)) < 5 and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon_code, daemon_out = finish(daemon)
    assert daemon_code == 0, daemon_out
    logs = "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in (tmp_path / "state").rglob("*.log")
    )
    assert_no_lock_errors(daemon_out, logs, *cron_outputs)

    posts = assert_complete_posts(tmp_path / "output")
    everything = [a for batch in batches for a in batch]
    assert sorted(posts) == sorted(a.article_id for a in everything)
    with state_at(tmp_path) as state:
        runs = state.recent_runs("eastmoney", limit=50)
        assert len(runs) >= 5  # the daemon's runs and the three cron runs all happened
        assert {r.outcome for r in runs} <= {"ok", "interrupted"}
        assert sum(r.stats.get("new", 0) for r in runs) == len(everything)  # each written exactly once
        assert state.count_articles() == len(everything)


WRITER = """
import sys
from crawler.state import StateStore
db, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with StateStore(db) as state:
    run = state.start_run("eastmoney")
    for i in range(count):
        key = f"eastmoney:{worker:03d}{i:015d}"
        state.record_failure(key=key, source="eastmoney", url="u", error="e", backoff=0)
        state.record_article(key=key, source="eastmoney", article_id=key[10:], media="m", url="u",
                             title="t", published="2022-05-26T08:00:00+08:00", content_hash=str(i),
                             post_path=f"_posts/{key[10:]}.md")
        state.assign_category(f"媒体{i % 7}", f"media{i % 7}", "t")
        state.set_meta("last", key)
    state.finish_run(run, "ok", {"new": count})
"""


def test_many_processes_writing_one_state_store(tmp_path):
    db = tmp_path / "state.sqlite3"
    StateStore(db).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(n), "150"],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    results = [finish(p) for p in procs]
    assert [code for code, _ in results] == [0] * 6, results
    assert_no_lock_errors(*(text for _, text in results))
    with StateStore(db) as state:
        assert state.integrity_check() == "ok"
        assert state.count_articles() == 900  # no lost update
        assert state.failures() == []  # each recorded failure cleared by its article
        assert len(state.categories()) == 7  # no duplicate category from racing registrations
        assert len(state.recent_runs("eastmoney", limit=10)) == 6
