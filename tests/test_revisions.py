"""Revisions end to end: known articles fetched again at their recheck ages, by real crawls.

The crawls are real `wiremirror crawl` subprocesses against the loopback upstream; "later" is the
children's clock moved forward (tests/clock/sitecustomize.py), never a wait.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from crawler.state import StateStore
from tests.conftest import CLOCK_DIR, CLOCK_OFFSET_ENV, REPO, posts_in, read_post, run_cli
from tests.test_spider_chinanews import list_page, simple_article

URL = "/gn/2026/11-30/10500001.shtml"
POST = "2026-11-30-cns10500001.md"
WHEN = "2026-11-30 08:00:01"


@pytest.fixture
def upstream(loopback):
    loopback.add("/scroll-news/news1.html", list_page((URL, "11-30 08:00")))
    loopback.add(URL, simple_article("原来的标题", WHEN, "<p>　　原来的正文。</p>"))
    return loopback


@pytest.fixture
def config(make_config):
    def make(**revisions):
        return make_config(
            sources={"eastmoney": {"enabled": False}, "chinanews": {"scroll_pages": 1}},
            revisions={"recheck_after": [600, 3600], **revisions},
        )

    return make


def crawl(config, *, later: float = 0.0, kill_writing: str = ""):
    """A crawl, ``later`` seconds after now as the child's clock sees it (and SIGKILLed the moment it
    writes a post holding ``kill_writing``, when given: tests/clock/sitecustomize.py)."""
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(CLOCK_DIR)])}
    if later:
        env[CLOCK_OFFSET_ENV] = repr(float(os.environ.get(CLOCK_OFFSET_ENV, "0")) + later)
    if kill_writing:
        env["WIREMIRROR_TEST_KILL_WRITING"] = kill_writing
    return run_cli("crawl", "chinanews", "--config", str(config), env=env)


def article_requests(server):
    return [r for r in server.requests if r.path == URL]


def summary_value(output: str, name: str) -> str:
    """The value of one line of a command's summary table (``name … value``)."""
    (line,) = [line for line in output.splitlines() if name in line]
    return line.replace("│", " ").split()[-1]


def state_of(tmp_path):
    return StateStore(tmp_path / "state" / "wiremirror.sqlite3")


def test_an_article_edited_upstream_becomes_revision_2_with_its_history(upstream, config, tmp_path):
    cfg = config()
    assert crawl(cfg).returncode == 0
    first = (tmp_path / "output" / "_posts" / POST).read_text(encoding="utf-8")
    upstream.add(URL, simple_article("更正后的标题", WHEN, "<p>　　更正后的正文。</p>"))
    upstream.clear_requests()

    result = crawl(cfg, later=700)  # past the first recheck age
    assert result.returncode == 0, result.stderr
    assert len(article_requests(upstream)) == 1
    assert posts_in(tmp_path / "output") == [POST]  # same file, same URL on the site
    post = read_post(tmp_path / "output" / "_posts" / POST)
    assert post["title"] == "更正后的标题"
    assert post["revision"] == 2
    assert "updated" in post.metadata
    assert "更正后的正文" in post.content
    keys = list(post.metadata)
    assert keys[:7] == ["layout", "title", "date", "categories", "tags", "revision", "updated"]
    with state_of(tmp_path) as state:
        versions = state.revisions("chinanews:10500001")
        record = state.get_article("chinanews:10500001")
    assert [(v.revision, v.title) for v in versions] == [(1, "原来的标题"), (2, "更正后的标题")]
    assert "原来的正文" in versions[0].body and versions[0].body in first
    assert record.revision == 2

    history = run_cli("archive", "history", "chinanews:10500001", "--config", str(cfg))
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0].startswith(f"chinanews:10500001  _posts/{POST}")
    assert "-title: 原来的标题" in lines and "+title: 更正后的标题" in lines
    assert "-原来的正文。" in lines and "+更正后的正文。" in lines
    by_url = run_cli("archive", "history", f"https://www.chinanews.com.cn{URL}", "--config", str(cfg))
    assert by_url.stdout == history.stdout  # the article's URL names it too

    stats = run_cli("archive", "stats", "--config", str(cfg))
    assert summary_value(stats.stdout, "revised upstream") == "1"
    assert summary_value(stats.stdout, "retracted upstream") == "0"
    status = run_cli("status", "--json", "--config", str(cfg))
    (source,) = json.loads(status.stdout)["sources"]
    assert source["rechecks"]["done_last_run"] == 1 and source["rechecks"]["scheduled"] == 1

    upstream.clear_requests()  # the next age has not come: a run makes list requests only
    assert crawl(cfg, later=800).returncode == 0
    assert article_requests(upstream) == []


def test_a_recheck_that_finds_nothing_new_writes_nothing(upstream, config, tmp_path):
    cfg = config()
    assert crawl(cfg).returncode == 0
    before = (tmp_path / "output" / "_posts" / POST).stat().st_mtime_ns
    upstream.clear_requests()
    assert crawl(cfg, later=700).returncode == 0
    assert len(article_requests(upstream)) == 1
    assert (tmp_path / "output" / "_posts" / POST).stat().st_mtime_ns == before
    with state_of(tmp_path) as state:
        assert state.get_article("chinanews:10500001").revision == 1
        assert state.revisions("chinanews:10500001") == []


def test_an_article_gone_on_recheck_is_marked_retracted_not_deleted(upstream, config, tmp_path):
    cfg = config()
    assert crawl(cfg).returncode == 0
    upstream.add(URL, "gone", status=404)
    result = crawl(cfg, later=700)
    assert result.returncode == 0, result.stderr
    post = read_post(tmp_path / "output" / "_posts" / POST)
    assert "retracted" in post.metadata
    assert "原来的正文" in post.content
    with state_of(tmp_path) as state:
        assert state.get_article("chinanews:10500001").retracted
    upstream.clear_requests()
    assert crawl(cfg, later=4000).returncode == 0  # never rechecked again
    assert article_requests(upstream) == []


def test_rechecks_switched_off_fetch_no_known_article(upstream, config, tmp_path):
    cfg = config(recheck_after=[])
    assert crawl(cfg).returncode == 0
    upstream.clear_requests()
    assert crawl(cfg, later=100000).returncode == 0
    assert article_requests(upstream) == []


def test_a_recheck_is_conditional_and_a_304_costs_no_body(loopback, config, tmp_path):
    loopback.add("/scroll-news/news1.html", list_page((URL, "11-30 08:00")))
    loopback.add(URL, simple_article("原来的标题", WHEN), headers={"ETag": '"v1"'})
    cfg = config()
    assert crawl(cfg).returncode == 0
    before = (tmp_path / "output" / "_posts" / POST).stat().st_mtime_ns
    loopback.clear_requests()
    assert crawl(cfg, later=700).returncode == 0
    (recheck,) = article_requests(loopback)
    assert recheck.headers.get("If-None-Match") == '"v1"'
    assert (tmp_path / "output" / "_posts" / POST).stat().st_mtime_ns == before
    with state_of(tmp_path) as state:  # that age is used up: the next recheck is the next age's
        record = state.get_article("chinanews:10500001")
        assert (record.rechecks, record.revision) == (1, 1)
    loopback.clear_requests()
    assert crawl(cfg, later=800).returncode == 0
    assert article_requests(loopback) == []


def test_rechecks_per_run_respect_the_cap(loopback, config, tmp_path):
    rows = [(f"/gn/2026/11-30/105000{n:02d}.shtml", "11-30 08:00") for n in range(10, 16)]
    loopback.add("/scroll-news/news1.html", list_page(*rows))
    for href, _ in rows:
        loopback.add(href, simple_article(f"稿件{href[-8:-6]}", WHEN))
    cfg = config(max_rechecks_per_run=4)
    assert crawl(cfg).returncode == 0
    loopback.clear_requests()
    assert crawl(cfg, later=700).returncode == 0
    rechecked = {r.path for r in loopback.requests if r.path.startswith("/gn/")}
    assert len(rechecked) == 4
    loopback.clear_requests()
    assert crawl(cfg, later=710).returncode == 0  # the rest, in the next run
    assert {r.path for r in loopback.requests if r.path.startswith("/gn/")} == {
        h for h, _ in rows
    } - rechecked


CHART = "https://webquoteklinepic.eastmoney.com/GetPic.aspx?nid=106.NIO&imageType=k&token={}&at=1"
PHOTO = "https://dfscdn.dfcfw.com/download/D25142679471871442176_w700h395.jpg?token={}&t=1764460800"
EM_ID = "202611300000000801"


def eastmoney_upstream(
    server, chart_token: str, body: str = "蔚来发布公告。", title: str = "蔚来公告"
) -> None:
    entry = {"code": EM_ID, "showTime": "2026-11-30 08:00:00", "title": title, "mediaName": "新华社"}
    server.add_json("/comm/web/getNewsByColumns", {"code": "1", "data": {"list": [entry]}})
    content = (  # the chart block as GetNewsText has it (crawler/demo_data/eastmoney)
        '<!-- EM_StockImg_Start --><p style="text-align:center;"><a href="http://quote.eastmoney.com/unify/r/106.NIO"'
        ' class="EmImageRemark" target="_blank"><img src="' + CHART.format(chart_token) + '" border="0"'
        ' alt="K图 NIO_0" width="578" height="276" /></a></p><!-- EM_StockImg_End -->'
        f'<p>{body}</p><center><img src="{PHOTO.format(chart_token)}" /></center>'  # a signed image URL
    )
    server.add_json(f"/NewsData/GetNewsText.do?id=NW{EM_ID}", {"content": content})


def test_a_noise_only_change_is_not_a_revision(loopback, make_config, tmp_path):
    cfg = make_config(sources={"chinanews": {"enabled": False}}, revisions={"recheck_after": [600]})
    eastmoney_upstream(loopback, "28dfeb41d35cc81d84b4664d7c23c49f")
    assert run_cli("crawl", "eastmoney", "--config", str(cfg)).returncode == 0
    post_path = tmp_path / "output" / "_posts" / f"2026-11-30-NW{EM_ID}.md"
    before = post_path.read_text(encoding="utf-8")
    assert "webquoteklinepic" not in before  # the chart widget never reaches a post
    assert "D25142679471871442176_w700h395.jpg?token=28dfeb41d35cc81d84b4664d7c23c49f" in before

    eastmoney_upstream(loopback, "0123456789abcdef0123456789abcdef")  # a new chart token, nothing else
    loopback.clear_requests()
    env = {
        CLOCK_OFFSET_ENV: repr(float(os.environ.get(CLOCK_OFFSET_ENV, "0")) + 700),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(CLOCK_DIR)]),
    }
    assert run_cli("crawl", "eastmoney", "--config", str(cfg), env=env).returncode == 0
    assert loopback.requests_to("/NewsData/GetNewsText.do")  # it was fetched again …
    assert post_path.read_text(encoding="utf-8") == before  # … and is not a revision
    with state_of(tmp_path) as state:
        assert state.get_article(f"eastmoney:{EM_ID}").revision == 1
        assert state.revisions(f"eastmoney:{EM_ID}") == []


def test_sigkill_while_a_revision_is_written_loses_neither_version(upstream, config, tmp_path):
    cfg = config()
    assert crawl(cfg).returncode == 0
    first = (tmp_path / "output" / "_posts" / POST).read_text(encoding="utf-8")
    upstream.add(URL, simple_article("更正后的标题", WHEN, "<p>　　更正后的正文。</p>"))

    killed = crawl(cfg, later=700, kill_writing="更正后的正文")
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "output" / "_posts" / POST).read_text(encoding="utf-8") == first  # version 1 whole
    with state_of(tmp_path) as state:
        (kept,) = state.revisions("chinanews:10500001")  # and kept before the rewrite began
        assert (kept.revision, kept.title) == (1, "原来的标题")
        assert state.get_article("chinanews:10500001").revision == 1

    # version 2 is still upstream and the recheck was not used up: the next run mirrors it
    assert crawl(cfg, later=710).returncode == 0
    post = read_post(tmp_path / "output" / "_posts" / POST)
    assert (post["title"], post["revision"]) == ("更正后的标题", 2)
    with state_of(tmp_path) as state:
        assert [v.revision for v in state.revisions("chinanews:10500001")] == [1, 2]


def test_a_title_corrected_in_the_list_is_mirrored_before_any_recheck_age(loopback, make_config, tmp_path):
    cfg = make_config(sources={"chinanews": {"enabled": False}}, revisions={"recheck_after": [86400]})
    eastmoney_upstream(loopback, "aaaa", title="蔚来公告")
    assert run_cli("crawl", "eastmoney", "--config", str(cfg)).returncode == 0
    eastmoney_upstream(loopback, "aaaa", title="蔚来更正公告")  # only the list shows it
    loopback.clear_requests()
    result = run_cli("crawl", "eastmoney", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert len(loopback.requests_to("/NewsData/GetNewsText.do")) == 1
    post = read_post(tmp_path / "output" / "_posts" / f"2026-11-30-NW{EM_ID}.md")
    assert (post["title"], post["revision"]) == ("蔚来更正公告", 2)
    loopback.clear_requests()  # mirrored now: the list no longer differs
    assert run_cli("crawl", "eastmoney", "--config", str(cfg)).returncode == 0
    assert loopback.requests_to("/NewsData/GetNewsText.do") == []


def test_rebuild_reproduces_the_latest_revision_and_its_marks(upstream, config, tmp_path):
    cfg = config()
    assert crawl(cfg).returncode == 0
    upstream.add(URL, simple_article("更正后的标题", WHEN, "<p>　　更正后的正文。</p>"))
    assert crawl(cfg, later=700).returncode == 0
    path = tmp_path / "output" / "_posts" / POST
    revised = path.read_text(encoding="utf-8")
    assert "revision: 2" in revised
    path.unlink()
    result = run_cli("archive", "rebuild", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert path.read_text(encoding="utf-8") == revised  # the latest version, its revision and time


def test_verify_checks_the_revision_marks_against_the_store_and_its_history(upstream, config, tmp_path):
    cfg = config()
    assert crawl(cfg).returncode == 0
    upstream.add(URL, simple_article("更正后的标题", WHEN, "<p>　　更正后的正文。</p>"))
    assert crawl(cfg, later=700).returncode == 0
    verify = run_cli("archive", "verify", "--config", str(cfg))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    with state_of(tmp_path) as state, state.write() as conn:  # a version lost from the history
        conn.execute("DELETE FROM revisions WHERE revision = 1")
    path = tmp_path / "output" / "_posts" / POST
    path.write_text(path.read_text(encoding="utf-8").replace("revision: 2", "revision: 3"), encoding="utf-8")
    verify = run_cli("archive", "verify", "--config", str(cfg))
    assert verify.returncode == 1
    assert "revision 3 in the post ≠ the state store's 2" in verify.stdout
    assert "history keeps versions [2] of 2" not in verify.stdout  # [2] is consecutive up to 2 …
    with state_of(tmp_path) as state, state.write() as conn:
        conn.execute("DELETE FROM revisions")
    verify = run_cli("archive", "verify", "--config", str(cfg))
    assert "history keeps versions none of 2" in verify.stdout  # … none is not


def test_a_soft_404_on_recheck_is_a_retraction_not_a_failure(upstream, config, tmp_path):
    cfg = config()
    assert crawl(cfg).returncode == 0
    upstream.add(URL, "<html><head><title>中国新闻网-404页面</title></head><body>页面没有找到</body></html>")
    result = crawl(cfg, later=700)
    assert result.returncode == 0, result.stderr
    post = read_post(tmp_path / "output" / "_posts" / POST)
    assert "retracted" in post.metadata and "原来的正文" in post.content
    with state_of(tmp_path) as state:
        assert state.get_article("chinanews:10500001").retracted
        assert state.failures() == []  # the known post stays as it is: nothing to retry
