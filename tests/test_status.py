"""``wiremirror status``: health rules over real run records, the daemon heartbeat, the probe exit code."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from crawler.cli import main
from crawler.config import HealthConfig, parse_config
from crawler.health import evaluate_daemon, evaluate_publish, evaluate_source, is_empty_run
from crawler.logsetup import close_run_logging, configure_run_logging, run_logs, summary_line
from crawler.state import RunRecord, StateStore
from crawler.timeutil import BEIJING, iso

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=BEIJING)
HEALTH = HealthConfig(empty_runs=3, failure_ratio=0.5, max_silence=6 * 3600.0)
STALE = 2000.0


def run(n: int, outcome: str = "ok", ago: float = 600.0, **stats: Any) -> RunRecord:
    started = NOW - timedelta(seconds=ago)
    finished = None if outcome == "running" else iso(started + timedelta(seconds=30))
    return RunRecord(
        id=n,
        source="eastmoney",
        started=iso(started),
        finished=finished,
        outcome=outcome,
        stats={"listed": 50, "new": 3, "updated": 0, "unchanged": 0, "failed": 0, **stats},
    )


def judge(*runs: RunRecord) -> tuple[str, ...]:
    return evaluate_source("eastmoney", list(runs), HEALTH, now=NOW, stale_after=STALE).reasons


# --------------------------------------------------------------------------------------------
# the rules (pure)
# --------------------------------------------------------------------------------------------


def test_recent_productive_runs_are_healthy() -> None:
    assert judge(run(3), run(2, new=0), run(1)) == ()


def test_a_source_that_never_ran_is_unhealthy() -> None:
    assert judge() == ("eastmoney: has never run",)
    assert judge(run(1, "locked")) == ("eastmoney: has never run",)  # locked out is not running


def test_silence_longer_than_the_limit_is_reported() -> None:
    (reason,) = judge(run(1, ago=7 * 3600))
    assert reason.startswith("eastmoney: has not run for 6h59m")
    assert "limit 6h00m" in reason


def test_lists_full_but_nothing_written_for_n_runs_means_a_layout_change() -> None:
    broken = [run(n, new=0, skipped=50) for n in (3, 2, 1)]
    (reason,) = judge(*broken)
    assert reason == (
        "eastmoney: lists offered 150 articles but nothing was written in the last 3 runs"
        " (upstream layout change?)"
    )
    assert judge(*broken[:2], run(1)) == ()  # only two empty runs so far
    # a quiet hour: everything listed is already mirrored
    assert not is_empty_run({"listed": 50, "new": 0, "known": 50})
    assert is_empty_run({"listed": 50, "new": 0, "known": 40})
    assert not is_empty_run({"listed": 50, "new": 0, "unchanged": 2, "skipped": 48})
    assert not is_empty_run({"listed": 0, "new": 0, "failed": 3})


def test_extraction_failures_over_the_ratio_are_reported() -> None:
    (reason,) = judge(run(3, new=2, failed=4), run(2, new=1, failed=3), run(1, new=1, failed=0))
    assert reason == "eastmoney: 7 of 11 articles failed in the last 3 runs (64% > 50%)"
    assert judge(run(3, new=6, failed=4), run(2), run(1)) == ()


def test_repeated_failed_runs_and_a_dead_run_are_reported() -> None:
    reasons = judge(run(3, "failed", new=0), run(2, "failed", new=0), run(1, "failed", new=0))
    assert "eastmoney: the last 3 runs failed (see the run logs)" in reasons
    (reason,) = judge(run(2, "running", ago=3 * 3600), run(1))
    assert reason == "eastmoney: run #2 started 3h00m ago and never finished (killed?)"
    assert judge(run(2, "running", ago=60), run(1)) == ()  # still going


def test_daemon_heartbeat_states() -> None:
    beat = {"daemon:heartbeat": iso(NOW - timedelta(seconds=20)), "daemon:pid": "4321"}
    alive = evaluate_daemon(beat, now=NOW, heartbeat_interval=30)
    assert (alive.state, alive.pid, alive.reasons) == ("alive", 4321, ())
    old = {**beat, "daemon:heartbeat": iso(NOW - timedelta(minutes=5))}
    dead = evaluate_daemon(old, now=NOW, heartbeat_interval=30)
    assert dead.state == "dead"
    assert dead.reasons[0].startswith("daemon: no heartbeat for 5m00s (pid 4321")
    stopped = evaluate_daemon(
        {**old, "daemon:stopped": iso(NOW - timedelta(minutes=4))}, now=NOW, heartbeat_interval=30
    )
    assert (stopped.state, stopped.reasons) == ("stopped", ())
    assert evaluate_daemon({}, now=NOW, heartbeat_interval=30).state == "absent"


def test_a_failed_publish_is_a_reason() -> None:
    assert evaluate_publish({"exit": 0}) == ()
    (reason,) = evaluate_publish({"exit": 128, "at": "2024-05-01T11:00:00+08:00"})
    assert "failed with exit 128" in reason and "posts are kept" in reason


# --------------------------------------------------------------------------------------------
# the command, over a real state store
# --------------------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    config = tmp_path / "wiremirror.toml"
    config.write_text(
        '[output]\ndir = "output"\n[state]\ndir = "state"\n[schedule]\nheartbeat_interval = 30.0\n'
    )
    return config


def record_run(config: Path, source: str, when: datetime, outcome: str = "ok", **stats: Any) -> None:
    cfg = parse_config({"state": {"dir": "state"}}, base_dir=str(config.parent))
    with time_machine.travel(when, tick=False), StateStore(cfg.db_path) as store:
        run_id = store.start_run(source)
        store.finish_run(run_id, outcome, {"listed": 20, "new": 2, "failed": 0, "duration": 4.2, **stats})


def status(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with time_machine.travel(NOW, tick=False):
        code = main(["--config", str(config), "status", *args])
    return code, capsys.readouterr().out


def test_fresh_install_check_fails_naming_each_source(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site.parent / "state").mkdir()  # made by init-site or the daemon; a missing one: test_config_checks
    code, out = status(site, "--check", capsys=capsys)
    assert code == 2
    assert "eastmoney: has never run" in out and "chinanews: has never run" in out
    assert list((site.parent / "state").iterdir()) == []  # status only reads


def test_healthy_sources_pass_the_check_and_show_their_last_run(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_run(site, "eastmoney", NOW - timedelta(minutes=10), new=5, skipped=1)
    record_run(site, "chinanews", NOW - timedelta(minutes=3))
    code, out = status(site, "--check", capsys=capsys)
    assert (code, out.strip()) == (0, "healthy: 2 sources, daemon absent")
    code, out = status(site, capsys=capsys)
    assert code == 0
    assert (
        "eastmoney: last run #1 ok, started 2024-05-01T11:50:00+08:00 (10m00s ago), new 5, updated 0" in out
    )
    assert "daemon: never started here (cron / timer mode)" in out


def test_check_names_the_broken_source_and_the_reason(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for minutes in (30, 20, 10):
        record_run(site, "eastmoney", NOW - timedelta(minutes=minutes), new=0, failed=20)
    record_run(site, "chinanews", NOW - timedelta(minutes=3))
    code, out = status(site, "--check", capsys=capsys)
    assert code == 2
    assert out.startswith("UNHEALTHY:\n")
    assert "  - eastmoney: lists offered 60 articles but nothing was written in the last 3 runs" in out
    assert "  - eastmoney: 60 of 60 articles failed in the last 3 runs (100% > 50%)" in out
    assert "chinanews" not in out


def test_json_carries_next_runs_and_the_daemon_heartbeat(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_run(site, "eastmoney", NOW - timedelta(minutes=10))
    record_run(site, "chinanews", NOW - timedelta(minutes=10))
    cfg = parse_config({"state": {"dir": "state"}}, base_dir=str(site.parent))
    jobs = {"crawl:eastmoney": {"next_run": "2024-05-01T12:05:00+08:00", "last_exit": 0}}
    with StateStore(cfg.db_path) as store:
        store.set_meta("daemon:heartbeat", iso(NOW - timedelta(seconds=10)))
        store.set_meta("daemon:pid", "999")
        store.set_meta("daemon:jobs", json.dumps(jobs))
    code, out = status(site, "--json", capsys=capsys)
    report = json.loads(out)
    assert code == 0 and report["healthy"] is True
    assert report["daemon"]["state"] == "alive" and report["daemon"]["pid"] == 999
    east = next(s for s in report["sources"] if s["source"] == "eastmoney")
    assert east["next_run"] == "2024-05-01T12:05:00+08:00"
    assert east["last_run"]["stats"]["new"] == 2

    with StateStore(cfg.db_path) as store:  # the daemon died 10 minutes ago
        store.set_meta("daemon:heartbeat", iso(NOW - timedelta(minutes=10)))
    code, out = status(site, "--check", capsys=capsys)
    assert code == 2 and "daemon: no heartbeat for 10m00s (pid 999" in out

    with StateStore(cfg.db_path) as store:  # ... no: it was stopped on purpose
        store.set_meta("daemon:stopped", iso(NOW - timedelta(minutes=9)))
    assert status(site, "--check", capsys=capsys)[0] == 0
    code, out = status(site, "--check", "--require-daemon", capsys=capsys)
    assert code == 2 and "daemon: stopped (a running daemon is required)" in out


def test_status_never_reads_the_posts(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(site, "eastmoney", NOW - timedelta(minutes=10))
    record_run(site, "chinanews", NOW - timedelta(minutes=10))
    (site.parent / "output").mkdir()
    (site.parent / "output" / "_posts").write_text("not a folder: listing it would fail")
    assert status(site, capsys=capsys)[0] == 0


# --------------------------------------------------------------------------------------------
# run logs
# --------------------------------------------------------------------------------------------


def test_each_run_gets_its_own_log_and_old_ones_are_pruned(tmp_path: Path) -> None:
    cfg = parse_config({"state": {"dir": "state"}, "logging": {"keep": 3}}, base_dir=str(tmp_path))
    paths = []
    try:
        for minute in range(5):
            with time_machine.travel(NOW + timedelta(minutes=minute), tick=False):
                path = configure_run_logging(cfg, "eastmoney")
            logging.getLogger("crawler.test").info("run %d", minute)
            paths.append(path)
    finally:
        close_run_logging()
    assert run_logs(cfg, "eastmoney") == paths[-3:]
    assert paths[-1].parent == cfg.log_dir / "eastmoney"
    assert paths[-1].name.startswith("20240501-1204")
    assert "INFO crawler.test: run 4" in paths[-1].read_text()
    assert "run 3" not in paths[-1].read_text()  # one file per run


def test_summary_line_format() -> None:
    stats = {"new": 3, "updated": 1, "unchanged": 9, "skipped": 2, "failed": 0, "duration": 12.345}
    assert (
        summary_line("eastmoney", stats)
        == "source=eastmoney new=3 updated=1 skipped=2 failed=0 duration=12.3s"
    )
    assert (
        summary_line("chinanews", {}) == "source=chinanews new=0 updated=0 skipped=0 failed=0 duration=0.0s"
    )
