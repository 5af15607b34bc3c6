"""Crash safety: ``wiremirror crawl`` killed with SIGKILL at many points, then run again.

After every kill: nothing partial is visible to Jekyll, the state store opens and passes
``PRAGMA integrity_check``, and every article it calls known has its post on disk. After the final
run: every listed article has exactly one post and ``wiremirror archive verify`` passes.

Kill points are chosen from what the upstream has served (after the list, after the k-th body)
plus a random delay, so they land in discovery, downloads, pipelines and writes. The fast variant
kills a handful of times; ``make stress`` (``-m stress``) kills many times with fresh timings.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.loopback import LoopbackServer
from tests.conftest import REPO, run_cli, wait_for
from tests.upstream_support import Article, articles, assert_complete_posts, hits, serve, state_at


def _serve_slowly(server: LoopbackServer, items: list[Article]) -> None:
    serve(server, items, bodies=False)
    for article in items:  # a little latency so a run lasts long enough to be killed in the middle
        server.add_json(article.text_path, {"text": article.body}, delay=0.03)


def _bodies_served(server: LoopbackServer) -> int:
    return sum(1 for r in list(server.requests) if r.path.startswith("/NewsData/"))


def crawl_and_kill(config: Path, server: LoopbackServer, *, after_bodies: int, jitter: float) -> int | None:
    """Start a crawl, SIGKILL it once the upstream served ``after_bodies`` bodies plus ``jitter``
    seconds; returns the exit code if it finished first, None when it was killed."""
    env = {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)}
    start = _bodies_served(server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "crawl", "eastmoney", "--config", str(config)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while (
        proc.poll() is None and _bodies_served(server) - start < after_bodies and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    time.sleep(jitter)
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return None


def check_after_kill(root: Path) -> None:
    """What must hold at any instant, so also right after a SIGKILL."""
    posts = assert_complete_posts(root / "output")  # no partial post, no duplicate, only .wm-*.tmp hidden
    if not (root / "state" / "wiremirror.sqlite3").exists():
        return
    with state_at(root) as state:
        assert state.integrity_check() == "ok"
        for record in state.iter_articles():
            # nothing is marked known that is not on disk
            assert (root / "output" / record.post_path).is_file(), record
            assert record.article_id in posts


def check_final(root: Path, items: list[Article], config: Path) -> None:
    posts = assert_complete_posts(root / "output")
    assert sorted(posts) == sorted(a.article_id for a in items)  # none lost, none twice
    assert sorted(p.name for p in posts.values()) == sorted(a.post_name for a in items)
    with state_at(root) as state:
        assert state.integrity_check() == "ok"
        assert state.count_articles() == len(items)
        assert state.failures() == []
    # category pages are the site's, written by `archive categories` (verify checks them too)
    assert run_cli("archive", "categories", "--config", str(config)).returncode == 0
    verify = run_cli("archive", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def kill_many_times(make_config, loopback, tmp_path, kills: int, seed: int, n_articles: int) -> None:
    pool = articles(n_articles)
    step = max(1, n_articles // kills)
    config = make_config(crawl={"concurrent_per_domain": 4, "retry_backoff": 0.0})
    rng = random.Random(seed)
    killed = 0
    listed: list[Article] = []
    for attempt in range(kills):
        # upstream keeps publishing, so every run has work left to be interrupted in
        listed = pool[: min(n_articles, len(listed) + step)]
        _serve_slowly(loopback, listed)
        with state_at(tmp_path) as state:
            remaining = len(listed) - len(state.known_keys(a.key for a in listed))
        # spread the kill points over the run: before the first body, early, middle, late
        after = rng.choice([0, 1, 2, rng.randrange(remaining // 2 + 1), rng.randrange(remaining + 1)])
        code = crawl_and_kill(config, loopback, after_bodies=after, jitter=rng.uniform(0, 0.15))
        killed += code is None
        assert code in (None, 0), f"kill {attempt}: the crawl exited {code}"
        check_after_kill(tmp_path)
    assert killed >= kills // 2  # the test really interrupted runs, not only watched them finish
    items = pool
    _serve_slowly(loopback, items)
    loopback.clear_requests()
    final = run_cli("crawl", "eastmoney", "--config", str(config))
    assert final.returncode == 0, final.stderr
    check_final(tmp_path, items, config)
    # and the run after that has nothing left to do
    loopback.clear_requests()
    assert run_cli("crawl", "eastmoney", "--config", str(config)).returncode == 0
    assert not any(hits(loopback, a.text_path) for a in items)


def test_sigkill_at_several_points_then_rerun(make_config, loopback, tmp_path):
    kill_many_times(make_config, loopback, tmp_path, kills=5, seed=6, n_articles=40)


@pytest.mark.stress
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", range(4))
def test_sigkill_many_times_with_fresh_timings(make_config, loopback, tmp_path, seed):
    kill_many_times(make_config, loopback, tmp_path, kills=25, seed=1000 + seed, n_articles=120)


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the crawl started one), from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: the session id
            members.append(int(stat.parent.name))
    return members


def test_a_crawl_killed_outright_leaves_no_process_behind(make_config, loopback, tmp_path):
    """The cleaning worker process learns of a SIGKILLed crawl by itself and ends."""
    _serve_slowly(loopback, articles(40))
    env = {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "crawl", "eastmoney", "--config", str(make_config())],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # the worker exists once a body has been cleaned: wait for a post, then for the session's other members
    wait_for(lambda: any((tmp_path / "output" / "_posts").glob("*.md")), 60, "a first post")
    assert len(_session_members(proc.pid)) > 1  # the crawl and its worker (and the forkserver)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    wait_for(lambda: _session_members(proc.pid) == [], 30, "the crawl's worker processes to end")
