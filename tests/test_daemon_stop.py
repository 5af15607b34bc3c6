"""A stop is not a failure: SIGTERM mid-crawl is its own outcome, logged calmly and recorded.

Real ``wiremirror crawl`` / ``wiremirror schedule`` subprocesses against a slow loopback upstream;
the tests wait for requests in flight (events), never for fixed times.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from crawler.config import HealthConfig
from crawler.health import evaluate_source
from crawler.loopback import LoopbackServer
from crawler.state import RunRecord
from crawler.timeutil import BEIJING, iso
from tests.conftest import REPO, loopback_config, wait_for, write_config
from tests.test_daemon import DaemonRun, run_daemon, schedule_section, slow_eastmoney

__all__ = ["run_daemon"]  # the fixture, shared with tests/test_daemon.py

EXIT_INTERRUPTED = 130


def runs(folder: Path) -> list[tuple[str, str | None]]:
    db = folder / "state" / "wiremirror.sqlite3"
    with sqlite3.connect(db) as conn:
        return [(str(o), f) for o, f in conn.execute("SELECT outcome, finished FROM runs ORDER BY id")]


def start_crawl(folder: Path, server: LoopbackServer) -> subprocess.Popen[str]:
    config = write_config(folder, loopback_config(server, sources={"chinanews": {"enabled": False}}))
    env = {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", "--config", str(config), "crawl", "eastmoney"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def in_flight(server: LoopbackServer) -> Callable[[], bool]:
    return lambda: bool(server.requests_to("/NewsData/GetNewsText.do"))


def test_sigterm_mid_crawl_is_an_interrupted_run(tmp_path: Path, loopback: LoopbackServer) -> None:
    slow_eastmoney(loopback, delay=3.0)
    proc = start_crawl(tmp_path, loopback)
    wait_for(in_flight(loopback), 120, "article requests in flight")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, out + err
    assert out.startswith("eastmoney: interrupted ")
    ((outcome, finished),) = runs(tmp_path)
    assert outcome == "interrupted" and finished


def test_a_forced_stop_still_closes_the_run_row(tmp_path: Path, loopback: LoopbackServer) -> None:
    slow_eastmoney(loopback, delay=30.0)
    proc = start_crawl(tmp_path, loopback)
    wait_for(in_flight(loopback), 120, "article requests in flight")
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: (tmp_path / "state" / "logs").is_dir(), 60, "the run log")
    log = next((tmp_path / "state" / "logs" / "eastmoney").glob("*.log"))
    wait_for(lambda: "shutting down gracefully" in log.read_text(encoding="utf-8"), 60, "graceful stop")
    proc.send_signal(signal.SIGTERM)  # a second signal: Scrapy stops at once
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, out + err
    assert out.startswith("eastmoney: interrupted ")
    ((outcome, finished),) = runs(tmp_path)
    assert outcome == "interrupted" and finished  # not "running" until the stale-run rule fires


def test_daemon_stop_mid_crawl_is_logged_calmly_and_status_stays_healthy(
    run_daemon: Callable[..., DaemonRun], loopback: LoopbackServer
) -> None:
    slow_eastmoney(loopback, delay=3.0)
    d = run_daemon(schedule_section(eastmoney={"interval": 3600.0}), config=loopback_config(loopback))
    wait_for(in_flight(loopback), 120, "article requests in flight")
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=120) == 0
    log = d.log()
    assert "crawl:eastmoney: interrupted by the shutdown" in log
    assert " ERROR" not in log and "failed, exit" not in log and "killed by signal" not in log, log
    ((outcome, finished),) = runs(d.folder)
    assert outcome == "interrupted" and finished
    report = d.status()
    (source,) = report["sources"]
    assert source["recent_outcomes"] == ["interrupted"] and source["healthy"], source
    assert report["healthy"], json.dumps(report, indent=1)


def test_interrupted_runs_are_neither_failures_nor_empty_nor_stuck() -> None:
    now = datetime(2024, 5, 1, 3, 0, tzinfo=BEIJING)  # a Beijing night: quiet lists, daemon restarts

    def run(n: int, outcome: str, **stats: int) -> RunRecord:
        started = now - timedelta(minutes=10 * n)
        return RunRecord(n, "eastmoney", iso(started), iso(started + timedelta(seconds=5)), outcome, stats)

    interrupted = [run(n, "interrupted", listed=20, known=0, new=0) for n in (1, 2, 3)]
    health = HealthConfig(empty_runs=3)
    verdict = evaluate_source("eastmoney", interrupted, health, now=now, stale_after=600.0)
    assert verdict.reasons == ()
    mixed = [interrupted[0], run(4, "ok", listed=20, known=20), interrupted[1], run(5, "ok", listed=3, new=3)]
    assert evaluate_source("eastmoney", mixed, health, now=now, stale_after=600.0).reasons == ()


def test_the_daemon_stops_a_multi_source_crawl_with_one_signal_per_crawl(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    """``wiremirror crawl`` of two sources forwards a stop to its children; the daemon must not signal
    them as well, or each gets SIGTERM twice and Scrapy drops what is in flight."""
    import threading

    from crawler.config import ScheduleJob, load_config
    from crawler.daemon import JobRunner, JobSpec
    from tests.conftest import DEMO_DATA

    slow_eastmoney(loopback, delay=30.0)
    loopback.load_manifest(DEMO_DATA / "chinanews")
    cfg = load_config(write_config(tmp_path, loopback_config(loopback)))
    runner = JobRunner(cfg)
    spec = JobSpec("housekeeping:retry", ("crawl",), ScheduleJob(interval=3600.0))
    codes: list[int | None] = []
    job = threading.Thread(target=lambda: codes.append(runner.run(spec, timeout=300)))
    job.start()
    wait_for(in_flight(loopback), 120, "article requests in flight")
    runner.signal_children(signal.SIGTERM)  # what the daemon's stopper does on shutdown
    job.join(timeout=180)
    assert codes == [EXIT_INTERRUPTED]
    log = next((tmp_path / "state" / "logs" / "eastmoney").glob("*.log")).read_text(encoding="utf-8")
    assert "shutting down gracefully" in log
    assert "twice" not in log and "unclean" not in log, log
    outcomes = runs(tmp_path)
    assert len(outcomes) == 2 and all(finished for _, finished in outcomes)  # both runs closed
    assert {outcome for outcome, _ in outcomes} <= {"interrupted", "ok"}
    assert "interrupted" in {outcome for outcome, _ in outcomes}  # the slow one was stopped, not failed


def test_a_stop_reaches_the_job_itself_and_only_a_kill_its_whole_group(tmp_path: Path) -> None:
    """The job leads its process group; a graceful stop goes to it alone (it stops its own helpers,
    once), a kill to the whole group. A helper that was signalled too would have it twice."""
    import threading

    from crawler.config import ScheduleJob, parse_config
    from crawler.daemon import JobRunner, JobSpec

    marks = tmp_path / "signals"
    started = tmp_path / "started"
    script = (
        f'trap "echo leader >> {marks}; exit 0" TERM; '
        f'(trap "echo helper >> {marks}" TERM; while :; do sleep 0.05; done) & '
        f"touch {started}; wait"
    )
    cfg = parse_config({"state": {"dir": "state"}}, base_dir=str(tmp_path))
    runner = JobRunner(cfg, prefix=["sh", "-c", script, "job"])
    spec = JobSpec("crawl:stub", (), ScheduleJob(interval=3600.0), source="stub")
    job = threading.Thread(target=runner.run, args=(spec, 120))
    job.start()
    wait_for(started.exists, 60, "the stub job")
    runner.signal_children(signal.SIGTERM)
    job.join(timeout=60)
    assert marks.read_text(encoding="utf-8").split() == ["leader"]


def test_a_stop_while_scrapy_starts_is_a_clean_interrupted_run(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    """The run log exists before Scrapy's reactor (and its signal handlers) do: a SIGTERM then must
    not end in a traceback from inside Twisted, nor leave the run row open."""
    slow_eastmoney(loopback, delay=30.0)
    proc = start_crawl(tmp_path, loopback)
    wait_for(lambda: any((tmp_path / "state" / "logs").rglob("*.log")), 120, "the run log")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "Unhandled error" not in err, err
    assert proc.returncode == EXIT_INTERRUPTED, out + err
    assert all(finished for _, finished in runs(tmp_path))


def test_a_crawler_that_never_started_has_no_run_to_close() -> None:
    from scrapy.crawler import CrawlerProcess

    from crawler.extensions.runrecord import close_unfinished

    crawler = CrawlerProcess({"SPIDER_MODULES": ["crawler.sources.eastmoney.spider"]}).create_crawler(
        "eastmoney"
    )
    close_unfinished(crawler)  # nothing to record, and no RuntimeError from Scrapy's unset extensions
