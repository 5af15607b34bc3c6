"""The Eastmoney spider end to end: real `wiremirror crawl` subprocesses against a loopback upstream."""

from __future__ import annotations

import json

import pytest

from crawler.state import StateStore
from tests.conftest import posts_in, read_post, run_cli

SEED = "2022-04-08-NW202204082336871455.md"
NIO = "2022-05-26-NW202205262391921712.md"
FALLBACK = "2022-05-27-NW202205271234567890.md"


def crawl(config, *extra):
    return run_cli("crawl", "eastmoney", "--config", str(config), *extra)


def test_first_run_mirrors_every_listed_article(eastmoney_demo, make_config, tmp_path):
    config = make_config()
    result = crawl(config)
    assert result.returncode == 0, result.stderr
    assert posts_in(tmp_path / "output") == [SEED, NIO, FALLBACK]

    seed = read_post(tmp_path / "output" / "_posts" / SEED)
    assert seed["title"] == "短视频平台汇聚抗“疫”新暖流 快手多举措联动"
    assert seed["date"] == "2022-04-08 17:57:45 +0800"
    assert seed["categories"] == "zhongguoxinwenwang"
    assert seed["tags"] == "中国新闻网新闻"
    assert seed["origin"] == "中国新闻网"
    assert "快手上线疫情求助入口" in seed.content
    assert seed.content.rstrip().endswith(
        "[返回中国新闻网新闻](//finews.withounder.com/category/zhongguoxinwenwang.html)｜[返回首页](//finews.withounder.com/)"
    )
    # GetNewsText answered with an empty body: the article page filled in
    fallback = read_post(tmp_path / "output" / "_posts" / FALLBACK)
    assert "平安银行等股票链接会被还原为纯文字" in fallback.content
    assert fallback["categories"] == "zhengquanshibao"
    assert eastmoney_demo.requests_to("/a/202205271234567890.html")
    assert not eastmoney_demo.requests_to("/a/202204082336871455.html")  # body came from GetNewsText

    assert "eastmoney: ok new=3" in result.stdout
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        assert state.count_articles("eastmoney") == 3
        (run,) = state.recent_runs("eastmoney")
        assert run.outcome == "ok" and run.stats["new"] == 3


def test_second_run_with_nothing_new_fetches_no_article(eastmoney_demo, make_config, tmp_path):
    config = make_config()
    assert crawl(config).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "output" / "_posts").iterdir()}
    eastmoney_demo.clear_requests()

    result = crawl(config)
    assert result.returncode == 0, result.stderr
    paths = [r.path for r in eastmoney_demo.requests if r.path != "/robots.txt"]
    assert paths == ["/comm/web/getNewsByColumns"]  # one list request, no body, no article page
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "output" / "_posts").iterdir()}
    assert after == before  # nothing rewritten
    assert "new=0" in result.stdout


def test_paging_stops_at_the_first_page_of_known_articles(loopback, make_config, tmp_path):
    def item(n):
        return {
            "code": f"2022052700000000{n:02d}",
            "showTime": f"2022-05-27 09:{n:02d}:00",
            "title": f"标题{n}",
            "mediaName": "新华社",
            "url": f"http://finance.eastmoney.com/a/2022052700000000{n:02d}.html",
        }

    for page, numbers in ((1, [1, 2]), (2, [3, 4]), (3, [5, 6])):
        loopback.add_json(
            f"/comm/web/getNewsByColumns?page_index={page}",
            {"code": 1, "data": {"list": [item(n) for n in numbers], "totle_hits": 6}},
        )
    for n in range(1, 7):
        loopback.add_json(
            f"/NewsData/GetNewsText.do?id=NW2022052700000000{n:02d}", {"text": f"<p>正文{n}</p>"}
        )
    config = make_config(sources={"eastmoney": {"page_size": 2, "columns": ["344"]}})
    assert crawl(config).returncode == 0
    assert len(posts_in(tmp_path / "output")) == 6
    assert len(loopback.requests_to("/comm/web/getNewsByColumns")) == 3

    # a new article appears on page 1: page 1 is read, page 2 (all known) is the last page requested
    loopback.add_json(
        "/comm/web/getNewsByColumns?page_index=1&column=344",
        {"code": "1", "data": {"list": [item(7), item(1)], "totle_hits": 7}},
    )
    loopback.add_json("/NewsData/GetNewsText.do?id=NW202205270000000007", {"text": "<p>正文7</p>"})
    loopback.clear_requests()
    assert crawl(config).returncode == 0
    assert [r.query["page_index"] for r in loopback.requests_to("/comm/web/getNewsByColumns")] == ["1", "2"]
    assert len(loopback.requests_to("/NewsData/")) == 1
    assert len(posts_in(tmp_path / "output")) == 7


def test_media_allow_list(eastmoney_demo, make_config, tmp_path):
    config = make_config(sources={"eastmoney": {"media_allow": ["中国新闻网"]}})
    assert crawl(config).returncode == 0
    assert posts_in(tmp_path / "output") == [SEED]
    assert len(eastmoney_demo.requests_to("/NewsData/")) == 1


def test_media_deny_list(eastmoney_demo, make_config, tmp_path):
    config = make_config(sources={"eastmoney": {"media_deny": ["中国新闻网", "证券时报"]}})
    assert crawl(config).returncode == 0
    assert posts_in(tmp_path / "output") == [NIO]


def test_fast_news_and_legacy_feeds(loopback, make_config, tmp_path):
    loopback.add_json(
        "/comm/web/getFastNewsList?sortEnd=",
        {
            "code": "1",
            "data": {
                "sortEnd": "c2",
                "fastNewsList": [
                    {
                        "code": "202205270000000101",
                        "title": "",
                        "summary": "【快讯】标题为空时用摘要",
                        "showTime": "2022-05-27 10:00:00",
                        "realSort": "c1",
                    }
                ],
            },
        },
    )
    loopback.add_json(
        "/comm/web/getFastNewsList?sortEnd=c2", {"code": "1", "data": {"sortEnd": "", "fastNewsList": []}}
    )
    loopback.add_json(
        "/legacy/webapi?type=45",
        {
            "nodeList": [
                {
                    "infocode": "NW202205270000000202",
                    "title": "旧接口45",
                    "showtime": "2022-05-27 11:00:00",
                    "from": "新华社",
                }
            ]
        },
    )
    loopback.add_json(
        "/legacy/webapi?type=102",
        {
            "records": [
                {
                    "id": "202205270000000303",
                    "infoCode": "202205270000000303",
                    "title": "旧接口102",
                    "digest": "【旧接口102】摘要",
                    "showtime": "2022-05-27 12:00:00",
                    "url_w": "http://finance.eastmoney.com/news/11060,202205270000000303.html",
                }
            ]
        },
    )
    loopback.add_json(
        "/legacy/newmarket?marketType=37",
        {
            "record": [
                {
                    "infoCode": "NW202205270000000404",
                    "title": "旧接口market",
                    "datetime": "2022-05-27 13:00:00",
                    "medianame": "CBOT",
                }
            ]
        },
    )
    for code in (
        "NW202205270000000101",
        "NW202205270000000202",
        "202205270000000303",
        "NW202205270000000404",
    ):
        loopback.add_json(f"/NewsData/GetNewsText.do?id={code}", {"content": f"<p>正文 {code}</p>"})
    b = loopback.base_url
    config = make_config(
        sources={
            "eastmoney": {
                "columns_enabled": False,
                "fast_enabled": True,
                "legacy_urls": [
                    f"{b}/legacy/webapi?type=45",
                    f"{b}/legacy/webapi?type=102",
                    f"{b}/legacy/newmarket?marketType=37",
                ],
            }
        }
    )
    result = crawl(config)
    assert result.returncode == 0, result.stderr
    names = posts_in(tmp_path / "output")
    assert names == [
        "2022-05-27-202205270000000101.md",  # fast news: Eastmoney's own rolling news (emnews)
        "2022-05-27-202205270000000303.md",  # type=102 records: emnews, named by id as the predecessor did
        "2022-05-27-NW202205270000000202.md",
        "2022-05-27-NW202205270000000404.md",
    ]
    emnews = read_post(tmp_path / "output" / "_posts" / names[1])
    assert emnews["categories"] == "emnews" and emnews["tags"] == "东财滚动新闻"
    cbot = read_post(tmp_path / "output" / "_posts" / names[3])
    assert cbot["categories"] == "cbot" and cbot["tags"] == "CBOT新闻"


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ("{not json", "application/json", "not JSON"),
        ("<!DOCTYPE html><html>blocked</html>", "text/html", "not JSON"),
        ('{"code": -1, "message": "bad request", "data": null}', "application/json", "code -1"),
    ],
)
def test_unusable_list_fails_the_run_clearly_and_writes_nothing(
    loopback, make_config, tmp_path, body, content_type, reason
):
    loopback.add("/comm/web/getNewsByColumns", body, content_type=content_type)
    result = crawl(make_config())
    assert result.returncode == 1
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert posts_in(tmp_path / "output") == []


def test_jsonp_wrapped_list_with_int_code(loopback, make_config, tmp_path):
    payload = {
        "code": 1,
        "data": {
            "list": [
                {
                    "code": "202205270000000501",
                    "showTime": "2022-05-27 09:00:00",
                    "title": "JSONP",
                    "mediaName": "新华社",
                }
            ],
            "totle_hits": 1,
        },
    }
    loopback.add(
        "/comm/web/getNewsByColumns", f"jQuery123({json.dumps(payload)});", content_type="text/javascript"
    )
    loopback.add_json("/NewsData/GetNewsText.do?id=NW202205270000000501", {"text": "<p>JSONP正文</p>"})
    assert crawl(make_config()).returncode == 0
    assert posts_in(tmp_path / "output") == ["2022-05-27-NW202205270000000501.md"]


def test_records_without_title_or_time_are_failures_not_posts(loopback, make_config, tmp_path):
    loopback.add_json(
        "/comm/web/getNewsByColumns",
        {
            "code": "1",
            "data": {
                "list": [
                    {
                        "code": "202205260000000601",
                        "showTime": "",
                        "title": "没有时间",
                        "mediaName": "新华社",
                    },
                    {
                        "code": "202205260000000602",
                        "showTime": "2022-05-26 08:00:00",
                        "title": "",
                        "mediaName": "新华社",
                    },
                    {
                        "code": "202205260000000603",
                        "showTime": "2022-05-26 08:00:00",
                        "title": "正常",
                        "mediaName": "新华社",
                    },
                ]
            },
        },
    )
    for n in (601, 602, 603):
        loopback.add_json(f"/NewsData/GetNewsText.do?id=NW202205260000000{n}", {"text": "<p>正文</p>"})
    result = crawl(make_config())
    assert result.returncode == 0
    assert posts_in(tmp_path / "output") == ["2022-05-26-NW202205260000000603.md"]
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        failures = {f.key: f.error for f in state.failures()}
        assert not state.is_known("eastmoney:202205260000000601")
    assert "no publish time" in failures["eastmoney:202205260000000601"]
    assert "empty title" in failures["eastmoney:202205260000000602"]
    for path in (tmp_path / "output" / "_posts").iterdir():
        text = path.read_text(encoding="utf-8")
        assert "date:  +0800" not in text and 'title: ""' not in text


def test_failed_article_is_retried_on_a_later_run(loopback, make_config, tmp_path):
    loopback.add_json(
        "/comm/web/getNewsByColumns",
        {
            "code": "1",
            "data": {
                "list": [
                    {
                        "code": "202205260000000701",
                        "showTime": "2022-05-26 08:00:00",
                        "title": "暂时失败",
                        "mediaName": "新华社",
                    }
                ]
            },
        },
    )
    loopback.add("/NewsData/GetNewsText.do?id=NW202205260000000701", "oops", status=500, times=4)
    loopback.add("/a/202205260000000701.html", "oops", status=500, times=4)
    config = make_config(crawl={"retry_backoff": 0.0})
    first = crawl(config)
    assert first.returncode == 0  # the list worked; one article failed and is recorded
    assert posts_in(tmp_path / "output") == []
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        (failure,) = state.failures()
        assert failure.key == "eastmoney:202205260000000701" and "HTTP 500" in failure.error

    loopback.add_json("/NewsData/GetNewsText.do?id=NW202205260000000701", {"text": "<p>终于成功</p>"})
    assert crawl(config).returncode == 0
    assert posts_in(tmp_path / "output") == ["2022-05-26-NW202205260000000701.md"]
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        assert state.failures() == []


def test_unreachable_upstream_is_one_clear_line_and_changes_no_articles(make_config, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    config = make_config(
        sources={
            "eastmoney": {
                "list_url": f"{dead}/list",
                "text_url": f"{dead}/t?id={{id}}",
                "article_url": f"{dead}/a/{{id}}.html",
            }
        }
    )
    result = crawl(config)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "list request failed" in errors[0] and "refused" in errors[0].lower()
    assert "eastmoney: failed" in result.stdout
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        assert state.count_articles() == 0 and state.failures() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW202205271234567890",
        "https://finance.eastmoney.com/a/202205271234567890.html",
        "http://finance.eastmoney.com/news/11060,202205271234567890.html",
    ],
)
def test_fetch_mirrors_a_given_url_whatever_state_says(eastmoney_demo, make_config, tmp_path, url):
    config = make_config()
    assert crawl(config).returncode == 0
    target = tmp_path / "output" / "_posts" / FALLBACK
    target.unlink()  # known to state, gone from disk: fetch brings it back anyway
    eastmoney_demo.clear_requests()
    result = run_cli("fetch", url, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert target.exists()
    assert [r.path for r in eastmoney_demo.requests if r.path != "/robots.txt"] == [
        "/a/202205271234567890.html"
    ]


def test_fetch_rejects_unknown_urls(make_config):
    result = run_cli("fetch", "https://example.org/whatever", "--config", str(make_config()))
    assert result.returncode == 2
    assert "not an article URL" in result.stderr


def test_scrapy_crawl_from_the_repo_root_uses_the_same_config(eastmoney_demo, make_config, tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    config = make_config()
    env = {**os.environ, "WIREMIRROR_CONFIG": str(config), "WIREMIRROR_LOOPBACK_ONLY": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "eastmoney", "-s", "LOG_LEVEL=WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert posts_in(tmp_path / "output") == [SEED, NIO, FALLBACK]


def test_a_default_crawl_keeps_its_responses_as_warc_captures(eastmoney_demo, make_config, tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    assert crawl(make_config()).returncode == 0
    (warc,) = (tmp_path / "state" / "captures" / "eastmoney").glob("*.warc.gz")
    with warc.open("rb") as handle:
        urls = {
            r.rec_headers.get_header("WARC-Target-URI")
            for r in ArchiveIterator(handle)
            if r.rec_type == "response"
        }
    assert any("GetNewsText.do?id=NW202204082336871455" in u for u in urls)
    assert any(u.endswith("/a/202205271234567890.html") for u in urls)
