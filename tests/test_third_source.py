"""A third source, defined entirely inside the test folder (tests/toywire), registered in one place.

The registration is an entry point of the ``wiremirror.sources`` group in a ``.dist-info`` folder
that this test writes and puts on the children's PYTHONPATH — the way an installed plugin package
registers. No production file names the toy wire. Every step is a real ``wiremirror`` subprocess
against the loopback upstream: crawl, a no-change run, cross-source dedupe, status, fetch,
``archive verify``, ``archive rebuild`` from its captures and the daemon's schedule.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import child_pythonpath, read_post, run_cli
from tests.upstream_support import Article, serve, state_at

TOY = [
    {"id": "ab1234", "title": "玩具新闻一号", "time": "2022-05-26 09:00:00", "media": "玩具通讯社"},
    {"id": "cd5678", "title": "同一条新闻两处发", "time": "2022-05-26 09:30:00", "media": "玩具通讯社"},
]
# the second toy story, syndicated by Eastmoney under its own id (same title, same minute)
COPY = Article(
    "202205260000077777", "同一条新闻两处发", "<p>东方财富的转载。</p>", published="2022-05-26 09:30:00"
)


def toy_page(entry: dict[str, str]) -> str:
    return (
        f"<html><head><title>{entry['title']}</title></head><body><h1>{entry['title']}</h1>"
        f"<p class=time>{entry['time']}</p><div class=body><p>{entry['title']}的正文。</p>"
        "<p>记者：张三</p></div></body></html>"
    )


@pytest.fixture
def plugin(tmp_path: Path) -> dict[str, str]:
    """The toy wire's one registration: an entry point, as an installed plugin would have it."""
    dist = tmp_path / "plugins" / "toywire-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toywire\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[wiremirror.sources]\ntoywire = tests.toywire:SOURCE\n", encoding="utf-8"
    )
    return {"PYTHONPATH": os.pathsep.join([child_pythonpath(), str(dist.parent)])}


def test_a_source_defined_in_the_tests_works_in_every_command(loopback, make_config, tmp_path, plugin):
    loopback.add_json("/list.json", {"items": TOY})
    for entry in TOY:
        loopback.add(f"/a/{entry['id']}.html", toy_page(entry), content_type="text/html; charset=utf-8")
    serve(loopback, [COPY])
    config = str(
        make_config(sources={"toywire": {"base_url": loopback.base_url}, "chinanews": {"enabled": False}})
    )
    posts = tmp_path / "output" / "_posts"

    # crawl: posts named by the toy's own rule, its pre-pass applied, its ids with letters kept
    first = run_cli("crawl", "toywire", "--config", config, env=plugin)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "toywire: ok new=2" in first.stdout
    assert sorted(p.name for p in posts.glob("*.md")) == [
        "2022-05-26-toyab1234.md",
        "2022-05-26-toycd5678.md",
    ]
    post = read_post(posts / "2022-05-26-toyab1234.md")
    assert (post["source"], post["article_id"], post["title"]) == ("toywire", "ab1234", "玩具新闻一号")
    assert post["author"] == "张三" and "记者" not in post.content
    assert post["categories"] == "wanjutongxunshe" and post["tags"] == "玩具通讯社新闻"

    # a no-change run asks for the list only
    pages = len(loopback.requests_to("/a/"))
    again = run_cli("crawl", "toywire", "--config", config, env=plugin)
    assert again.returncode == 0 and "new=0" in again.stdout
    assert len(loopback.requests_to("/a/")) == pages

    # dedupe across sources: Eastmoney's copy of a toy story becomes its alias, not a second post
    east = run_cli("crawl", "eastmoney", "--config", config, env=plugin)
    assert east.returncode == 0, east.stdout + east.stderr
    assert not (posts / f"2022-05-26-NW{COPY.article_id}.md").exists()
    with state_at(tmp_path) as state:
        assert state.resolve(COPY.key) == "toywire:cd5678"

    # status knows the source and its last run
    status = run_cli("status", "--json", "--config", config, env=plugin)
    report = json.loads(status.stdout)
    toy = next(s for s in report["sources"] if s["source"] == "toywire")
    assert toy["last_run"]["outcome"] == "ok"

    # fetch takes the toy's article URLs, and says so when one was not mirrored
    url = f"{loopback.base_url}/a/ab1234.html"
    fetched = run_cli("fetch", url, "--config", config, env=plugin)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr

    # the archive tools: verify passes; rebuild restores a lost post from the captures alone
    verify = run_cli("archive", "verify", "--config", config, env=plugin)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    original = (posts / "2022-05-26-toycd5678.md").read_text(encoding="utf-8")
    (posts / "2022-05-26-toycd5678.md").unlink()
    loopback.stop()
    rebuild = run_cli("archive", "rebuild", "--config", config, env=plugin)
    assert rebuild.returncode == 0, rebuild.stdout + rebuild.stderr
    assert (posts / "2022-05-26-toycd5678.md").read_text(encoding="utf-8") == original

    # the daemon schedules it like any source
    plan = run_cli("schedule", "--list", "--config", config, env=plugin)
    assert plan.returncode == 0, plan.stderr
    assert "crawl:toywire" in plan.stdout and "crawl toywire" in plan.stdout


def test_without_its_registration_the_toy_source_is_unknown(make_config):
    config = str(make_config())
    result = run_cli("crawl", "toywire", "--config", config)
    assert result.returncode == 2 and "unknown source 'toywire'" in result.stderr
