"""The scheduling daemon: APScheduler 3.x runs each crawl as a child process, one at a time per job.

Why a child process per run: a Twisted reactor cannot be restarted, a crashed crawl must not take
the daemon down, and memory stays flat. The job function blocks until its child exits, so
``max_instances=1`` really means "never two runs of this job at once". The crawl itself takes the
per-source lock, so cron and manual runs are kept apart too.

Shutdown: the first SIGTERM/SIGINT stops new jobs, forwards that one signal to running crawls
(Scrapy then finishes its in-flight items and closes), waits ``shutdown_grace`` and exits 0.
A second signal kills the children and exits non-zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from crawler.commands.crawl import EXIT_INTERRUPTED
from crawler.config import Config, ConfigError, ScheduleJob
from crawler.launch import PROGRAM, wiremirror_command
from crawler.locks import EXIT_LOCKED, LockTimeout, source_lock
from crawler.state import StateStore
from crawler.timeutil import iso

if TYPE_CHECKING:
    from apscheduler.schedulers.blocking import BlockingScheduler

log = logging.getLogger(__name__)

JOB_PREFIX_ENV = "WIREMIRROR_JOB_PREFIX"  # replaces "python -m crawler" (a wrapper, or a test stub)
DEFAULT_SOURCE_JOB = ScheduleJob(interval=900.0, jitter=30.0)
HEARTBEAT_JOB = "daemon:heartbeat"
DAEMON_LOCK = "daemon"
NOT_CRAWLED = ("locked", "interrupted")  # run outcomes that do not count as "ran recently"
# a crawl that stopped on SIGTERM/SIGINT, or died of one before it could handle it
INTERRUPTED_EXITS = frozenset({EXIT_INTERRUPTED, -signal.SIGTERM, -signal.SIGINT})


@dataclass(slots=True, frozen=True)
class Housekeeping:
    """A maintenance command the daemon runs on its own schedule (``[schedule.<name>]`` overrides)."""

    name: str
    args: tuple[str, ...]
    default: ScheduleJob
    wanted: Callable[[Config], bool] | None = None  # a config that gives the job nothing to do skips it


# Each crawl already retries the failures that are due, so "retry" (an extra crawl of every source)
# is off by default; rotation moves posts out of _posts, which the site must ask for; captures are
# pruned only when [captures] keep_days asks for it.
HOUSEKEEPING: tuple[Housekeeping, ...] = (
    Housekeeping("retry", ("crawl",), ScheduleJob(enabled=False, interval=3600.0, jitter=60.0)),
    Housekeeping(
        "catchup",
        ("backfill", "{catch_up_sources}", "--since", "{yesterday}"),
        ScheduleJob(cron="30 3 * * *", jitter=300.0),
    ),
    Housekeeping(
        "rotate", ("archive", "rotate", "--keep-days", "3"), ScheduleJob(enabled=False, cron="10 4 * * *")
    ),
    Housekeeping("categories", ("archive", "categories"), ScheduleJob(cron="40 4 * * *")),
    Housekeeping(
        "captures",
        ("archive", "captures", "prune"),
        ScheduleJob(cron="50 4 * * *"),
        wanted=lambda cfg: cfg.captures.keep_days > 0,
    ),
)


@dataclass(slots=True, frozen=True)
class JobSpec:
    id: str  # "crawl:<source>" or "housekeeping:<name>"
    args: tuple[str, ...]  # the wiremirror subcommand and its arguments
    schedule: ScheduleJob
    source: str | None = None

    @property
    def housekeeping(self) -> bool:
        return self.source is None


def job_specs(cfg: Config) -> list[JobSpec]:
    """Every job the config asks for, in a stable order; unknown ``[schedule.*]`` names are errors."""
    sources = cfg.enabled_sources()
    known = {*sources, *(h.name for h in HOUSEKEEPING)}
    for name in cfg.schedule.jobs:
        if name not in known and name not in cfg.sources:
            raise ConfigError(f"schedule.{name}: no such source or housekeeping job (known: {sorted(known)})")
    specs = []
    for source in sources:
        spec = cfg.schedule.jobs.get(source, DEFAULT_SOURCE_JOB)
        if spec.enabled:
            specs.append(JobSpec(f"crawl:{source}", ("crawl", source), spec, source))
    for hk in HOUSEKEEPING:
        spec = cfg.schedule.jobs.get(hk.name, hk.default)
        if hk.wanted is not None and not hk.wanted(cfg):
            continue
        args = hk.args
        if "{catch_up_sources}" in args:
            names = catch_up_sources(cfg)
            if not names:
                continue
            at = args.index("{catch_up_sources}")
            args = (*args[:at], *names, *args[at + 1 :])
        if spec.enabled:
            specs.append(JobSpec(f"housekeeping:{hk.name}", args, spec))
    return specs


def catch_up_sources(cfg: Config) -> list[str]:
    """Enabled sources whose past days the daily catch-up reads again (``wiremirror backfill``)."""
    from crawler import sources

    return [n for n in cfg.enabled_sources() if sources.get(n).backfill and cfg.sources[n].can_backfill()]


def job_prefix() -> list[str]:
    custom = os.environ.get(JOB_PREFIX_ENV, "").strip()
    return shlex.split(custom) if custom else list(PROGRAM)


def child_env() -> dict[str, str]:
    """The daemon's environment; Scrapy finds the project settings whatever the working folder."""
    return {
        **os.environ,
        "SCRAPY_SETTINGS_MODULE": os.environ.get("SCRAPY_SETTINGS_MODULE", "crawler.settings"),
    }


def job_command(
    cfg: Config, spec: JobSpec, prefix: Sequence[str] | None = None, *, now: datetime | None = None
) -> list[str]:
    """The argv of one run, e.g. ``python -m crawler --config /etc/wm.toml crawl eastmoney``.

    ``--config`` goes before the subcommand, where every subcommand accepts it; ``{yesterday}``
    in an argument becomes yesterday's date in the schedule's zone.
    """
    today = (now or datetime.now(ZoneInfo(cfg.schedule.timezone))).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    args = (arg.replace("{yesterday}", yesterday) for arg in spec.args)
    return wiremirror_command(*args, config_path=cfg.path or None, program=prefix or job_prefix())


_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _dow_number(token: str) -> int:
    token = token.strip().lower()
    if token in _DOW:
        return _DOW.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ValueError(f"bad day of week {token!r}")


def crontab_day_of_week(value: str) -> str:
    """Translate crontab's weekday field (0/7 = Sunday) to APScheduler 3's names (its 0 is Monday)."""
    if value == "*":
        return value
    days: set[int] = set()
    for part in value.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _dow_number(first), _dow_number(last)
        else:
            low = _dow_number(span)
            high = 6 if step else low
        days.update(d % 7 for d in range(low, high + 1, int(step) if step else 1))
    return ",".join(_DOW[d] for d in sorted(days))


def make_trigger(spec: ScheduleJob, tz: ZoneInfo) -> Any:
    """An IntervalTrigger for ``interval`` seconds, else a CronTrigger read with crontab semantics."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    jitter = int(spec.jitter) if spec.jitter >= 1 else None
    if spec.interval > 0:
        return IntervalTrigger(seconds=spec.interval, timezone=tz, jitter=jitter)
    fields = spec.cron.split()
    if len(fields) != 5:
        raise ConfigError(f"cron {spec.cron!r}: expected five fields (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_day_of_week(weekday),
        timezone=tz,
        jitter=jitter,
    )


def first_run_time(spec: JobSpec, trigger: Any, last_run: datetime | None, now: datetime) -> datetime | None:
    """When a job should first run after (re)start; None = whenever its trigger says.

    A source that never ran, or missed a scheduled time while we were down, runs once now —
    one catch-up run, not one per missed slot. An interval job that ran recently keeps its
    rhythm (last run + interval) instead of restarting the clock.
    """
    if last_run is None:
        return now if spec.source else None
    if spec.schedule.interval > 0:
        due = last_run + timedelta(seconds=spec.schedule.interval)
        return max(now, due)
    missed = trigger.get_next_fire_time(None, last_run + timedelta(seconds=1))
    return now if missed is not None and missed <= now else None


# --------------------------------------------------------------------------------------------
# Running one job
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class JobResult:
    last_start: str = ""
    last_exit: int | None = None
    last_duration: float | None = None
    running: bool = False
    overlaps_skipped: int = 0
    missed: int = 0
    unavailable: str = ""


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """A stop request goes to the job alone, a kill to its whole process group.

    A job stops its own helpers (``wiremirror crawl`` of several sources forwards the signal to
    each of its children once); signalling the group as well would give every helper the signal
    twice, which Scrapy takes as "force an unclean shutdown". A kill must reach everything, and
    once a job has ended, anything still in its group is killed (JobRunner.run).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, sig)  # the child leads its own group
        else:
            os.kill(proc.pid, sig)


class JobRunner:
    """Starts job commands as child process groups, waits for them, and stops them on request."""

    def __init__(
        self, cfg: Config, prefix: Sequence[str] | None = None, on_finish: Callable[[str], None] | None = None
    ) -> None:
        self.cfg = cfg
        self.prefix = list(prefix) if prefix is not None else job_prefix()
        self.on_finish = on_finish
        self.results: dict[str, JobResult] = {}
        self.unavailable: Callable[[str, str], None] | None = None
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False
        self._checked: set[str] = set()

    # -- control, from the stopping thread --------------------------------------------------
    def stop_accepting(self) -> None:
        with self._lock:
            self._stopping = True

    def signal_children(self, sig: int) -> list[str]:
        with self._lock:
            running = dict(self._children)
        for proc in running.values():
            _signal_group(proc, sig)
        return sorted(running)

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._children)

    # -- one run, in an executor thread -------------------------------------------------------
    def _available(self, spec: JobSpec) -> bool:
        """Housekeeping commands may not exist yet: ask ``<cmd> --help`` once, skip with a warning."""
        if not spec.housekeeping or spec.id in self._checked:
            return True
        argv = [*job_command(self.cfg, spec, self.prefix), "--help"]
        try:
            probe = subprocess.run(
                argv, cwd=self.cfg.base_dir, env=child_env(), capture_output=True, timeout=120, check=False
            )
            ok, why = probe.returncode == 0, probe.stderr.decode("utf-8", "replace").strip()
        except (OSError, subprocess.TimeoutExpired) as err:
            ok, why = False, str(err)
        if ok:
            self._checked.add(spec.id)
            return True
        detail = why.splitlines()[-1] if why else "no output"
        log.warning(
            "%s: `wiremirror %s` is not available (%s); job paused", spec.id, " ".join(spec.args), detail
        )
        self.results.setdefault(spec.id, JobResult()).unavailable = detail
        if self.unavailable:
            self.unavailable(spec.id, detail)
        return False

    def run(self, spec: JobSpec, timeout: float) -> int | None:
        """Run one job to completion (the scheduler thread pool calls this). None = not started."""
        if not self._available(spec):
            return None
        argv = job_command(self.cfg, spec, self.prefix)
        result = self.results.setdefault(spec.id, JobResult())
        with self._lock:
            if self._stopping:
                log.info("%s: not started, the daemon is shutting down", spec.id)
                return None
            proc = subprocess.Popen(
                argv, cwd=self.cfg.base_dir, env=child_env(), stdin=subprocess.DEVNULL, start_new_session=True
            )
            self._children[spec.id] = proc
        started = time.monotonic()
        result.last_start, result.running = iso(datetime.now(ZoneInfo(self.cfg.schedule.timezone))), True
        log.info("%s: started pid %d: %s", spec.id, proc.pid, shlex.join(argv))
        timed_out = False
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            log.error("%s: still running after %.0fs; stopping pid %d", spec.id, timeout, proc.pid)
            code = self._stop_child(proc)
        finally:
            with self._lock:
                self._children.pop(spec.id, None)
            _signal_group(proc, signal.SIGKILL)  # whatever the job left running in its group goes with it
        duration = time.monotonic() - started
        result.last_exit, result.last_duration, result.running = code, round(duration, 3), False
        self._log_exit(spec, code, duration, timed_out)
        if self.on_finish:
            self.on_finish(spec.id)
        return code

    def _stop_child(self, proc: subprocess.Popen[bytes]) -> int:
        _signal_group(proc, signal.SIGTERM)
        try:
            return proc.wait(timeout=self.cfg.schedule.shutdown_grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            return proc.wait()

    def _log_exit(self, spec: JobSpec, code: int, duration: float, timed_out: bool) -> None:
        if timed_out:
            log.error("%s: timed out; exit %d after %.1fs", spec.id, code, duration)
        elif code in INTERRUPTED_EXITS:
            with self._lock:
                ours = self._stopping
            # our own shutdown is routine; a stop sent to the child from outside deserves a look
            log.log(
                logging.INFO if ours else logging.WARNING,
                "%s: interrupted by %s (exit %d after %.1fs)",
                spec.id,
                "the shutdown" if ours else "a signal from outside the daemon",
                code,
                duration,
            )
        elif code == 0:
            log.info("%s: finished, exit 0 after %.1fs", spec.id, duration)
        elif code == EXIT_LOCKED:
            log.warning(
                "%s: skipped, another run holds the lock (exit %d after %.1fs)", spec.id, code, duration
            )
        elif code < 0:
            log.error("%s: killed by signal %d after %.1fs", spec.id, -code, duration)
        else:
            log.error("%s: failed, exit %d after %.1fs (see its run log)", spec.id, code, duration)


# --------------------------------------------------------------------------------------------
# The scheduler
# --------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class PlannedJob:
    spec: JobSpec
    trigger: Any
    first_run: datetime | None  # catch-up or kept rhythm; None = the trigger's own next time

    def next_run(self, now: datetime) -> datetime | None:
        return self.first_run or self.trigger.get_next_fire_time(None, now)


def plan_jobs(
    cfg: Config, last_runs: Mapping[str, datetime] | None = None, now: datetime | None = None
) -> list[PlannedJob]:
    """Every configured job with its trigger and first run time (``wiremirror schedule --list``)."""
    tz = ZoneInfo(cfg.schedule.timezone)
    now = now or datetime.now(tz)
    planned = []
    for spec in job_specs(cfg):
        trigger = make_trigger(spec.schedule, tz)
        planned.append(
            PlannedJob(spec, trigger, first_run_time(spec, trigger, (last_runs or {}).get(spec.id), now))
        )
    return planned


def build_scheduler(
    cfg: Config,
    runner: JobRunner | None = None,
    *,
    last_runs: Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> BlockingScheduler:
    """A BlockingScheduler with every configured job added under its fixed id (not started).

    ``last_runs`` (job id → last start) turns on catch-up: see :func:`first_run_time`.
    """
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    planned = plan_jobs(cfg, last_runs, now)
    runner = runner or JobRunner(cfg)
    grace = cfg.schedule.misfire_grace_time
    scheduler = BlockingScheduler(
        timezone=ZoneInfo(cfg.schedule.timezone),
        executors={"default": ThreadPoolExecutor(max(2, len(planned))), "internal": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,  # several missed runs become one
            "max_instances": 1,  # the job blocks until its crawl exits, so this truly prevents overlap
            "misfire_grace_time": grace if grace > 0 else None,  # never APScheduler's silent 1 s
        },
    )
    for job in planned:
        extra: dict[str, Any] = {} if job.first_run is None else {"next_run_time": job.first_run}
        scheduler.add_job(
            runner.run,
            job.trigger,
            args=(job.spec, cfg.schedule.crawl_timeout),
            id=job.spec.id,
            name=job.spec.id,
            replace_existing=True,
            **extra,
        )
    return scheduler


def last_runs_from_store(cfg: Config, store: StateStore) -> dict[str, datetime]:
    """When each job last started: the runs table (cron and manual crawls count) or the daemon's note."""
    tz = ZoneInfo(cfg.schedule.timezone)
    found: dict[str, datetime] = {}
    for spec in job_specs(cfg):
        times: list[datetime] = []
        note = store.get_meta(f"daemon:last:{spec.id}")
        if note:
            times.append(datetime.fromisoformat(note))
        if spec.source:
            started = store.last_crawl_started(spec.source, not_outcomes=NOT_CRAWLED)
            if started:
                times.append(datetime.fromisoformat(started))
        if times:
            found[spec.id] = max(times).astimezone(tz)
    return found


@dataclass(slots=True)
class Daemon:
    """Owns the scheduler, the job runner, signal handling and the heartbeat."""

    cfg: Config
    prefix: Sequence[str] | None = None
    exit_code: int = 0
    runner: JobRunner = field(init=False)
    _signals: queue.SimpleQueue[int | None] = field(init=False, default_factory=queue.SimpleQueue)
    _store: StateStore | None = field(init=False, default=None)
    _store_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _scheduler: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.runner = JobRunner(self.cfg, self.prefix, on_finish=lambda _job: self.heartbeat())
        self.runner.unavailable = self._pause_unavailable

    # -- state store notes ----------------------------------------------------------------------
    def _meta(self, values: Mapping[str, str]) -> None:
        with self._store_lock:
            if self._store is None:
                return
            self._store.set_metas(values)

    def _now(self) -> datetime:
        return datetime.now(ZoneInfo(self.cfg.schedule.timezone))

    def jobs_snapshot(self) -> dict[str, dict[str, Any]]:
        jobs: dict[str, dict[str, Any]] = {}
        if self._scheduler is None:
            return jobs
        for job in self._scheduler.get_jobs():
            if job.id == HEARTBEAT_JOB:
                continue
            spec: JobSpec = job.args[0]
            result = self.runner.results.get(job.id, JobResult())
            jobs[job.id] = {
                "next_run": iso(nxt) if (nxt := getattr(job, "next_run_time", None)) else None,
                "trigger": str(job.trigger),
                "command": shlex.join(job_command(self.cfg, spec, self.runner.prefix)),
                "last_start": result.last_start or None,
                "last_exit": result.last_exit,
                "last_duration": result.last_duration,
                "running": result.running,
                "overlaps_skipped": result.overlaps_skipped,
                "missed": result.missed,
                "unavailable": result.unavailable or None,
            }
        return jobs

    def heartbeat(self) -> None:
        """Record that the daemon is awake, and when each job runs next (``wiremirror status`` reads it)."""
        try:
            self._meta(
                {
                    "daemon:heartbeat": iso(self._now()),
                    "daemon:pid": str(os.getpid()),
                    "daemon:jobs": json.dumps(self.jobs_snapshot(), ensure_ascii=False),
                }
            )
        except Exception:  # a busy database must not kill the daemon; the next beat retries
            log.exception("heartbeat: could not write to the state store")

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED

        job_id = getattr(event, "job_id", "")
        if job_id == HEARTBEAT_JOB:
            return
        result = self.runner.results.setdefault(job_id, JobResult())
        if event.code == EVENT_JOB_MAX_INSTANCES:
            result.overlaps_skipped += 1
            log.warning("%s: the previous run is still going; not starting another", job_id)
        elif event.code == EVENT_JOB_MISSED:
            result.missed += 1
            log.warning("%s: run due at %s missed (daemon busy or asleep)", job_id, event.scheduled_run_time)
        elif event.code == EVENT_JOB_SUBMITTED:
            self._meta({f"daemon:last:{job_id}": iso(self._now())})

    def _pause_unavailable(self, job_id: str, _why: str) -> None:
        if self._scheduler is not None:
            self._scheduler.pause_job(job_id)

    # -- signals ---------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.put(signum)  # SimpleQueue.put is safe in a signal handler; the rest is not

    def _install_signals(self, _event: object) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _stopper(self) -> None:
        first = self._signals.get()
        if first is None:
            return
        grace = self.cfg.schedule.shutdown_grace
        self.runner.stop_accepting()
        forwarded = self.runner.signal_children(first)
        name = signal.Signals(first).name
        if forwarded:
            log.warning(
                "received %s: starting no new jobs; passed it on to %s and waiting up to %.0fs",
                name,
                ", ".join(forwarded),
                grace,
            )
        else:
            log.warning("received %s: no job running; stopping", name)
        try:
            self._scheduler.pause()
            self._scheduler.shutdown(wait=False)
        except Exception:  # already stopping
            log.debug("scheduler already stopped", exc_info=True)
        deadline = time.monotonic() + grace
        while self.runner.running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.error(
                    "shutdown grace over; killing %s", ", ".join(self.runner.signal_children(signal.SIGKILL))
                )
                break
            try:
                second = self._signals.get(timeout=min(0.2, remaining))
            except queue.Empty:
                continue
            if second is not None:
                killed = self.runner.signal_children(signal.SIGKILL)
                log.error(
                    "second %s: killing %s", signal.Signals(second).name, ", ".join(killed) or "nothing"
                )
                self.exit_code = 128 + second
                break

    # -- main ----------------------------------------------------------------------------------
    def run(self) -> int:
        from apscheduler.events import (
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_MISSED,
            EVENT_JOB_SUBMITTED,
            EVENT_SCHEDULER_STARTED,
        )

        cfg = self.cfg
        try:
            with source_lock(cfg.state_dir, DAEMON_LOCK, 0.0):
                return self._run_locked(
                    EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_SUBMITTED, EVENT_SCHEDULER_STARTED
                )
        except LockTimeout as err:
            log.error(
                "another wiremirror daemon is already running for %s (%s)", cfg.state_dir, err.holder_info
            )
            return EXIT_LOCKED

    def _run_locked(self, job_events: int, started_event: int) -> int:
        cfg = self.cfg
        self._store = StateStore(cfg.db_path)
        try:
            scheduler = build_scheduler(cfg, self.runner, last_runs=last_runs_from_store(cfg, self._store))
            self._scheduler = scheduler
            scheduler.add_job(
                self.heartbeat,
                "interval",
                seconds=cfg.schedule.heartbeat_interval,
                id=HEARTBEAT_JOB,
                executor="internal",
                replace_existing=True,
            )
            scheduler.add_listener(self._on_event, job_events)
            scheduler.add_listener(self._install_signals, started_event)
            self._meta({"daemon:started": iso(self._now()), "daemon:host": socket.gethostname()})
            with self._store_lock:
                self._store.delete_meta("daemon:stopped")
            stopper = threading.Thread(target=self._stopper, name="wiremirror-stopper", daemon=True)
            stopper.start()
            log.info(
                "daemon pid %d: %d jobs, timezone %s, state %s",
                os.getpid(),
                len(scheduler.get_jobs()) - 1,
                cfg.schedule.timezone,
                cfg.state_dir,
            )
            self.heartbeat()
            try:
                scheduler.start()  # blocks until the stopper shuts it down
            finally:
                self._signals.put(None)  # let the stopper return if start() failed
                stopper.join()
            self.heartbeat()
            self._meta({"daemon:stopped": iso(self._now())})
            log.info("daemon stopped (exit %d)", self.exit_code)
            return self.exit_code
        finally:
            with self._store_lock:
                self._store.close()
                self._store = None


def run_daemon(cfg: Config) -> int:
    return Daemon(cfg).run()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crawler.daemon [--config FILE]``: the same daemon as ``wiremirror schedule``."""
    import argparse

    from crawler.config import load_config
    from crawler.logsetup import configure_daemon_logging

    parser = argparse.ArgumentParser(prog="python -m crawler.daemon", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    configure_daemon_logging(cfg)
    return run_daemon(cfg)


if __name__ == "__main__":
    sys.exit(main())
