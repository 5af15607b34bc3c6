"""``wiremirror schedule``: the long-running daemon (APScheduler), or ``--list`` to see its plan.

Each run is ``wiremirror crawl <source>`` in a child process; see crawler/daemon.py for the rules
(no overlap, one catch-up run after downtime, graceful SIGTERM, heartbeat for ``status``).
"""

from __future__ import annotations

import argparse
from typing import Any

from crawler.commands.common import add_config_option, config_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="run the scheduling daemon (crawls and housekeeping on their timers)",
        description=__doc__,
    )
    parser.add_argument(
        "--list", action="store_true", help="print each job, its trigger, next run and command, then exit"
    )
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from crawler import daemon

    cfg = config_from_args(args)
    if args.list:
        return _print_plan(cfg)
    from crawler.logsetup import configure_daemon_logging

    configure_daemon_logging(cfg)
    return daemon.run_daemon(cfg)


def _print_plan(cfg: Any) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from crawler import daemon
    from crawler.state import StateStore
    from crawler.timeutil import iso

    last_runs = {}
    if cfg.db_path.exists():
        with StateStore(cfg.db_path) as store:
            last_runs = daemon.last_runs_from_store(cfg, store)
    now = datetime.now(ZoneInfo(cfg.schedule.timezone))
    for job in daemon.plan_jobs(cfg, last_runs, now):
        nxt = job.next_run(now)
        when = iso(nxt) if nxt else "never"
        if job.first_run is not None and job.first_run <= now:
            when += " (catch-up: at start)"
        print(f"{job.spec.id}\t{job.trigger}\tnext {when}\t{' '.join(daemon.job_command(cfg, job.spec))}")
    return 0
