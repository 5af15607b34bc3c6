"""Upstream faults end to end: each is a clear log line and a recorded failure, never a bad post;
the other articles of the run go through, and a later run retries and mirrors the article.

Real ``wiremirror crawl`` subprocesses against the loopback server's fault modes.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from crawler.middlewares.challenge import challenge_reason
from crawler.middlewares.retryafter import retry_after_seconds
from tests.conftest import posts_in, read_post
from tests.upstream_support import LIST, article_page, articles, crawl, hits, serve, state_at

GOOD, BAD, OTHER = articles(3)
SOFT_404 = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>404 页面没有找到</title></head>"
    "<body><div class='error'>抱歉，您访问的页面不存在</div></body></html>"
)
CAPTCHA = (
    "<html><head><title>安全验证</title></head><body><p>请完成下方验证后继续访问</p>"
    "<div id='captcha'></div></body></html>"
)
JS_COOKIE = (
    "<html><body><script>document.cookie='__jsluid_s=abc;path=/';location.reload();</script></body></html>"
)
BIG = "<p>" + "大" * 4000 + "</p>"


def _page(article, body_html="<p>　　正文。</p>", **kw):
    return article_page(
        article.title,
        f"{article.published[:4]}年{article.published[5:7]}月{article.published[8:10]}日",
        body_html,
        **kw,
    )


# name → (GetNewsText route, article page route, text expected in the recorded failure).
# A fault on GetNewsText alone is no failure (the spider falls back to the article page), so both
# answer badly; the soft 404 page stands for "the fallback found nothing either".
FAULTS = {
    "http-500": ({"status": 500}, {"status": 500}, "HTTP 500"),
    "http-503": ({"status": 503}, {"status": 503}, "HTTP 503"),
    "http-404": ({"status": 404}, {"status": 404}, "HTTP 404"),
    "timeout": ({"delay": 2.5}, {"delay": 2.5}, "took longer than 1.0 seconds"),
    "connection-reset": ({"fault": "reset"}, {"fault": "reset"}, "connection"),
    "truncated-body": (
        {"fault": "truncate", "body": json.dumps({"text": "<p>" + "截断" * 200 + "</p>"})},
        {"fault": "truncate", "body": "<html>" + "<p>截断</p>" * 100},
        "truncated",
    ),
    "redirect-loop": ({"fault": "redirect_loop"}, {"fault": "redirect_loop"}, "redirect loop"),
    "over-size-limit": (
        {"body": json.dumps({"text": BIG}), "content_type": "application/json"},
        {"body": "<html>" + BIG},
        "size limit",
    ),
    "invalid-json+soft-404": (
        {"body": '{"text": "<p>broken', "content_type": "application/json"},
        {"body": SOFT_404},
        "no body",
    ),
    "broken-jsonp+soft-404": (
        {"body": 'jQuery1({"text": "<p>x</p>"', "content_type": "text/javascript"},
        {"body": SOFT_404},
        "no body",
    ),
    "html-for-json+soft-404": ({"body": "<html><body>维护中</body></html>"}, {"body": SOFT_404}, "no body"),
    "wrong-charset": (
        {"status": 404},
        {"body": "gbk", "content_type": "text/html; charset=utf-8"},
        "mis-decoded",
    ),
}
FAULTY = dict(zip(FAULTS, articles(len(FAULTS), prefix="2022052700000"), strict=True))


def _add(server, article, path, spec):
    spec = dict(spec)
    body = spec.pop("body", "oops")
    if body == "gbk":  # a GBK page whose header claims UTF-8 and that has no meta charset
        body = _page(article, "<p>　　这一段是GBK编码的中文正文。</p>", charset="").encode("gbk")
    server.add(path, body, **spec)


def test_every_article_fault_is_recorded_while_the_rest_of_the_run_goes_through(
    loopback, make_config, tmp_path
):
    serve(loopback, [GOOD, *FAULTY.values(), OTHER])
    for name, article in FAULTY.items():
        text_spec, page_spec, _ = FAULTS[name]
        _add(loopback, article, article.text_path, text_spec)
        _add(loopback, article, article.page_path, page_spec)
    config = make_config(crawl={"retry_backoff": 0.0, "timeout": 1.0, "max_size": 6000})

    first = crawl(config)
    assert first.returncode == 0, first.stdout + first.stderr  # the list worked: the source is fine
    assert "Traceback" not in first.stderr
    assert posts_in(tmp_path / "output") == sorted([GOOD.post_name, OTHER.post_name])  # nothing bad written
    with state_at(tmp_path) as state:
        failures = {f.key: f for f in state.failures()}
        assert state.count_articles() == 2
    assert set(failures) == {a.key for a in FAULTY.values()}
    for name, article in FAULTY.items():
        failure = failures[article.key]
        assert failure.attempts == 1
        assert FAULTS[name][2].lower() in failure.error.lower(), (name, failure.error)
        # one clear line per article on the console, naming it and what went wrong
        (line,) = [line for line in first.stderr.splitlines() if article.key in line]
        assert line.startswith("WARNING: article failed") and failure.error[:40] in line, (name, line)
    assert f"failed={len(FAULTY)}" in first.stdout

    # the upstream recovers: the next run retries every recorded failure and mirrors it
    for article in FAULTY.values():
        loopback.add_json(article.text_path, {"text": article.body})
    loopback.clear_requests()
    second = crawl(config)
    assert second.returncode == 0, second.stderr
    expected = sorted(a.post_name for a in [GOOD, OTHER, *FAULTY.values()])
    assert posts_in(tmp_path / "output") == expected
    with state_at(tmp_path) as state:
        assert state.failures() == []
    assert not hits(loopback, GOOD.text_path)  # known articles are not fetched again
    for article in FAULTY.values():
        assert (
            article.body[3:-4].strip("\u3000")
            in read_post(tmp_path / "output" / "_posts" / article.post_name).content
        )


@pytest.mark.parametrize(
    ("text_spec", "page_spec", "expected"),
    [
        ({"status": 403}, {"status": 403}, "HTTP 403: blocked"),
        ({"body": CAPTCHA}, {"body": CAPTCHA}, "anti-bot challenge page"),
        ({"status": 521, "body": JS_COOKIE}, {"body": JS_COOKIE}, "challenge"),
    ],
    ids=["403", "captcha-page", "js-cookie-challenge"],
)
def test_block_or_challenge_page_is_a_failure_not_a_post(
    loopback, make_config, tmp_path, text_spec, page_spec, expected
):
    serve(loopback, [GOOD, BAD, OTHER])
    _add(loopback, BAD, BAD.text_path, text_spec)
    _add(loopback, BAD, BAD.page_path, page_spec)
    config = make_config(crawl={"retry_backoff": 0.0})
    first = crawl(config)
    assert first.returncode == 0, first.stderr
    assert posts_in(tmp_path / "output") == sorted([GOOD.post_name, OTHER.post_name])
    assert "ERROR: blocked by upstream" in first.stderr
    with state_at(tmp_path) as state:
        (failure,) = state.failures()
    assert failure.key == BAD.key and expected.lower() in failure.error.lower()
    assert len(hits(loopback, BAD.text_path)) == 1  # a block is not retried at once

    loopback.add_json(BAD.text_path, {"text": BAD.body})
    assert crawl(config).returncode == 0
    assert BAD.post_name in posts_in(tmp_path / "output")


def test_failure_is_not_retried_before_its_backoff(loopback, make_config, tmp_path):
    serve(loopback, [GOOD, BAD])
    loopback.add(BAD.text_path, "oops", status=500)
    loopback.add(BAD.page_path, "oops", status=500)
    config = make_config(crawl={"retry_backoff": 3600.0})
    assert crawl(config).returncode == 0
    loopback.clear_requests()
    assert crawl(config).returncode == 0
    # listed again but already failed and not due: the list is read, the article is left alone
    assert not hits(loopback, BAD.text_path) and not hits(loopback, BAD.page_path)
    with state_at(tmp_path) as state:
        (failure,) = state.failures()
    assert failure.attempts == 1


def test_retry_after_is_honoured_before_retrying(loopback, make_config, tmp_path):
    serve(loopback, [GOOD])
    loopback.add(GOOD.text_path, "slow down", status=429, headers={"Retry-After": "1"}, times=1)
    result = crawl(make_config(crawl={"retry_after_max": 30.0}))
    assert result.returncode == 0, result.stderr
    assert posts_in(tmp_path / "output") == [GOOD.post_name]
    first, second = hits(loopback, GOOD.text_path)
    assert second.at - first.at >= 0.95  # it waited what the server asked (never less)
    assert not hits(loopback, GOOD.page_path)  # the retry got the body; no fallback needed


def test_retry_after_as_http_date(loopback, make_config, tmp_path):
    serve(loopback, [GOOD])
    not_before = int(time.time()) + 4  # HTTP-dates have one-second resolution
    when = format_datetime(datetime.fromtimestamp(not_before, UTC), usegmt=True)
    loopback.add(GOOD.text_path, "busy", status=503, headers={"Retry-After": when}, times=1)
    assert crawl(make_config()).returncode == 0
    _, second = hits(loopback, GOOD.text_path)
    assert second.at >= not_before - 0.05  # not retried before the date the server named
    assert posts_in(tmp_path / "output") == [GOOD.post_name]


def test_retry_after_longer_than_the_cap_is_left_to_a_later_run(loopback, make_config, tmp_path):
    serve(loopback, [GOOD, OTHER])
    loopback.add(GOOD.text_path, "come back in an hour", status=429, headers={"Retry-After": "3600"})
    loopback.add(GOOD.page_path, "come back in an hour", status=429, headers={"Retry-After": "3600"})
    result = crawl(make_config(crawl={"retry_after_max": 5.0}))
    assert result.returncode == 0
    assert "not retrying in this run" in result.stderr
    assert len(hits(loopback, GOOD.text_path)) == 1  # not hammered
    assert posts_in(tmp_path / "output") == [OTHER.post_name]
    with state_at(tmp_path) as state:
        (failure,) = state.failures()
    assert failure.key == GOOD.key and "HTTP 429" in failure.error


def test_a_blocking_host_is_left_alone_for_the_rest_of_the_run(loopback, make_config, tmp_path):
    items = articles(8)
    serve(loopback, items)
    for article in items:
        loopback.add(article.text_path, "forbidden", status=403)
        loopback.add(article.page_path, "forbidden", status=403)
    result = crawl(make_config(crawl={"concurrent_per_domain": 1, "concurrent_requests": 1}))
    assert "sending it nothing more in this run" in result.stderr
    sent = [r for r in loopback.requests if r.path.startswith(("/NewsData/", "/a/"))]
    assert len(sent) == 3  # three blocks, then silence
    with state_at(tmp_path) as state:
        assert {f.key for f in state.failures()} == {a.key for a in items}  # all retried later
    assert posts_in(tmp_path / "output") == []


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({"status": 500}, "HTTP 500"),
        ({"status": 403}, "blocked"),
        ({"fault": "reset"}, "list request failed"),
        ({"status": 429, "headers": {"Retry-After": "86400"}}, "HTTP 429"),
        ({"body": "<html><title>访问过于频繁</title></html>"}, "challenge"),
    ],
    ids=["500", "403", "reset", "429-day", "challenge"],
)
def test_source_failing_as_a_whole_exits_non_zero(loopback, make_config, tmp_path, route, expected):
    route = dict(route)
    loopback.add(LIST, route.pop("body", "x"), **route)
    result = crawl(make_config())
    assert result.returncode == 1
    assert "eastmoney: failed" in result.stdout
    errors = [
        line
        for line in result.stderr.splitlines()
        if line.startswith("ERROR") and "list request failed" in line
    ]
    assert errors and expected.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stderr
    assert posts_in(tmp_path / "output") == []
    with state_at(tmp_path) as state:
        (run,) = state.recent_runs("eastmoney")
    assert run.outcome == "failed"


def test_missing_charset_is_read_from_the_page(loopback, make_config, tmp_path):
    serve(loopback, [GOOD], bodies=False)
    loopback.add(GOOD.text_path, "gone", status=404)
    page = article_page(
        GOOD.title, "2022年05月26日 08:00", "<p>　　正文用GBK编码，声明在meta里。</p>", charset="gbk"
    )
    loopback.add(GOOD.page_path, page.encode("gbk"), content_type="text/html")  # no charset in the header
    assert crawl(make_config()).returncode == 0
    assert (
        "正文用GBK编码，声明在meta里。" in read_post(tmp_path / "output" / "_posts" / GOOD.post_name).content
    )


# -- the pieces, directly -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"120", 120.0),
        ("0", 0.0),
        (" 5 ", 5.0),
        (b"-3", 0.0),
        (b"soon", None),
        (None, None),
        (b"", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_values(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_date_in_the_future():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 12:01:30 GMT", now=now) == 90.0


@pytest.mark.parametrize(
    ("status", "ctype", "body", "blocked"),
    [
        (403, "text/html", b"<html>denied</html>", True),
        (200, "text/html", CAPTCHA.encode(), True),
        (200, "text/html", JS_COOKIE.encode(), True),
        (200, "application/json", b'{"text": "<title>captcha</title>"}', False),
        (
            200,
            "text/html",
            article_page("谈验证码的安全", "2022年05月26日", "<p>" + "正文" * 250 + "</p>").encode(),
            False,
        ),
        (404, "text/html", SOFT_404.encode(), False),
    ],
)
def test_challenge_detection(status, ctype, body, blocked):
    assert (challenge_reason(status, ctype, body) is not None) is blocked
