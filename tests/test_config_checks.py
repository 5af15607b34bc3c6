"""Configuration cannot be silently wrong, and exit codes mean what README says.

Every refusal is checked the way the operator meets it: the exit code and the one-line message of
the real CLI (in-process for config errors, which stop before any crawl; subprocesses where the
crawl or the pipe matters).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from crawler.cli import main
from tests.conftest import REPO, run_cli

EXIT_FAILED, EXIT_USAGE = 1, 2


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "wiremirror.toml"
    path.write_text(tomli_w.dumps({"state": {"dir": "state"}, "output": {"dir": "output"}, **data}))
    return path


def refused(tmp_path: Path, data: dict[str, Any], capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """``wiremirror --config F status``: exit 2 with one line, before anything runs; return stderr.

    Config errors come from loading the file, the same for every command; status is the one that
    cannot start a crawl in this process if the check is missing.
    """
    code = main(["--config", str(write(tmp_path, data)), *(argv or ("status",))])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert err.startswith("wiremirror: configuration error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "state").exists()  # refused before anything ran
    return err


@pytest.mark.parametrize("key", ["text_url", "share_url", "article_url"])
def test_an_endpoint_without_its_id_placeholder_is_refused(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(tmp_path, {"sources": {"eastmoney": {key: "http://127.0.0.1:1/NewsData/x.do"}}}, capsys)
    assert f"sources.eastmoney.{key}: 'http://127.0.0.1:1/NewsData/x.do' has no {{id}} placeholder" in err
    assert "expected a URL like 'http" in err and "{id}" in err.split("expected")[1]


def test_an_unknown_placeholder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://127.0.0.1:1/GetNewsText.do?id={infoCode}"
    err = refused(tmp_path, {"sources": {"eastmoney": {"text_url": url}}}, capsys)
    assert "sources.eastmoney.text_url: unknown placeholder {infoCode}" in err and "only {id}" in err
    bad_braces = "http://127.0.0.1:1/a/{id.html"
    err = refused(tmp_path, {"sources": {"eastmoney": {"article_url": bad_braces}}}, capsys)
    assert "sources.eastmoney.article_url: " in err


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("list_url", "http://127.0.0.1:1/comm/web/getNewsByColumns?x={id}"),
        ("legacy_urls", ["http://127.0.0.1:1/ok", "ftp://127.0.0.1/feed"]),
    ],
)
def test_plain_list_urls_take_no_placeholder_and_must_be_http(
    key: str, url: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(tmp_path, {"sources": {"eastmoney": {key: url}}}, capsys)
    assert f"sources.eastmoney.{key}" in err


@pytest.mark.parametrize("base_url", ["https://www.chinanews.com.cn/scroll-news", "https://x.cn/?a=1"])
def test_a_chinanews_base_url_with_a_path_or_query_is_refused(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(tmp_path, {"sources": {"chinanews": {"base_url": base_url}}}, capsys)
    assert f"sources.chinanews.base_url: {base_url!r}" in err
    assert "the site root only, e.g. 'https://www.chinanews.com.cn'" in err


def test_a_base_url_with_a_trailing_slash_is_fine(tmp_path: Path) -> None:
    from crawler.config import parse_config

    parse_config({"sources": {"chinanews": {"base_url": "https://www.chinanews.com.cn/"}}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"crawl": {"concurrent_per_domain": 0}},
            "crawl.concurrent_per_domain: 0 is out of range (allowed: >= 1)",
        ),
        ({"crawl": {"retry_times": -1}}, "crawl.retry_times: -1 is out of range (allowed: >= 0)"),
        ({"crawl": {"timeout": 0}}, "crawl.timeout: 0.0 is out of range (allowed: > 0)"),
        ({"crawl": {"download_delay": -2}}, "crawl.download_delay: -2.0 is out of range (allowed: >= 0)"),
        ({"crawl": {"max_size": 0}}, "crawl.max_size: 0 is out of range (allowed: >= 1)"),
        ({"sources": {"eastmoney": {"page_size": 0}}}, "sources.eastmoney.page_size: 0 is out of range"),
        ({"sources": {"chinanews": {"scroll_pages": -1}}}, "sources.chinanews.scroll_pages: -1 is out of"),
        ({"schedule": {"eastmoney": {"interval": -60}}}, "schedule.eastmoney.interval: -60.0 is out of"),
        (
            {"schedule": {"heartbeat_interval": 0}},
            "schedule.heartbeat_interval: 0.0 is out of range (allowed: > 0)",
        ),
        ({"health": {"failure_ratio": 1.5}}, "health.failure_ratio: 1.5 is out of range (allowed: 0 to 1)"),
        ({"health": {"empty_runs": 0}}, "health.empty_runs: 0 is out of range (allowed: >= 1)"),
        ({"publish": {"timeout": -1}}, "publish.timeout: -1.0 is out of range (allowed: > 0)"),
    ],
)
def test_numbers_are_range_checked(
    data: dict[str, Any], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in refused(tmp_path, data, capsys)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"crawl": {"log_level": "LOUD"}}, "crawl.log_level"),
        ({"logging": {"level": "verbose"}}, "logging.level"),
    ],
)
def test_unknown_log_levels_in_the_config_are_refused(
    data: dict[str, Any], key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(tmp_path, data, capsys)
    assert f"{key}: unknown log level" in err and "DEBUG, INFO, WARNING, ERROR, CRITICAL" in err


def test_log_level_names_are_case_insensitive() -> None:
    from crawler.config import parse_config

    cfg = parse_config({"crawl": {"log_level": "debug"}, "logging": {"level": "warning"}})
    assert (cfg.crawl.log_level, cfg.logging.level) == ("DEBUG", "WARNING")


@pytest.mark.parametrize(
    "argv",
    [
        ["crawl", "foo"],
        ["crawl", "-s", "BAD"],
        ["crawl", "--log-level", "LOUD"],
        ["fetch", "--log-level", "LOUD", "https://finance.eastmoney.com/a/202205262391921712.html"],
        ["backfill", "chinanews", "--since", "2024-05-01", "--until", "2024-05-01", "--log-level", "LOUD"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], tmp_path: Path) -> None:
    result = run_cli("--config", str(write(tmp_path, {})), *argv)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(("wiremirror crawl: ", "wiremirror "))
    assert not (tmp_path / "state").exists()


def test_fetch_of_an_article_that_was_not_mirrored_exits_1_and_says_why(make_config) -> None:
    config = make_config(sources={"chinanews": {"enabled": False}})
    result = run_cli(
        "fetch", "--config", str(config), "https://finance.eastmoney.com/a/202205262391921712.html"
    )
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert "wiremirror fetch: not mirrored: eastmoney:202205262391921712" in result.stderr
    assert "HTTP 404" in result.stderr  # the reason, from the failure record


def test_status_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``wiremirror status | head -1``: head has gone by the time status writes."""
    config = write(tmp_path, {})
    (tmp_path / "state").mkdir()
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "crawler", "--config", str(config), "status"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stderr == ""


def test_status_on_a_missing_state_folder_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, {})
    for extra in ([], ["--check"], ["--json"]):
        code = main(["--config", str(config), "status", *extra])
        out, err = capsys.readouterr()
        assert code == EXIT_USAGE and out == ""
        assert (
            err
            == f"wiremirror status: no state folder at {tmp_path / 'state'} (no crawl has run with this configuration; wrong --config?)\n"
        )
    assert not (tmp_path / "state").exists()


def test_disabled_components_are_not_warnings(eastmoney_demo, make_config, tmp_path: Path) -> None:
    config = make_config(sources={"chinanews": {"enabled": False}}, crawl={"captures": False})
    result = run_cli("crawl", "eastmoney", "--config", str(config), "--log-level", "INFO")
    assert result.returncode == 0, result.stderr
    assert "Disabled" not in result.stderr, result.stderr
    (log,) = (tmp_path / "state" / "logs" / "eastmoney").glob("*.log")
    assert "WARNING" not in log.read_text(encoding="utf-8")
