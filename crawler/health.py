"""Is the mirror healthy? Pure judgements over run records, the way spidermon would judge a crawl.

No I/O here: ``wiremirror status`` reads the state store and passes records in, so every rule is
testable with plain values and a fixed "now". Each reason names the source and what to look at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crawler.config import HealthConfig
from crawler.state import RunRecord
from crawler.timeutil import to_beijing

CRAWLED = frozenset({"ok", "failed", "interrupted"})  # outcomes of runs that actually crawled
# An interrupted run (a daemon stop, a restart) says nothing about upstream: it counts as having
# run, never towards "failed" or "empty".
JUDGED = CRAWLED - {"interrupted"}


@dataclass(slots=True, frozen=True)
class SourceHealth:
    source: str
    reasons: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.reasons


@dataclass(slots=True, frozen=True)
class DaemonHealth:
    state: str  # "alive", "dead", "stopped" or "absent" (never ran: cron mode)
    pid: int | None = None
    last_heartbeat: datetime | None = None
    age: float | None = None  # seconds since the last heartbeat
    reasons: tuple[str, ...] = field(default=())


def human_seconds(seconds: float) -> str:
    """``95`` → ``1m35s``; ``26000`` → ``7h13m``: short enough for a status line."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return to_beijing(datetime.fromisoformat(value))
    except ValueError:
        return None


def _n(stats: Mapping[str, Any], key: str) -> int:
    try:
        return int(stats.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def is_empty_run(stats: Mapping[str, Any]) -> bool:
    """Lists offered articles that were neither known, filtered nor written: the extractor is broken.

    A list made only of already-mirrored, filtered-out or backing-off articles is a quiet hour, not
    a layout change. Runs recorded before the ``known`` count existed: empty when articles were
    attempted (failed or skipped) and none came out.
    """
    listed = _n(stats, "listed")
    if listed <= 0 or _n(stats, "new") + _n(stats, "updated") + _n(stats, "unchanged") > 0:
        return False
    if "known" in stats:
        return sum(_n(stats, k) for k in ("known", "filtered", "waiting")) < listed
    return _n(stats, "failed") + _n(stats, "skipped") > 0


def evaluate_source(
    source: str,
    runs: Sequence[RunRecord],
    health: HealthConfig,
    *,
    now: datetime,
    stale_after: float,
) -> SourceHealth:
    """Judge one source from its recent runs (newest first).

    ``stale_after``: seconds after which a run still marked "running" must have died.
    """
    reasons: list[str] = []
    crawled = [r for r in runs if r.outcome in CRAWLED]
    window = max(1, health.empty_runs)
    if runs and runs[0].outcome == "running":
        started = parse_time(runs[0].started)
        if started and (now - started).total_seconds() > stale_after:
            reasons.append(
                f"{source}: run #{runs[0].id} started {human_seconds((now - started).total_seconds())} ago"
                " and never finished (killed?)"
            )
    if not crawled:
        if not (runs and runs[0].outcome == "running"):
            reasons.append(f"{source}: has never run")
        return SourceHealth(source, tuple(reasons))

    last = crawled[0]
    last_time = parse_time(last.finished) or parse_time(last.started)
    if last_time is not None:
        silence = (now - last_time).total_seconds()
        if silence > health.max_silence:
            reasons.append(
                f"{source}: has not run for {human_seconds(silence)}"
                f" (limit {human_seconds(health.max_silence)}; last run #{last.id})"
            )

    recent = [r for r in crawled if r.outcome in JUDGED][:window]
    if len(recent) == window and all(r.outcome == "failed" for r in recent):
        reasons.append(f"{source}: the last {window} runs failed (see the run logs)")
    if len(recent) == window and all(is_empty_run(r.stats) for r in recent):
        listed = sum(_n(r.stats, "listed") for r in recent)
        reasons.append(
            f"{source}: lists offered {listed} articles but nothing was written in the last {window} runs"
            " (upstream layout change?)"
        )
    failed = sum(_n(r.stats, "failed") for r in recent)
    attempted = failed + sum(_n(r.stats, k) for r in recent for k in ("new", "updated", "unchanged"))
    if failed and attempted and failed / attempted > health.failure_ratio:
        reasons.append(
            f"{source}: {failed} of {attempted} articles failed in the last {len(recent)} runs"
            f" ({failed / attempted:.0%} > {health.failure_ratio:.0%})"
        )
    return SourceHealth(source, tuple(reasons))


def evaluate_daemon(
    meta: Mapping[str, str | None], *, now: datetime, heartbeat_interval: float
) -> DaemonHealth:
    """Alive when the heartbeat is recent; a daemon that stopped cleanly is "stopped", not dead."""
    beat = parse_time(meta.get("daemon:heartbeat"))
    pid_text = meta.get("daemon:pid") or ""
    pid = int(pid_text) if pid_text.isdigit() else None
    if beat is None:
        return DaemonHealth("absent")
    age = (now - beat).total_seconds()
    stopped = parse_time(meta.get("daemon:stopped"))
    if stopped is not None and stopped >= beat:
        return DaemonHealth("stopped", pid, beat, age)
    allowed = max(3 * heartbeat_interval, heartbeat_interval + 10.0)
    if age <= allowed:
        return DaemonHealth("alive", pid, beat, age)
    reason = (
        f"daemon: no heartbeat for {human_seconds(age)} (pid {pid}; expected every"
        f" {human_seconds(heartbeat_interval)}) — it died without stopping cleanly"
    )
    return DaemonHealth("dead", pid, beat, age, (reason,))


def evaluate_publish(record: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The last publish step failed: posts are safe on disk but the site is behind."""
    if not record or int(record.get("exit", 0) or 0) == 0:
        return ()
    reason = (
        f"publish: the last publish command failed with exit {record.get('exit')} at {record.get('at')}"
        " (posts are kept; the next successful publish sends them)"
    )
    return (reason,)
