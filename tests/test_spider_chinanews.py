"""The 中国新闻网 spider and backfill end to end: real `wiremirror` subprocesses against a loopback upstream.

The upstream is the bundled demo data (crawler/demo_data/chinanews: hand-made scroll pages, the real
Template A page, hand-made Template B / multi-page / GB2312 / video pages) plus routes added per test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from crawler.loopback import LoopbackServer
from crawler.state import StateStore
from tests.conftest import DEMO_DATA, REPO, posts_in, read_post, run_cli

TEMPLATE_B = "2022-04-08-cns9724513.md"
MULTI = "2021-06-01-cns9489001.md"
GB2312 = "2016-09-11-cns8000830.md"
TEMPLATE_A = "2020-07-04-cns9229287.md"
ALL_POSTS = [GB2312, TEMPLATE_A, MULTI, TEMPLATE_B]
EASTMONEY_TWIN = "2022-04-08-NW202204082336871455.md"  # the same story via Eastmoney (media 中国新闻网)
ARTICLE_PATH = re.compile(r"^/(?!scroll-news/|rss/)[\w/-]+\.shtml$")
FOOTER = "[返回中国新闻网新闻](//finews.withounder.com/category/zhongguoxinwenwang.html)｜[返回首页](//finews.withounder.com/)"

ROW = '<li><div class="dd_lm">[{lm}]</div><div class="dd_bt"><a href="{href}">{title}</a></div><div class="dd_time">{t}</div></li>'
LIST = (
    '<html><head><meta charset="utf-8"></head><body><div class="content_list"><ul>{}</ul></div></body></html>'
)


def list_page(*rows: tuple[str, str]) -> str:
    return LIST.format("".join(ROW.format(lm="国内", href=href, title="标题", t=t) for href, t in rows))


def simple_article(title: str, when: str, body: str = "<p>　　正文。</p>") -> str:
    return (
        f"<html><head><meta charset='utf-8'><title>{title}-中新网</title></head><body>"
        f"<div id='cont_1_1_2'><h1>{title}</h1><div id='BaiduSpider'><span id='pubtime_baidu'>{when}</span></div>"
        f"<div class='left-t'>{when[:16]}　来源：中国新闻网</div><div class='left_zw'>{body}</div></div></body></html>"
    )


@pytest.fixture
def chinanews_demo(loopback: LoopbackServer) -> LoopbackServer:
    loopback.load_manifest(DEMO_DATA / "chinanews")
    return loopback


@pytest.fixture
def cn_config(make_config):
    """A config with only chinanews enabled (unless the test enables Eastmoney too)."""

    def make(**chinanews: object) -> Path:
        return make_config(sources={"eastmoney": {"enabled": False}, "chinanews": chinanews})

    return make


def crawl(config: Path, source: str = "chinanews", *extra: str):
    return run_cli("crawl", source, "--config", str(config), *extra)


def article_paths(server: LoopbackServer) -> list[str]:
    return [r.path for r in server.requests if ARTICLE_PATH.match(r.path)]


def state_of(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state" / "wiremirror.sqlite3")


# -- crawl ---------------------------------------------------------------------------------------


def test_first_run_mirrors_every_listed_article(chinanews_demo, cn_config, tmp_path):
    result = crawl(cn_config(rss_enabled=True))
    assert result.returncode == 0, result.stderr
    assert "chinanews: ok new=4" in result.stdout
    out = tmp_path / "output" / "_posts"
    assert posts_in(tmp_path / "output") == ALL_POSTS

    post = read_post(out / TEMPLATE_B)
    assert (
        post["title"] == "短视频平台汇聚抗“疫”新暖流 快手多举措联动"
    )  # the article's <h1>, not the header's
    assert post["date"] == "2022-04-08 17:57:45 +0800"
    assert (post["categories"], post["tags"]) == ("zhongguoxinwenwang", "中国新闻网新闻")
    assert (post["source"], post["media"], post["origin"], post["editor"]) == (
        "chinanews",
        "中国新闻网",
        "中国新闻网",
        "李娟",
    )
    assert post["article_id"] == "9724513"
    assert post["source_url"] == f"{chinanews_demo.base_url}/cj/2022/04-08/9724513.shtml"
    assert "快手上线疫情求助入口" in post.content
    assert "https://i2.chinanews.com.cn/simg/cmshd/2022/04/08/9724513a.jpg" in post.content
    assert "快手疫情求助入口。受访者供图" in post.content  # caption kept
    for junk in ("【编辑", "adInContent", "<script", "分享到", "\u3000"):
        assert junk not in post.content
    assert post.content.rstrip().endswith(FOOTER)

    real = read_post(out / TEMPLATE_A)
    assert real["title"] == "【中国稳健前行】坚定实施扩大内需战略"
    assert real["date"] == "2020-07-04 12:10:24 +0800"
    assert (real["origin"], real["editor"], real["author"]) == (
        "求是网",
        "陈海峰",
        "方敏北京大学经济学院教授",
    )
    assert "(作者：" not in real.content
    assert "slotbydup" not in real.content

    multi = read_post(out / MULTI).content
    order = [multi.index(text) for text in ("第一页第一段", "第二页第一段", "第三页，也是最后一页")]
    assert order == sorted(order)
    assert "下一页" not in multi

    gb = (out / GB2312).read_text(encoding="utf-8")
    assert "国务院常务会议部署推进“互联网+政务服务”" in gb
    assert "让企业和群众办事更方便" in gb
    assert "\ufffd" not in gb

    paths = [r.path for r in chinanews_demo.requests]
    assert sorted(article_paths(chinanews_demo)) == sorted(
        [
            "/cj/2022/04-08/9724513.shtml",  # listed twice (second time with ?from=dup): fetched once
            "/gn/2021/06-01/9489001.shtml",
            "/gn/2021/06-01/9489001_2.shtml",
            "/gn/2021/06-01/9489001_3.shtml",
            "/ll/2020/07-04/9229287.shtml",  # in the scroll list and the RSS feed: fetched once
            "/gn/2016/09-11/8000830.shtml",
        ]
    )
    assert not any("shipin" in p or p.startswith("/tp/") for p in paths)  # video and photo skipped
    assert "/theory.shtml" not in paths  # the RSS channel-page pseudo-item
    archives = sorted(p for p in paths if re.fullmatch(r"/scroll-news/\d{4}/\d{4}/news\.shtml", p))
    assert len(archives) == 2  # today and yesterday (Beijing)
    days = [date(int(p[13:17]), int(p[18:20]), int(p[20:22])) for p in archives]
    assert days[1] - days[0] == timedelta(days=1)
    with state_of(tmp_path) as state:
        assert state.count_articles("chinanews") == 4
        (run,) = state.recent_runs("chinanews")
        assert run.outcome == "ok"


def test_second_run_with_nothing_new_fetches_no_article(chinanews_demo, cn_config, tmp_path):
    config = cn_config()
    assert crawl(config).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "output" / "_posts").iterdir()}
    chinanews_demo.clear_requests()

    result = crawl(config)
    assert result.returncode == 0, result.stderr
    assert article_paths(chinanews_demo) == []
    # the fast path: one list request; the day archives were read an hour ago at most
    lists = [r.path for r in chinanews_demo.requests if r.path != "/robots.txt"]
    assert lists == ["/scroll-news/news1.html"]  # nothing new on page 1: no older page read
    assert "new=0" in result.stdout
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "output" / "_posts").iterdir()}
    assert after == before


def test_day_archives_are_a_periodic_catch_up(chinanews_demo, cn_config):
    config = cn_config(day_archive_interval=0.0)
    for _ in range(2):
        chinanews_demo.clear_requests()
        assert crawl(config).returncode == 0
        archives = [
            r.path
            for r in chinanews_demo.requests
            if re.fullmatch(r"/scroll-news/\d{4}/\d{4}/news\.shtml", r.path)
        ]
        assert len(archives) == 2  # interval 0: read on every run


def test_scroll_pages_are_read_while_they_bring_news(chinanews_demo, cn_config):
    assert crawl(cn_config(rss_enabled=False, day_archive_enabled=False)).returncode == 0
    scroll = [r.path for r in chinanews_demo.requests if r.path.startswith("/scroll-news/")]
    assert scroll == ["/scroll-news/news1.html", "/scroll-news/news2.html"]  # news2: nothing new, stop


def test_scroll_pages_limit(chinanews_demo, cn_config):
    assert crawl(cn_config(scroll_pages=1, rss_enabled=False, day_archive_enabled=False)).returncode == 0
    scroll = [r.path for r in chinanews_demo.requests if r.path.startswith("/scroll-news/")]
    assert scroll == ["/scroll-news/news1.html"]


def test_channel_filter(chinanews_demo, cn_config, tmp_path):
    assert crawl(cn_config(channels=["gn"])).returncode == 0
    assert posts_in(tmp_path / "output") == [GB2312, MULTI]
    assert "/cj/2022/04-08/9724513.shtml" not in article_paths(chinanews_demo)


def test_only_the_configured_discovery_routes_are_read(chinanews_demo, cn_config, tmp_path):
    assert (
        crawl(
            cn_config(
                scroll_enabled=False, day_archive_enabled=False, rss_enabled=True, rss_feeds=["scroll-news"]
            )
        ).returncode
        == 0
    )
    lists = [
        r.path for r in chinanews_demo.requests if not ARTICLE_PATH.match(r.path) and r.path != "/robots.txt"
    ]
    assert lists == ["/rss/scroll-news.xml"]
    assert posts_in(tmp_path / "output") == [TEMPLATE_A]  # the feed's one article item


def test_videos_are_fetched_when_not_skipped(chinanews_demo, cn_config):
    crawl(cn_config(skip_video=False))
    assert chinanews_demo.requests_to("/cul/shipin/2026/09-23/news1069974.shtml")
    assert not chinanews_demo.requests_to("/tp/")  # photos still skipped


def test_video_post_is_written_when_not_skipped(chinanews_demo, cn_config, tmp_path):
    assert crawl(cn_config(skip_video=False)).returncode == 0
    assert "2026-09-23-cnsv1069974.md" in posts_in(tmp_path / "output")


def test_soft_404_and_broken_pages_are_failures_not_posts(loopback, cn_config, tmp_path):
    loopback.add(
        "/scroll-news/news1.html",
        list_page(
            ("/gn/2026/11-01/10750001.shtml", "11-01 08:00"),
            ("/gn/2026/11-01/10750002.shtml", "11-01 08:01"),
            ("/gn/2026/11-01/10750003.shtml", "11-01 08:02"),
            ("/gn/2026/11-01/10750004.shtml", "11-01 08:03"),
        ),
    )
    soft404 = (REPO / "tests" / "fixtures" / "chinanews" / "handmade" / "soft404.html").read_bytes()
    loopback.add("/gn/2026/11-01/10750001.shtml", soft404)
    loopback.add("/gn/2026/11-01/10750002.shtml", "oops", status=500)
    gb_bytes = simple_article("正确解码", "2026-11-01 08:02:00").replace("utf-8", "gb2312").encode("gb2312")
    loopback.add("/gn/2026/11-01/10750003.shtml", gb_bytes, content_type="text/html; charset=utf-8")  # lies
    loopback.add("/gn/2026/11-01/10750004.shtml", simple_article("正常稿件", "2026-11-01 08:03:09"))
    result = crawl(cn_config(scroll_pages=1))
    assert result.returncode == 0, result.stderr  # the list worked; three articles failed and are recorded
    assert posts_in(tmp_path / "output") == ["2026-11-01-cns10750004.md"]
    with state_of(tmp_path) as state:
        failures = {f.key: f.error for f in state.failures("chinanews")}
        assert not state.is_known("chinanews:10750001")
    assert "soft 404" in failures["chinanews:10750001"]
    assert "HTTP 500" in failures["chinanews:10750002"]
    assert "encoding" in failures["chinanews:10750003"]
    assert "failed=3" in result.stdout


def test_failed_article_is_retried_on_a_later_run(loopback, tmp_path, make_config):
    loopback.add("/scroll-news/news1.html", list_page(("/gn/2026/11-01/10750005.shtml", "11-01 09:00")))
    loopback.add("/gn/2026/11-01/10750005.shtml", "oops", status=503)
    config = make_config(crawl={"retry_backoff": 0.0}, sources={"eastmoney": {"enabled": False}})
    assert crawl(config).returncode == 0
    assert posts_in(tmp_path / "output") == []
    # the row has left the list meanwhile: the failure record alone brings the article back
    loopback.add("/scroll-news/news1.html", list_page())
    loopback.add("/gn/2026/11-01/10750005.shtml", simple_article("终于成功", "2026-11-01 09:00:00"))
    assert crawl(config).returncode == 0
    assert posts_in(tmp_path / "output") == ["2026-11-01-cns10750005.md"]
    with state_of(tmp_path) as state:
        assert state.failures("chinanews") == []


def test_fetch_accepts_any_chinanews_url_variant(chinanews_demo, cn_config, tmp_path):
    config = cn_config()
    url = "http://www.chinanews.com/cj/2022/04-08/9724513_1.shtml?from=share#top"
    result = run_cli("fetch", url, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert posts_in(tmp_path / "output") == [TEMPLATE_B]
    assert article_paths(chinanews_demo) == ["/cj/2022/04-08/9724513.shtml"]  # on base_url, page 1, no query
    assert not chinanews_demo.requests_to("/scroll-news/")
    assert (
        read_post(tmp_path / "output" / "_posts" / TEMPLATE_B)["title"]
        == "短视频平台汇聚抗“疫”新暖流 快手多举措联动"
    )

    chinanews_demo.clear_requests()  # fetch means "now, whatever the state says"
    assert run_cli("fetch", url, "--config", str(config)).returncode == 0
    assert article_paths(chinanews_demo) == ["/cj/2022/04-08/9724513.shtml"]


def test_fetch_rejects_non_article_urls(chinanews_demo, cn_config):
    result = run_cli("fetch", "https://www.chinanews.com.cn/china.shtml", "--config", str(cn_config()))
    assert result.returncode == 2
    assert "not an article URL" in result.stderr
    assert chinanews_demo.requests == []


# -- the same story through Eastmoney and 中国新闻网 ----------------------------------------------


@pytest.fixture
def both_demos(loopback: LoopbackServer) -> LoopbackServer:
    loopback.load_manifest(DEMO_DATA / "eastmoney")
    loopback.load_manifest(DEMO_DATA / "chinanews")
    return loopback


def test_same_story_eastmoney_first_then_chinanews_gives_one_post(both_demos, make_config, tmp_path):
    config = make_config()
    assert crawl(config, "eastmoney").returncode == 0
    assert EASTMONEY_TWIN in posts_in(tmp_path / "output")

    result = crawl(config, "chinanews")
    assert result.returncode == 0, result.stderr
    names = posts_in(tmp_path / "output")
    assert TEMPLATE_B in names
    assert EASTMONEY_TWIN not in names  # the syndicated copy gave way to the original
    post = read_post(tmp_path / "output" / "_posts" / TEMPLATE_B)
    assert post["source"] == "chinanews"
    assert post["aliases"] == ["eastmoney:202204082336871455"]
    with state_of(tmp_path) as state:
        assert state.resolve("eastmoney:202204082336871455") == "chinanews:9724513"
        assert state.get_article("eastmoney:202204082336871455").post_path == f"_posts/{TEMPLATE_B}"

    both_demos.clear_requests()  # Eastmoney again: the story is known under its alias
    assert crawl(config, "eastmoney").returncode == 0
    assert not both_demos.requests_to("/NewsData/GetNewsText.do")
    assert EASTMONEY_TWIN not in posts_in(tmp_path / "output")


def test_same_story_chinanews_first_then_eastmoney_gives_one_post(both_demos, make_config, tmp_path):
    config = make_config()
    assert crawl(config, "chinanews").returncode == 0
    result = crawl(config, "eastmoney")
    assert result.returncode == 0, result.stderr
    names = posts_in(tmp_path / "output")
    assert TEMPLATE_B in names
    assert EASTMONEY_TWIN not in names
    assert "2022-05-26-NW202205262391921712.md" in names  # other Eastmoney stories are unaffected
    with state_of(tmp_path) as state:
        assert state.resolve("eastmoney:202204082336871455") == "chinanews:9724513"
        assert not state.is_known("chinanews:202204082336871455")


# -- backfill --------------------------------------------------------------------------------------

BACKFILL_DAYS = {  # newest first; 2022-04-07 has no archive page (404: an empty day)
    date(2022, 4, 9): [("/gn/2022/04-09/9725001.shtml", "4-09 10:00", "2022-04-09 10:00:01")],
    date(2022, 4, 8): [
        ("/gn/2022/04-08/9724001.shtml", "4-08 11:00", "2022-04-08 11:00:02"),
        ("/gj/2022/04-08/9724002.shtml", "4-08 12:00", "2022-04-08 12:00:03"),
    ],
    date(2022, 4, 6): [("/sh/2022/04-06/9722001.shtml", "4-06 09:30", "2022-04-06 09:30:04")],
    date(2022, 4, 5): [("/gn/2022/04-05/9721001.shtml", "4-05 08:15", "2022-04-05 08:15:05")],
}


def add_backfill_routes(server: LoopbackServer, delay_day: date | None = None) -> None:
    for day, rows in BACKFILL_DAYS.items():
        page = list_page(*((href, t) for href, t, _ in rows))
        server.add(f"/scroll-news/{day:%Y/%m%d}/news.shtml", page, delay=3.0 if day == delay_day else 0.0)
        for href, _, when in rows:
            server.add(href, simple_article(f"回填稿件{href[-12:-6]}", when))


def archive_days_requested(server: LoopbackServer) -> list[str]:
    return [r.path[13:22] for r in server.requests if r.path.startswith("/scroll-news/20")]


def test_backfill_walks_newest_first_and_resumes(loopback, cn_config, tmp_path):
    add_backfill_routes(loopback)
    config = cn_config()
    first = run_cli(
        "backfill",
        "chinanews",
        "--since",
        "2022-04-05",
        "--until",
        "2022-04-09",
        "--max-days",
        "2",
        "--config",
        str(config),
    )
    assert first.returncode == 0, first.stderr
    assert archive_days_requested(loopback) == ["2022/0409", "2022/0408"]
    assert posts_in(tmp_path / "output") == [
        "2022-04-08-cns9724001.md",
        "2022-04-08-cns9724002.md",
        "2022-04-09-cns9725001.md",
    ]
    assert "2 days read this time, 0 done before, 0 failed, 3 to go" in first.stdout

    loopback.clear_requests()
    second = run_cli(
        "backfill", "chinanews", "--since", "2022-04-05", "--until", "2022-04-09", "--config", str(config)
    )
    assert second.returncode == 0, second.stderr
    assert archive_days_requested(loopback) == ["2022/0407", "2022/0406", "2022/0405"]  # continues
    assert sorted(article_paths(loopback)) == ["/gn/2022/04-05/9721001.shtml", "/sh/2022/04-06/9722001.shtml"]
    assert "2 of 5 days already done, resuming" in second.stderr
    assert "3 days read this time, 2 done before, 0 failed, 0 to go" in second.stdout
    table = second.stdout
    assert re.search(r"│\s+3 │\s+2 │\s+2 │", table)  # days, listed, new
    assert len(posts_in(tmp_path / "output")) == 5
    for name in posts_in(tmp_path / "output"):
        assert read_post(tmp_path / "output" / "_posts" / name)["categories"] == "zhongguoxinwenwang"

    loopback.clear_requests()  # everything done: nothing is requested at all
    third = run_cli(
        "backfill", "chinanews", "--since", "2022-04-05", "--until", "2022-04-09", "--config", str(config)
    )
    assert third.returncode == 0
    assert loopback.requests == []


def test_killed_backfill_continues_where_it_stopped(loopback, cn_config, tmp_path):
    add_backfill_routes(loopback, delay_day=date(2022, 4, 6))
    config = cn_config()
    env = {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "crawler",
        "backfill",
        "chinanews",
        "--since",
        "2022-04-05",
        "--until",
        "2022-04-09",
        "--config",
        str(config),
    ]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not loopback.requests_to("/scroll-news/2022/0406/") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loopback.requests_to("/scroll-news/2022/0406/"), "the backfill never reached 2022-04-06"
    proc.send_signal(signal.SIGTERM)  # stop it while 2022-04-06 is being read
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "stopped; run the same command again to continue" in stdout
    with state_of(tmp_path) as state:
        assert state.get_meta("backfill:chinanews:day:2022-04-08")
        assert state.get_meta("backfill:chinanews:day:2022-04-07")  # the 404 day counts as done
        assert state.get_meta("backfill:chinanews:day:2022-04-06") is None
        assert state.get_meta("backfill:chinanews:day:2022-04-05") is None

    loopback.clear_requests()
    again = run_cli(
        "backfill", "chinanews", "--since", "2022-04-05", "--until", "2022-04-09", "--config", str(config)
    )
    assert again.returncode == 0, again.stderr
    assert archive_days_requested(loopback) == ["2022/0406", "2022/0405"]
    assert not loopback.requests_to("/gn/2022/04-08/")  # nothing of the finished days is fetched again
    assert len(posts_in(tmp_path / "output")) == 5


def test_backfill_arguments_are_checked(loopback, cn_config):
    config = str(cn_config())
    bad_order = run_cli(
        "backfill", "chinanews", "--since", "2022-04-09", "--until", "2022-04-01", "--config", config
    )
    assert bad_order.returncode == 2
    assert "is after --until" in bad_order.stderr
    assert run_cli("backfill", "eastmoney", "--since", "2022-04-01", "--config", config).returncode == 2
    assert run_cli("backfill", "chinanews", "--since", "2022-13-01", "--config", config).returncode == 2
    assert loopback.requests == []


def test_backfill_day_result_line_is_machine_readable(loopback, cn_config):
    add_backfill_routes(loopback)
    result = run_cli("backfill", "chinanews", "--day", "2022-04-05", "--config", str(cn_config()))
    assert result.returncode == 0, result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("backfill-day: ")]
    data = json.loads(line.removeprefix("backfill-day: "))
    assert (data["day"], data["outcome"], data["summary"]["new"]) == ("2022-04-05", "ok", 1)
