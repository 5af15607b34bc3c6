"""Politeness and limits: robots.txt (obeyed by default, switchable), the User-Agent, the download
delay, the size limit and timeouts — checked on what the loopback upstream actually received.
"""

from __future__ import annotations

import itertools

from crawler.config import DEFAULT_USER_AGENT, parse_config
from crawler.runtime import scrapy_settings_for
from tests.conftest import posts_in
from tests.upstream_support import LIST, articles, crawl, hits, serve, state_at

ITEMS = articles(3)
ROBOTS = "User-agent: *\nDisallow: /NewsData/\nDisallow: /a/\n"


def test_robots_txt_is_obeyed_by_default(loopback, make_config, tmp_path):
    serve(loopback, ITEMS)
    loopback.add("/robots.txt", ROBOTS, content_type="text/plain")
    config = make_config()  # obey_robots not set: the default
    result = crawl(config)
    assert result.returncode == 0  # the list is allowed; the articles are not
    assert len(hits(loopback, "/robots.txt")) == 1
    assert not loopback.requests_to("/NewsData/") and not loopback.requests_to("/a/")
    assert posts_in(tmp_path / "output") == []
    with state_at(tmp_path) as state:
        failures = state.failures()
    assert {f.key for f in failures} == {a.key for a in ITEMS}
    assert all("robots.txt" in f.error for f in failures)
    assert "Forbidden by robots.txt" in result.stderr  # the reason is on the console


def test_robots_txt_can_be_switched_off(loopback, make_config, tmp_path):
    serve(loopback, ITEMS)
    loopback.add("/robots.txt", ROBOTS, content_type="text/plain")
    result = crawl(make_config(crawl={"obey_robots": False}))
    assert result.returncode == 0, result.stderr
    assert not hits(loopback, "/robots.txt")
    assert posts_in(tmp_path / "output") == sorted(a.post_name for a in ITEMS)


def test_user_agent_is_configurable_and_sent_on_every_request(loopback, make_config):
    serve(loopback, ITEMS)
    agent = "ExampleArchive/2.0 (+mailto:ops@example.org)"
    assert crawl(make_config(crawl={"user_agent": agent})).returncode == 0
    assert loopback.requests and {r.headers.get("User-Agent") for r in loopback.requests} == {agent}


def test_default_user_agent_is_descriptive(loopback, make_config):
    serve(loopback, ITEMS)
    assert crawl(make_config()).returncode == 0
    sent = {r.headers.get("User-Agent") for r in loopback.requests}
    assert sent == {DEFAULT_USER_AGENT}
    assert "wiremirror" in DEFAULT_USER_AGENT and "+https://" in DEFAULT_USER_AGENT  # who, and where to ask


def test_download_delay_spaces_requests_to_one_host(loopback, make_config):
    serve(loopback, articles(4))
    config = make_config(crawl={"download_delay": 0.4, "concurrent_per_domain": 1, "obey_robots": False})
    assert crawl(config).returncode == 0
    times = sorted(r.at for r in loopback.requests)
    assert len(times) == 5
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Scrapy randomises the delay between 0.5× and 1.5×; it never sends two requests back to back
    assert min(gaps) >= 0.4 * 0.5 - 0.02, gaps


def test_body_over_the_size_limit_is_a_failure(loopback, make_config, tmp_path):
    serve(loopback, ITEMS)
    loopback.add_json(ITEMS[0].text_path, {"text": "<p>" + "很长" * 3000 + "</p>"})
    loopback.add(ITEMS[0].page_path, "<html>" + "很长" * 3000, content_type="text/html; charset=utf-8")
    result = crawl(make_config(crawl={"max_size": 4096}))
    assert result.returncode == 0
    assert posts_in(tmp_path / "output") == sorted(a.post_name for a in ITEMS[1:])
    with state_at(tmp_path) as state:
        (failure,) = state.failures()
    assert failure.key == ITEMS[0].key and "size limit" in failure.error


def test_list_over_the_size_limit_fails_the_run(loopback, make_config):
    loopback.add_json(LIST, {"code": "1", "data": {"list": [a.record() for a in articles(80)]}})
    result = crawl(make_config(crawl={"max_size": 2048}))
    assert result.returncode == 1
    assert "list request failed" in result.stderr and "size limit" in result.stderr


def test_slow_upstream_times_out_and_fails_the_run(loopback, make_config):
    loopback.add_json(LIST, {"code": "1", "data": {"list": []}}, delay=3.0)
    result = crawl(make_config(crawl={"timeout": 1.0, "retry_times": 0}))
    assert result.returncode == 1
    assert "took longer than 1.0 seconds" in result.stderr


def test_defaults_keep_clear_of_upstream_bans():
    """docs/upstream-eastmoney.md §4: ≥ 1–2 s between requests, 1–2 per domain, AutoThrottle, backoff."""
    settings = scrapy_settings_for(parse_config({}))
    assert settings["ROBOTSTXT_OBEY"] is True
    assert settings["DOWNLOAD_DELAY"] >= 1.0
    assert settings["AUTOTHROTTLE_ENABLED"] is True
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] <= 2
    assert 0 < settings["DOWNLOAD_TIMEOUT"] <= 60
    assert 0 < settings["DOWNLOAD_MAXSIZE"] <= 16 * 1024 * 1024
    assert settings["USER_AGENT"] == DEFAULT_USER_AGENT
    assert settings["RETRY_AFTER_MAX"] > 0


def test_retry_after_and_challenge_middlewares_are_installed():
    from crawler import settings

    mws = settings.DOWNLOADER_MIDDLEWARES
    assert mws["scrapy.downloadermiddlewares.retry.RetryMiddleware"] is None
    assert mws["crawler.middlewares.retryafter.RetryAfterMiddleware"] == 550
    # a response reaches the challenge check before the retry middleware could retry a block
    assert mws["crawler.middlewares.challenge.ChallengeMiddleware"] > 550
    assert mws["crawler.middlewares.redirectloop.RedirectLoopMiddleware"] > 600
    assert settings.METAREFRESH_ENABLED is False
