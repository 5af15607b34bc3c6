"""``wiremirror status [--json] [--check]``: last runs, next runs, daemon heartbeat, health.

Reads only the state store (a few indexed queries) and the small log folders — never the posts —
so it answers instantly on any archive size. ``--check`` is for monitoring probes: exit 0 when
healthy, 2 when not, with one line per reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from crawler.commands.common import add_config_option, config_from_args
from crawler.config import Config

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 2
RECENT = 10
# what the last run listed and what became of it (crawler.extensions.runrecord.SUMMARY_KEYS)
WRITTEN = ("new", "updated", "skipped", "failed")
LISTED = ("listed", "known", "filtered", "waiting")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show last and next runs, the daemon's heartbeat and source health",
        description=__doc__,
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit {EXIT_UNHEALTHY} (printing why) when anything is unhealthy",
    )
    parser.add_argument(
        "--require-daemon",
        action="store_true",
        help="count a daemon that is not running as unhealthy (for the daemon's own probe)",
    )
    add_config_option(parser)
    parser.set_defaults(func=run)


def collect(cfg: Config, *, now: datetime | None = None, require_daemon: bool = False) -> dict[str, Any]:
    """Everything status shows, as plain data (the --json output)."""
    from crawler.health import evaluate_daemon, evaluate_publish, evaluate_source
    from crawler.logsetup import run_logs
    from crawler.state import StateStore
    from crawler.timeutil import iso, now_beijing

    now = now or now_beijing()
    meta: dict[str, str | None] = {}
    runs: dict[str, list[Any]] = {}
    failures: dict[str, tuple[int, int]] = {}
    rechecks: dict[str, tuple[int, int]] = {}
    sources = cfg.enabled_sources()
    if cfg.db_path.exists():
        with StateStore(cfg.db_path) as store:
            meta = dict(store.metas("daemon:", "publish:"))
            for source in sources:
                runs[source] = store.recent_runs(source, max(RECENT, cfg.health.empty_runs))
                failures[source] = store.failure_counts(source, max_attempts=cfg.crawl.retry_max_attempts)
                rechecks[source] = store.recheck_counts(source, now=now)

    daemon = evaluate_daemon(meta, now=now, heartbeat_interval=cfg.schedule.heartbeat_interval)
    jobs: dict[str, Any] = json.loads(meta.get("daemon:jobs") or "{}")
    publish = json.loads(meta.get("publish:last") or "null")
    reasons: list[str] = list(daemon.reasons)
    if require_daemon and daemon.state != "alive":
        reasons.append(f"daemon: {daemon.state} (a running daemon is required)")
    stale_after = cfg.schedule.crawl_timeout + cfg.schedule.shutdown_grace + 60.0
    report_sources = []
    for source in sources:
        recent = runs.get(source, [])
        verdict = evaluate_source(source, recent, cfg.health, now=now, stale_after=stale_after)
        reasons.extend(verdict.reasons)
        last = recent[0] if recent else None
        logs = run_logs(cfg, source)
        total, given_up = failures.get(source, (0, 0))
        report_sources.append(
            {
                "source": source,
                "healthy": verdict.healthy,
                "reasons": list(verdict.reasons),
                "last_run": None
                if last is None
                else {
                    "id": last.id,
                    "started": last.started,
                    "finished": last.finished,
                    "outcome": last.outcome,
                    "stats": last.stats,
                },
                "recent_outcomes": [r.outcome for r in recent],
                "failures_outstanding": total,
                "failures_given_up": given_up,
                "rechecks": {
                    "done_last_run": int(last.stats.get("rechecks", 0)) if last else 0,
                    "due": rechecks.get(source, (0, 0))[0],
                    "scheduled": rechecks.get(source, (0, 0))[1],
                },
                "next_run": (jobs.get(f"crawl:{source}") or {}).get("next_run")
                if daemon.state == "alive"
                else None,
                "log": str(logs[-1]) if logs else None,
            }
        )
    reasons.extend(evaluate_publish(publish))
    return {
        "now": iso(now),
        "state_dir": str(cfg.state_dir),
        "healthy": not reasons,
        "reasons": reasons,
        "daemon": {
            "state": daemon.state,
            "pid": daemon.pid,
            "last_heartbeat": iso(daemon.last_heartbeat) if daemon.last_heartbeat else None,
            "heartbeat_age": None if daemon.age is None else round(daemon.age, 1),
            "started": meta.get("daemon:started"),
            "stopped": meta.get("daemon:stopped"),
        },
        "jobs": jobs,
        "sources": report_sources,
        "publish": publish,
    }


def _ago(report: dict[str, Any], stamp: str | None) -> str:
    from crawler.health import human_seconds, parse_time

    then, now = parse_time(stamp), parse_time(report["now"])
    return f"{human_seconds((now - then).total_seconds())} ago" if then and now else "?"


def render_text(report: dict[str, Any]) -> str:
    lines = [f"state: {report['state_dir']}  (now {report['now']})"]
    d = report["daemon"]
    if d["state"] == "absent":
        lines.append("daemon: never started here (cron / timer mode)")
    else:
        detail = f"pid {d['pid']}, last heartbeat {_ago(report, d['last_heartbeat'])}"
        if d["state"] == "stopped":
            detail += f", stopped cleanly at {d['stopped']}"
        lines.append(f"daemon: {d['state']} ({detail})")
    for src in report["sources"]:
        last = src["last_run"]
        if last is None:
            lines.append(f"{src['source']}: never ran")
        else:
            st = last["stats"]
            counts = "; ".join(", ".join(f"{k} {st.get(k, 0)}" for k in keys) for keys in (WRITTEN, LISTED))
            lines.append(
                f"{src['source']}: last run #{last['id']} {last['outcome']}, started {last['started']}"
                f" ({_ago(report, last['started'])}), {counts}, {st.get('duration', 0)}s"
            )
        lines.append(f"    recent runs: {' '.join(src['recent_outcomes']) or '-'}")
        lines.append(
            f"    failures outstanding: {src['failures_outstanding']} ({src['failures_given_up']} given up)"
        )
        r = src["rechecks"]
        lines.append(
            f"    rechecks: {r['done_last_run']} done in the last run, {r['due']} due, {r['scheduled']} scheduled"
        )
        if src["next_run"]:
            lines.append(f"    next run: {src['next_run']}")
        if src["log"]:
            lines.append(f"    latest log: {src['log']}")
    for job_id, job in sorted(report["jobs"].items()):
        if job_id.startswith("crawl:"):
            continue
        state = (
            f"unavailable ({job['unavailable']})" if job.get("unavailable") else f"next {job.get('next_run')}"
        )
        last = f", last exit {job['last_exit']}" if job.get("last_exit") is not None else ""
        lines.append(f"{job_id}: {state}{last}")
    pub = report["publish"]
    if pub:
        outcome = "ok" if pub.get("exit") == 0 else f"FAILED (exit {pub.get('exit')})"
        lines.append(f"publish: last {outcome} at {pub.get('at')} ({pub.get('wrote')} posts)")
    lines.append(render_health(report))
    return "\n".join(lines)


def render_health(report: dict[str, Any]) -> str:
    if report["healthy"]:
        return f"healthy: {len(report['sources'])} sources, daemon {report['daemon']['state']}"
    return "UNHEALTHY:\n" + "\n".join(f"  - {reason}" for reason in report["reasons"])


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if not cfg.state_dir.is_dir():  # a wrong --config or working folder, not a store to create
        print(
            f"wiremirror status: no state folder at {cfg.state_dir}"
            " (no crawl has run with this configuration; wrong --config?)",
            file=sys.stderr,
        )
        return EXIT_UNHEALTHY
    report = collect(cfg, require_daemon=args.require_daemon)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif args.check:
        print(render_health(report))
    else:
        print(render_text(report))
    if args.check and not report["healthy"]:
        return EXIT_UNHEALTHY
    return EXIT_HEALTHY
