"""The scheduling daemon: real APScheduler, real child processes, real signals.

The fast tests check the plan (ids, triggers, defaults, catch-up rules). The daemon tests run
``python -m crawler schedule`` as a subprocess with second-scale intervals; its jobs run
tests/daemon_job.py (through WIREMIRROR_JOB_PREFIX), a stand-in crawl that writes posts
atomically and records runs in the real state store. Nothing is mocked; tests wait for events
with generous deadlines and only assert lower bounds on time, so a slow machine cannot fail them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tomli_w

from crawler import daemon
from crawler.config import ConfigError, ScheduleJob, parse_config
from crawler.locks import EXIT_LOCKED
from crawler.loopback import LoopbackServer
from crawler.timeutil import iso
from tests.conftest import (
    DEMO_DATA,
    loopback_config,
    posts_in,
    read_post,
    wait_for,
)

REPO = Path(__file__).resolve().parent.parent
JOB_SCRIPT = REPO / "tests" / "daemon_job.py"
BEIJING = ZoneInfo("Asia/Shanghai")
OFF = {"enabled": False, "interval": 60.0}  # config.py asks for a trigger even when off


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (killed, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def schedule_section(**jobs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "heartbeat_interval": 0.5,
        "shutdown_grace": 15.0,
        "misfire_grace_time": 30.0,
        "crawl_timeout": 60.0,
        "retry": OFF,
        "rotate": OFF,
        "categories": OFF,
    }
    base.update(jobs)
    return base


class DaemonRun:
    """One ``wiremirror schedule`` process plus what its stand-in jobs reported."""

    def __init__(
        self, folder: Path, config: dict[str, Any], env: dict[str, str] | None = None, *, real: bool = False
    ) -> None:
        self.folder = folder
        self.config_path = folder / "wiremirror.toml"
        self.config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
        self.events_path = folder / "events.jsonl"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DAEMON_JOB_EVENTS": str(self.events_path),
            **(env or {}),
        }
        self.env.pop(daemon.JOB_PREFIX_ENV, None)
        if not real:  # jobs run the stand-in; real=True runs `python -m crawler crawl`
            self.env[daemon.JOB_PREFIX_ENV] = f"{sys.executable} {JOB_SCRIPT}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = folder / "daemon.stderr"

    def start(self) -> DaemonRun:
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "crawler", "--config", str(self.config_path), "schedule"],
                cwd=self.folder,
                env=self.env,
                stdout=err,
                stderr=err,
            )
        return self

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        # a job may be appending right now: only lines with their newline are complete
        complete = self.events_path.read_text().split("\n")[:-1]
        rows = [json.loads(line) for line in complete if line.strip()]
        return [r for r in rows if kind is None or r["event"] == kind]

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        return self.wait()

    def log(self) -> str:
        path = self.folder / "state" / "logs" / "daemon.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.folder / "state" / "wiremirror.sqlite3")

    def status(self) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "crawler", "--config", str(self.config_path), "status", "--json"],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return dict(json.loads(out.stdout))


@pytest.fixture
def run_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonRun]]:
    started: list[DaemonRun] = []

    def make(
        schedule: dict[str, Any], *, env: dict[str, str] | None = None, config: dict[str, Any] | None = None
    ) -> DaemonRun:
        """A daemon over the stand-in jobs, or with ``config`` (a loopback config) over real crawls."""
        data = dict(config or {"output": {"dir": "output"}, "state": {"dir": "state"}})
        data["schedule"] = schedule
        data.setdefault("sources", {}).setdefault("chinanews", {})["enabled"] = False
        run = DaemonRun(tmp_path, data, env, real=config is not None).start()
        started.append(run)
        return run

    yield make
    for run in started:
        if run.proc and run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


# --------------------------------------------------------------------------------------------
# the plan: pure, in-process
# --------------------------------------------------------------------------------------------


def test_scheduler_has_fixed_ids_explicit_timezone_and_deliberate_defaults() -> None:
    cfg = parse_config(
        {
            "schedule": {
                "misfire_grace_time": 120.0,
                "eastmoney": {"interval": 300, "jitter": 20},
                "chinanews": {"cron": "*/10 6-23 * * *"},
                "retry": {"interval": 1800},  # off by default; configuring it turns it on
                "categories": OFF,
            }
        }
    )
    scheduler = daemon.build_scheduler(cfg)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "crawl:eastmoney",
        "crawl:chinanews",
        "housekeeping:retry",
        "housekeeping:catchup",
    }
    assert str(scheduler.timezone) == "Asia/Shanghai"
    defaults = scheduler._job_defaults
    assert defaults["coalesce"] is True
    assert defaults["max_instances"] == 1
    assert defaults["misfire_grace_time"] == 120.0
    east = jobs["crawl:eastmoney"].trigger
    assert east.interval == timedelta(seconds=300)
    assert east.jitter == 20
    china = jobs["crawl:chinanews"].trigger
    # cron expressions are Beijing time: 05:59 Beijing is too early, 06:00 fires
    after = china.get_next_fire_time(None, datetime(2024, 5, 1, 5, 59, tzinfo=BEIJING))
    assert after == datetime(2024, 5, 1, 6, 0, tzinfo=BEIJING)
    assert jobs["crawl:eastmoney"].args[0].args == ("crawl", "eastmoney")


def test_crontab_weekdays_mean_what_crontab_means() -> None:
    # APScheduler 3 counts Monday as 0; crontab counts Sunday as 0 (and 7)
    assert daemon.crontab_day_of_week("0") == "sun"
    assert daemon.crontab_day_of_week("7") == "sun"
    assert daemon.crontab_day_of_week("1-5") == "mon,tue,wed,thu,fri"
    assert daemon.crontab_day_of_week("*/2") == "sun,tue,thu,sat"
    assert daemon.crontab_day_of_week("sat,sun") == "sun,sat"
    trigger = daemon.make_trigger(ScheduleJob(cron="0 9 * * 1"), BEIJING)
    first = trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=BEIJING))  # a Wednesday
    assert first == datetime(2024, 5, 6, 9, 0, tzinfo=BEIJING)
    assert first.strftime("%A") == "Monday"


def test_unknown_schedule_table_is_an_error_naming_it() -> None:
    cfg = parse_config({"schedule": {"eastmony": {"interval": 60}}})
    with pytest.raises(ConfigError, match=r"schedule\.eastmony"):
        daemon.build_scheduler(cfg)


def test_disabled_sources_and_jobs_are_not_scheduled() -> None:
    cfg = parse_config(
        {
            "sources": {"chinanews": {"enabled": False}},
            "schedule": {"eastmoney": {"interval": 60, "enabled": False}, "retry": OFF},
        }
    )
    ids = {job.spec.id for job in daemon.plan_jobs(cfg)}
    assert ids == {"housekeeping:categories"}  # catch-up is chinanews-only; rotate is off by default


def test_catch_up_is_one_run_now_and_a_recent_run_keeps_its_rhythm() -> None:
    cfg = parse_config({"schedule": {"eastmoney": {"interval": 600}, "chinanews": {"cron": "0 * * * *"}}})
    now = datetime(2024, 5, 1, 12, 30, tzinfo=BEIJING)
    never = {job.spec.id: job for job in daemon.plan_jobs(cfg, {}, now)}
    assert never["crawl:eastmoney"].first_run == now  # a source that never ran runs at start
    assert never["housekeeping:categories"].first_run is None  # housekeeping waits for its time
    long_ago = {"crawl:eastmoney": now - timedelta(days=2), "crawl:chinanews": now - timedelta(hours=5)}
    plan = {job.spec.id: job for job in daemon.plan_jobs(cfg, long_ago, now)}
    assert plan["crawl:eastmoney"].first_run == now  # once, not 288 missed runs
    assert plan["crawl:chinanews"].first_run == now
    recent = {"crawl:eastmoney": now - timedelta(minutes=4), "crawl:chinanews": now - timedelta(minutes=20)}
    plan = {job.spec.id: job for job in daemon.plan_jobs(cfg, recent, now)}
    assert plan["crawl:eastmoney"].first_run == now + timedelta(minutes=6)
    assert plan["crawl:chinanews"].first_run is None  # 12:10 run happened; next at 13:00
    assert plan["crawl:chinanews"].next_run(now) == datetime(2024, 5, 1, 13, 0, tzinfo=BEIJING)


def test_job_command_puts_config_first_and_honours_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config({}, path="/etc/wiremirror/wiremirror.toml")
    spec = next(job.spec for job in daemon.plan_jobs(cfg) if job.spec.id == "housekeeping:catchup")
    now = datetime(2024, 5, 1, 0, 30, tzinfo=BEIJING)
    assert daemon.job_command(cfg, spec, now=now) == [
        *(sys.executable, "-m", "crawler", "--config", "/etc/wiremirror/wiremirror.toml"),
        *("backfill", "chinanews", "--since", "2024-04-30"),
    ]
    monkeypatch.setenv(daemon.JOB_PREFIX_ENV, "nice -n 10 /opt/wm/bin/python -m crawler")
    assert daemon.job_command(cfg, spec)[:6] == ["nice", "-n", "10", "/opt/wm/bin/python", "-m", "crawler"]


def test_runner_returns_and_logs_a_failing_exit_code(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = parse_config({}, base_dir=str(tmp_path))
    runner = daemon.JobRunner(cfg, prefix=[sys.executable, "-c", "import sys; sys.exit(3)"])
    spec = daemon.JobSpec("crawl:eastmoney", ("crawl", "eastmoney"), ScheduleJob(interval=60), "eastmoney")
    with caplog.at_level(logging.INFO, logger="crawler.daemon"):
        assert runner.run(spec, timeout=60) == 3
    assert "crawl:eastmoney: failed, exit 3" in caplog.text
    assert runner.results["crawl:eastmoney"].last_exit == 3


def test_runner_timeout_stops_the_whole_process_group(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = parse_config({"schedule": {"shutdown_grace": 5.0}}, base_dir=str(tmp_path))
    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(120)\n"
    )
    runner = daemon.JobRunner(cfg, prefix=[sys.executable, "-c", script])
    spec = daemon.JobSpec("crawl:eastmoney", ("crawl", "eastmoney"), ScheduleJob(interval=60), "eastmoney")
    with caplog.at_level(logging.INFO, logger="crawler.daemon"):
        code = runner.run(spec, timeout=1.0)
    assert code == -signal.SIGTERM
    assert "still running after 1s" in caplog.text
    grandchild = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="grandchild pid"))
    wait_for(lambda: not pid_alive(grandchild), 10, "the grandchild to be stopped with its group")


# --------------------------------------------------------------------------------------------
# the daemon, for real
# --------------------------------------------------------------------------------------------


def test_runs_happen_on_time_and_status_sees_a_live_daemon(run_daemon: Callable[..., DaemonRun]) -> None:
    launched = time.time()
    d = run_daemon(schedule_section(eastmoney={"interval": 1.0}), env={"DAEMON_JOB_SECONDS": "0.1"})
    starts = wait_for(lambda: len(d.events("start")) >= 4 and d.events("start"), what="four runs")
    # Never early: the n-th run is due n intervals after the daemon's start, and a busy machine only
    # delays it (a gap between two runs can be short when the earlier one started late).
    for n, start in enumerate(starts):
        assert start["t"] - launched >= n * 1.0, [e["t"] - launched for e in starts]
    ends = {e["run"]: e["t"] for e in d.events("end")}
    for earlier, later in itertools.pairwise(starts):  # and never two at once
        assert later["t"] >= ends[earlier["run"]]
    status = d.status()
    assert status["daemon"]["state"] == "alive"
    assert status["daemon"]["pid"] == d.proc.pid if d.proc else None
    job = status["jobs"]["crawl:eastmoney"]
    assert job["next_run"] is not None
    assert job["command"].endswith("crawl eastmoney")
    assert d.stop() == 0
    assert d.status()["daemon"]["state"] == "stopped"


def test_a_crawl_that_outlasts_its_interval_is_never_started_twice(
    run_daemon: Callable[..., DaemonRun],
) -> None:
    d = run_daemon(schedule_section(eastmoney={"interval": 1.0}), env={"DAEMON_JOB_SECONDS": "2.5"})
    wait_for(lambda: len(d.events("end")) >= 2, 60, "two slow runs")
    assert d.stop() == 0
    runs = {e["run"]: e for e in d.events("start")}
    ends = {e["run"]: e for e in d.events("end")}
    spans = sorted((runs[r]["t"], ends[r]["t"]) for r in runs if r in ends)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans  # the next run starts only after the previous one ended
    assert "previous run is still going; not starting another" in d.log()
    with d.db() as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE outcome = 'running'").fetchone()[0] == 0


def wait_until_next_run_is_far(d: DaemonRun, job_id: str = "crawl:eastmoney") -> None:
    """Wait until ``job_id`` is idle and its next run is over half an hour away.

    After that no run can start before the test ends, so counting runs then is exact; no sleep
    has to guess how long a burst of missed runs would take to show itself.
    """

    def settled() -> bool:
        job = d.status()["jobs"].get(job_id)
        if not job or job["running"] or job["last_exit"] is None or job["next_run"] is None:
            return False
        return datetime.fromisoformat(job["next_run"]) - datetime.now(BEIJING) > timedelta(minutes=30)

    wait_for(settled, 60, f"{job_id} to be idle with its next run far away")


def test_restart_after_downtime_gives_one_catch_up_run_and_no_extra_after_a_quick_restart(
    run_daemon: Callable[..., DaemonRun],
) -> None:
    hourly = schedule_section(eastmoney={"interval": 3600.0})
    first = run_daemon(hourly)
    wait_for(lambda: first.events("end"), what="the first-ever run at start")
    assert first.stop() == 0
    assert len(first.events("start")) == 1

    # a quick restart: the last run is seconds old, so nothing runs until an hour after it
    again = run_daemon(hourly)
    status = wait_for(lambda: (s := again.status())["daemon"]["state"] == "alive" and s, what="heartbeat")
    last_start = datetime.fromisoformat(status["sources"][0]["last_run"]["started"])
    next_run = datetime.fromisoformat(status["jobs"]["crawl:eastmoney"]["next_run"])
    assert timedelta(minutes=59) <= next_run - last_start <= timedelta(minutes=61)
    assert again.stop() == 0
    assert len(again.events("start")) == 1

    # two hours of downtime (two missed runs): exactly one catch-up run at start, not a burst
    with again.db() as db:
        db.execute(
            "UPDATE runs SET started = ?, finished = ?",
            (iso(datetime.now(BEIJING) - timedelta(hours=2)),) * 2,
        )
        db.execute(
            "UPDATE meta SET value = ? WHERE key LIKE 'daemon:last:%'",
            (iso(datetime.now(BEIJING) - timedelta(hours=2)),),
        )
    later = run_daemon(hourly)
    wait_for(lambda: len(later.events("end")) == 2, what="the catch-up run")
    wait_until_next_run_is_far(later)
    assert later.stop() == 0
    assert len(later.events("start")) == 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_crawl_stops_cleanly_with_nothing_half_written(
    run_daemon: Callable[..., DaemonRun], sig: signal.Signals
) -> None:
    d = run_daemon(
        schedule_section(eastmoney={"interval": 1.0}),
        env={"DAEMON_JOB_SECONDS": "60", "DAEMON_JOB_ITEMS": "120"},  # still running when signalled
    )
    posts = d.folder / "output" / "_posts"
    wait_for(lambda: posts.is_dir() and any(posts.glob("*.md")), what="the first post of the run")
    d.signal(sig)
    assert d.wait() == 0
    signals = d.events("signal")
    assert [e["signal"] for e in signals] == [int(sig)]  # forwarded once: Scrapy would force on a second
    (end,) = d.events("end")
    assert end["outcome"] == "interrupted"
    assert 1 <= end["written"] < 120
    assert len(d.events("start")) == 1  # nothing new started after the signal
    assert not list(posts.glob(".*.tmp"))
    with d.db() as db:
        known = [row[0] for row in db.execute("SELECT post_path FROM articles")]
    assert sorted(Path(p).name for p in known) == sorted(p.name for p in posts.glob("*.md"))
    for path in known:
        assert (d.folder / "output" / path).read_text().endswith("\nend\n")
    assert "received " + sig.name in d.log()


def test_a_second_signal_forces_the_stop(run_daemon: Callable[..., DaemonRun]) -> None:
    d = run_daemon(
        schedule_section(eastmoney={"interval": 1.0}),
        env={"DAEMON_JOB_SECONDS": "60", "DAEMON_JOB_IGNORE_TERM": "1"},
    )
    (start,) = wait_for(lambda: d.events("start"), what="a run")
    d.signal(signal.SIGTERM)
    wait_for(lambda: d.events("signal"), what="the crawl to get the first signal")
    d.signal(signal.SIGTERM)
    assert d.wait() == 128 + signal.SIGTERM
    wait_for(lambda: not pid_alive(start["pid"]), 10, "the crawl to be killed")
    assert not d.events("end")


def test_shutdown_grace_bounds_the_wait(run_daemon: Callable[..., DaemonRun]) -> None:
    d = run_daemon(
        schedule_section(eastmoney={"interval": 1.0}, shutdown_grace=1.0),
        env={"DAEMON_JOB_SECONDS": "60", "DAEMON_JOB_IGNORE_TERM": "1"},
    )
    (start,) = wait_for(lambda: d.events("start"), what="a run")
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    wait_for(lambda: not pid_alive(start["pid"]), 10, "the crawl to be killed")
    assert "shutdown grace over; killing crawl:eastmoney" in d.log()


def test_a_crawl_past_its_timeout_is_stopped_gracefully(run_daemon: Callable[..., DaemonRun]) -> None:
    d = run_daemon(
        schedule_section(eastmoney={"interval": 3600.0}, crawl_timeout=1.0),
        env={"DAEMON_JOB_SECONDS": "30", "DAEMON_JOB_ITEMS": "60"},
    )
    (end,) = wait_for(lambda: d.events("end"), 60, "the timed-out run to stop")
    assert end["outcome"] == "interrupted"
    assert d.stop() == 0
    assert "crawl:eastmoney: timed out" in d.log()


def test_housekeeping_jobs_run_and_unknown_commands_are_skipped_with_a_warning(
    run_daemon: Callable[..., DaemonRun],
) -> None:
    d = run_daemon(
        schedule_section(
            eastmoney={"interval": 3600.0}, categories={"interval": 1.0}, rotate={"interval": 1.0}
        ),
        env={"DAEMON_JOB_KNOWN": "crawl,archive categories"},
    )
    wait_for(
        lambda: len([e for e in d.events("end") if e["job"] == "archive categories"]) >= 2, what="two runs"
    )
    status = d.status()
    rotate = status["jobs"]["housekeeping:rotate"]
    assert "invalid choice" in rotate["unavailable"]
    assert rotate["next_run"] is None  # paused, not retried every second
    assert status["jobs"]["housekeeping:categories"]["last_exit"] == 0
    assert d.stop() == 0
    assert "housekeeping:rotate: `wiremirror archive rotate --keep-days 3` is not available" in d.log()
    assert not [e for e in d.events("start") if "rotate" in e["job"]]


def test_a_second_daemon_on_the_same_state_refuses_to_start(run_daemon: Callable[..., DaemonRun]) -> None:
    hourly = schedule_section(eastmoney={"interval": 3600.0})
    first = run_daemon(hourly)
    wait_for(lambda: first.events("end"), what="the first daemon's run")
    second = run_daemon(hourly)
    assert second.wait() == EXIT_LOCKED
    assert "another wiremirror daemon is already running" in second.stderr_path.read_text()
    assert first.proc is not None and first.proc.poll() is None
    assert first.stop() == 0


# --------------------------------------------------------------------------------------------
# end to end: the daemon running real `wiremirror crawl`s against the loopback upstream
# --------------------------------------------------------------------------------------------


def slow_eastmoney(server: LoopbackServer, delay: float, list_delay: float = 0.0) -> None:
    """The Eastmoney demo upstream, its article bodies (and lists) arriving late."""
    folder = DEMO_DATA / "eastmoney"
    server.load_manifest(folder)
    if list_delay:
        server.add(
            "/comm/web/getNewsByColumns?page_index=1",
            (folder / "columns-page1.json").read_bytes(),
            content_type="application/json; charset=utf-8",
            delay=list_delay,
        )
    for text in folder.glob("text-*.json"):
        info_code = text.stem.removeprefix("text-")
        server.add(
            f"/NewsData/GetNewsText.do?id={info_code}",
            text.read_bytes(),
            content_type="application/json; charset=utf-8",
            delay=delay,
        )


def finished_runs(d: DaemonRun) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Runs with a finish time; none while the daemon has not yet created the database or its schema."""
    if not (d.folder / "state" / "wiremirror.sqlite3").exists():
        return []
    try:
        with d.db() as db:
            rows = db.execute("SELECT started, finished, outcome, stats FROM runs ORDER BY id").fetchall()
    except sqlite3.OperationalError as exc:  # "no such table: runs" while the schema is being created
        if "no such table" not in str(exc):
            raise
        return []
    return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows if r[1]]


def check_posts(d: DaemonRun) -> list[str]:
    """Every article marked known has a complete post, and every post is a known article."""
    posts = d.folder / "output" / "_posts"
    with d.db() as db:
        known = sorted(Path(row[0]).name for row in db.execute("SELECT post_path FROM articles"))
    assert known == posts_in(d.folder / "output")
    assert not [p.name for p in posts.iterdir() if p.name.startswith(".")]  # no temp file left behind
    for name in known:
        post = read_post(posts / name)
        assert post["title"] and post["date"] and post.content.strip()
    return known


@pytest.mark.slow
def test_real_crawls_on_a_slow_upstream_never_overlap(
    run_daemon: Callable[..., DaemonRun], loopback: LoopbackServer
) -> None:
    slow_eastmoney(loopback, delay=2.0, list_delay=1.5)  # every run outlasts the 1 s interval
    d = run_daemon(schedule_section(eastmoney={"interval": 1.0}), config=loopback_config(loopback))
    wait_for(lambda: len(finished_runs(d)) >= 2, 120, "two real crawls")
    assert d.stop() == 0
    runs = finished_runs(d)
    assert [r[2] for r in runs] == ["ok"] * len(runs)
    assert runs[0][3]["new"] == 3 and all(r[3]["new"] == 0 for r in runs[1:])
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(runs):
        assert start >= end  # one crawl at a time, and not because the lock turned one away:
    log = d.log()
    assert "previous run is still going; not starting another" in log
    assert "holds the lock" not in log
    assert len(check_posts(d)) == 3


@pytest.mark.slow
def test_real_crawl_survives_a_restart_with_one_catch_up_run(
    run_daemon: Callable[..., DaemonRun], loopback: LoopbackServer
) -> None:
    loopback.load_manifest(DEMO_DATA / "eastmoney")
    hourly = schedule_section(eastmoney={"interval": 3600.0})
    first = run_daemon(hourly, config=loopback_config(loopback))
    wait_for(lambda: finished_runs(first), 120, "the first crawl")
    assert first.stop() == 0
    with first.db() as db:  # two hours pass while the daemon is down
        two_hours_ago = iso(datetime.now(BEIJING) - timedelta(hours=2))
        db.execute("UPDATE runs SET started = ?, finished = ?", (two_hours_ago, two_hours_ago))
        db.execute("UPDATE meta SET value = ? WHERE key LIKE 'daemon:last:%'", (two_hours_ago,))
    second = run_daemon(hourly, config=loopback_config(loopback))
    wait_for(lambda: len(finished_runs(second)) == 2, 120, "the catch-up crawl")
    wait_until_next_run_is_far(second)
    assert second.stop() == 0
    runs = finished_runs(second)
    assert [(r[2], r[3]["new"]) for r in runs] == [("ok", 3), ("ok", 0)]
    assert len(loopback.requests_to("/comm/web/getNewsByColumns")) == 2  # one list request per run
    assert len(check_posts(second)) == 3


@pytest.mark.slow
def test_sigterm_mid_crawl_leaves_nothing_half_written(
    run_daemon: Callable[..., DaemonRun], loopback: LoopbackServer
) -> None:
    slow_eastmoney(loopback, delay=3.0)
    d = run_daemon(schedule_section(eastmoney={"interval": 3600.0}), config=loopback_config(loopback))
    wait_for(lambda: loopback.requests_to("/NewsData/GetNewsText.do"), 120, "article requests in flight")
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=120) == 0
    with d.db() as db:
        ((outcome, finished),) = db.execute("SELECT outcome, finished FROM runs").fetchall()
    assert finished is not None and outcome in ("interrupted", "ok")  # recorded, not left "running"
    assert check_posts(d)  # the articles in flight were finished and written, not dropped
    assert "received SIGTERM: starting no new jobs; passed it on to crawl:eastmoney" in d.log()
    assert d.status()["daemon"]["state"] == "stopped"
