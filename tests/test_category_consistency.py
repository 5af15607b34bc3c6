"""Every run leaves the site consistent for the categories it touched: a post's footer link to
``category/<slug>.html`` resolves, even after a crash between registering a category and writing
its page, or after the page was deleted, without anyone running ``archive categories``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from crawler.loopback import LoopbackServer
from tests.conftest import REPO, read_post, wait_for
from tests.upstream_support import articles, crawl, serve, state_at

PAGE = Path("output/category/xinhuashe.html")  # the upstream_support articles are all 新华社


def _wait_for(condition, what: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    def ready() -> bool:
        assert proc.poll() is None, f"the crawl exited {proc.returncode} before {what}"
        return bool(condition())

    wait_for(ready, timeout, what)


def _registered(root: Path) -> bool:
    if not (root / "state" / "wiremirror.sqlite3").exists():
        return False
    with state_at(root) as state:
        return bool(state.categories())


def test_first_crawl_killed_after_registering_a_category_leaves_no_dangling_footer_link(
    make_config, loopback: LoopbackServer, tmp_path: Path
):
    first, held = articles(2)
    serve(loopback, [first, held], bodies=False)
    loopback.add_json(first.text_path, {"text": first.body})
    loopback.add_json(held.text_path, {"text": held.body}, delay=60)  # keeps the run open until killed
    config = make_config()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "crawl", "eastmoney", "--config", str(config)],
        cwd=REPO,
        env={**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        post = tmp_path / "output" / "_posts" / first.post_name
        _wait_for(post.exists, "the first post", proc)
        _wait_for(lambda: _registered(tmp_path), "the category registry row", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL  # killed mid-run: the held body never arrived

    # the post links to its category page; the page must exist as soon as the post does
    assert "/category/xinhuashe.html)" in read_post(post).content
    assert (tmp_path / PAGE).is_file(), "a post was written before its category page"

    # and an ordinary run (the category is known now, not newly registered) keeps it that way
    (tmp_path / PAGE).unlink()
    loopback.add_json(held.text_path, {"text": held.body})
    result = crawl(config)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "output" / "_posts" / held.post_name).is_file()
    page = read_post(tmp_path / PAGE)
    assert page.metadata == {"layout": "category", "title": "新华社新闻", "category": "xinhuashe"}


def test_a_run_that_posts_into_a_known_category_rewrites_its_missing_page(
    make_config, loopback: LoopbackServer, tmp_path: Path
):
    pool = articles(3)
    config = make_config()
    serve(loopback, pool[:1])
    assert crawl(config).returncode == 0
    assert (tmp_path / PAGE).is_file()
    (tmp_path / PAGE).unlink()

    # a run with nothing new touches no category and writes nothing
    assert crawl(config).returncode == 0
    assert not (tmp_path / PAGE).exists()

    serve(loopback, pool)
    result = crawl(config)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / PAGE).is_file()
    stamp = (tmp_path / PAGE).stat().st_mtime_ns
    serve(loopback, [*pool, *articles(1, prefix="2022052600009")])
    assert crawl(config).returncode == 0
    assert (tmp_path / PAGE).stat().st_mtime_ns == stamp  # an existing page is only looked at
