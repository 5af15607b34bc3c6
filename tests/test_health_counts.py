"""Monitoring tells the truth: quiet runs are healthy, and status shows what each run listed.

Real ``wiremirror crawl`` subprocesses against the loopback demo upstream, then ``status`` the way
the Docker health check calls it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crawler.health import is_empty_run
from tests.conftest import DEMO_DATA, run_cli


def crawl(config: Path, source: str) -> None:
    result = run_cli("crawl", source, "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def status(config: Path, *args: str) -> tuple[int, str]:
    result = run_cli("--config", str(config), "status", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


def last_stats(config: Path, source: str) -> dict[str, Any]:
    code, out = status(config, "--json")
    assert code == 0
    (src,) = [s for s in json.loads(out)["sources"] if s["source"] == source]
    return dict(src["last_run"]["stats"])


def test_quiet_nights_with_nothing_new_pass_the_check(eastmoney_demo, make_config) -> None:
    config = make_config(sources={"chinanews": {"enabled": False}})
    for _ in range(4):  # one productive run, then three with nothing new
        crawl(config, "eastmoney")
    code, out = status(config, "--check")
    assert (code, out.strip()) == (0, "healthy: 1 sources, daemon absent")
    stats = last_stats(config, "eastmoney")
    assert (stats["listed"], stats["known"], stats["filtered"], stats["new"]) == (3, 3, 0, 0)


def test_filtered_articles_are_counted_and_shown(loopback, make_config) -> None:
    loopback.load_manifest(DEMO_DATA / "chinanews")
    config = make_config(
        sources={
            "eastmoney": {"enabled": False},
            "chinanews": {"channels": ["gn"], "day_archive_enabled": False},
        }
    )
    for _ in range(4):
        crawl(config, "chinanews")
    code, out = status(config, "--check")
    assert code == 0, out
    stats = last_stats(config, "chinanews")
    assert stats["new"] == 0 and stats["filtered"] > 0 and stats["known"] > 0
    assert stats["listed"] == stats["known"] + stats["filtered"]
    _, text = status(config)
    line = next(ln for ln in text.splitlines() if ln.startswith("chinanews: last run"))
    assert f"new 0, updated 0, skipped 0, failed 0; listed {stats['listed']}, known {stats['known']}" in line
    assert f"filtered {stats['filtered']}, waiting 0" in line


def test_empty_means_listed_articles_were_neither_known_filtered_nor_written() -> None:
    quiet = {"listed": 50, "known": 45, "filtered": 5, "new": 0}
    assert not is_empty_run(quiet)
    assert not is_empty_run({**quiet, "known": 44, "waiting": 1})  # a failure waiting its backoff
    assert is_empty_run({**quiet, "known": 40, "failed": 5})  # five new ones, none written
    assert not is_empty_run({**quiet, "known": 40, "new": 5})
