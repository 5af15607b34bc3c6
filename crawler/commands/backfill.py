"""``wiremirror backfill [SOURCE...] --since DATE [--until DATE]``: mirror old days from the day archive.

A source that can backfill (``Source.backfill`` in crawler.sources: its spider reads given days
through its ``archive_days`` argument) is walked day by day; without SOURCE, every enabled one is.

Walks ``scroll-news/YYYY/MMDD/news.shtml`` newest day first. Each day is one ``wiremirror crawl``-
like child process (a Scrapy reactor cannot be restarted), run under the source's crawl lock so a
scheduled crawl and the backfill never overlap. A finished day is recorded in the state store's
meta table (``backfill:chinanews:day:<date>``), so a stopped backfill — Ctrl-C, kill, ``--max-days``
— continues where it stopped, and known articles are never fetched again anyway. Today and
yesterday are read but never marked finished: their archives are still growing.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from crawler.commands.common import add_config_option, add_log_level_option, config_from_args
from crawler.commands.crawl import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, OUTCOME_EXIT
from crawler.config import Config

COUNTS = ("listed", "new", "updated", "unchanged", "skipped", "failed", "requests")
RESULT_PREFIX = "backfill-day: "


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="mirror past days of the sources that keep day archives (resumable)",
        description=__doc__,
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",  # no choices=: argparse refuses an empty list against them (3.11)
        help=f"the sources to backfill, of {', '.join(backfill_sources())} (default: every enabled one)",
    )
    parser.add_argument("--since", type=_day, help="oldest day to mirror (YYYY-MM-DD)")
    parser.add_argument("--until", type=_day, help="newest day to mirror (default: today, Beijing time)")
    parser.add_argument(
        "--max-days", type=int, default=0, metavar="N", help="stop after N days (0: no limit)"
    )
    parser.add_argument("--redo", action="store_true", help="read days already finished again")
    add_log_level_option(parser, "console log level of each day's crawl")
    parser.add_argument("--day", type=_day, help=argparse.SUPPRESS)  # internal: one day, in this process
    add_config_option(parser)
    parser.set_defaults(func=run)


def backfill_sources() -> list[str]:
    from crawler import sources

    return [source.name for source in sources.registry().values() if source.backfill]


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def day_key(source: str, day: date) -> str:
    return f"backfill:{source}:day:{day.isoformat()}"


def cursor_key(source: str) -> str:
    return f"backfill:{source}:cursor"


def days_between(since: date, until: date) -> list[date]:
    """Newest first, both ends included."""
    return [until - timedelta(days=n) for n in range((until - since).days + 1)]


def is_settled(day: date, today: date) -> bool:
    """A day archive no longer grows once the day after it is over."""
    return day < today - timedelta(days=1)


@dataclass(slots=True)
class DayResult:
    day: date
    outcome: str  # ok, failed, locked, interrupted, done-before
    summary: dict[str, Any] = field(default_factory=dict)


# -- one day (child process) -------------------------------------------------------------------


def run_day(config: Config, source: str, day: date, console_level: str) -> int:
    """Crawl one day archive in this process; print one machine-readable result line."""
    from crawler.locks import EXIT_LOCKED, LockTimeout, crawl_lock_name, source_lock
    from crawler.logsetup import close_run_logging, configure_run_logging
    from crawler.runner import run_spiders
    from crawler.state import StateStore
    from crawler.timeutil import now_beijing

    try:
        with source_lock(config.state_dir, crawl_lock_name(source), config.crawl.lock_timeout):
            configure_run_logging(config, source)
            try:
                (result,) = run_spiders(
                    config, [(source, {"archive_days": day.isoformat()})], console_level=console_level
                )
            finally:
                close_run_logging()
    except LockTimeout as err:
        print(f"wiremirror backfill: {err}", file=sys.stderr)
        _emit(DayResult(day, "locked"))
        return EXIT_LOCKED
    if result.outcome == "ok" and is_settled(day, now_beijing().date()):
        with StateStore(config.db_path) as state:
            state.set_meta(day_key(source, day), json.dumps(result.summary, ensure_ascii=False))
            state.set_meta(cursor_key(source), day.isoformat())
    _emit(DayResult(day, result.outcome, result.summary))
    return OUTCOME_EXIT.get(result.outcome, EXIT_FAILED)


def _emit(result: DayResult) -> None:
    payload = {"day": result.day.isoformat(), "outcome": result.outcome, "summary": result.summary}
    print(RESULT_PREFIX + json.dumps(payload, ensure_ascii=False), flush=True)


def _parse_result(day: date, stdout: str, code: int) -> DayResult:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line[len(RESULT_PREFIX) :])
            return DayResult(day, str(data["outcome"]), dict(data["summary"]))
    return DayResult(day, "interrupted" if code < 0 or code == EXIT_INTERRUPTED else "failed")


# -- the walk (parent process) -----------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM: stop after cleaning up, like Ctrl-C."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.day is not None:
        if len(args.sources) != 1:
            print("wiremirror backfill: --day needs one SOURCE", file=sys.stderr)
            return EXIT_USAGE
        return run_day(config, args.sources[0], args.day, args.log_level)
    from crawler.timeutil import now_beijing

    today = now_beijing().date()
    until = args.until or today
    if args.since is None:
        print("wiremirror backfill: --since is required (e.g. --since 2022-01-01)", file=sys.stderr)
        return EXIT_USAGE
    if args.since > until:
        print(f"wiremirror backfill: --since {args.since} is after --until {until}", file=sys.stderr)
        return EXIT_USAGE
    if args.max_days < 0:
        print("wiremirror backfill: --max-days must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    if unknown := [n for n in args.sources if n not in backfill_sources()]:
        print(
            f"wiremirror backfill: {unknown[0]!r} cannot be backfilled (can: {', '.join(backfill_sources())})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    for name in args.sources:
        if not config.sources[name].enabled:
            print(f"wiremirror backfill: source {name} is disabled in the configuration", file=sys.stderr)
            return EXIT_USAGE
    names = args.sources or [
        n for n in backfill_sources() if config.sources[n].enabled and config.sources[n].can_backfill()
    ]
    if not names:
        print("wiremirror backfill: no enabled source can backfill", file=sys.stderr)
        return EXIT_USAGE
    days = days_between(args.since, min(until, today))
    return max(walk(config, args, name, days) for name in names)


def _child_command(args: argparse.Namespace, source: str, day: date) -> list[str]:
    from crawler.launch import wiremirror_command

    return wiremirror_command(
        "backfill", source, "--day", day.isoformat(), "--log-level", args.log_level,
        config_path=getattr(args, "config", None),
    )  # fmt: skip


def walk(config: Config, args: argparse.Namespace, source: str, days: list[date]) -> int:
    """Run the days newest first with a progress bar; print a summary table; return the exit code."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from crawler.state import StateStore

    console = Console(stderr=True)
    with StateStore(config.db_path) as state:
        done_before = set() if args.redo else {d for d in days if state.get_meta(day_key(source, d))}
    todo = [d for d in days if d not in done_before]
    if args.max_days:
        todo = todo[: args.max_days]
    if done_before:
        console.print(f"backfill {source}: {len(done_before)} of {len(days)} days already done, resuming")
    results: list[DayResult] = []
    interrupted = False
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    child: subprocess.Popen[str] | None = None
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("new {task.fields[new]}  failed {task.fields[failed]}"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"{source}", total=len(todo), new=0, failed=0)
            for index, day in enumerate(todo):
                if index and config.crawl.download_delay:
                    time.sleep(config.crawl.download_delay)  # the pause between requests holds between days
                progress.update(task, description=f"{source} {day.isoformat()}")
                # its own session: a terminal Ctrl-C reaches only us, and we stop the child once
                child = subprocess.Popen(
                    _child_command(args, source, day),
                    stdout=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                stdout, _ = child.communicate()
                results.append(_parse_result(day, stdout, child.returncode))
                child = None
                progress.update(
                    task,
                    advance=1,
                    new=sum(int(r.summary.get("new", 0)) for r in results),
                    failed=sum(1 for r in results if r.outcome != "ok"),
                )
    except (KeyboardInterrupt, _Stop):
        interrupted = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGINT)  # Scrapy shuts down cleanly on SIGINT
            try:
                child.wait(timeout=config.schedule.shutdown_grace)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_summary(Console(), source, days, done_before, results, interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.outcome == "ok" for r in results) else EXIT_FAILED


def _print_summary(
    console: Any,
    source: str,
    days: list[date],
    done_before: set[date],
    results: list[DayResult],
    interrupted: bool,
) -> None:
    from rich.table import Table

    table = Table(title=f"backfill {source}: {days[-1]} … {days[0]}" if days else f"backfill {source}")
    table.add_column("days", justify="right")
    for name in COUNTS:
        table.add_column(name, justify="right")
    totals = {name: sum(int(r.summary.get(name, 0)) for r in results) for name in COUNTS}
    table.add_row(str(len(results)), *(str(totals[name]) for name in COUNTS))
    console.print(table)
    failed = [r for r in results if r.outcome != "ok"]
    remaining = len(days) - len(done_before) - (len(results) - len(failed))
    console.print(
        f"backfill {source}: {len(results)} days read this time, {len(done_before)} done before, "
        f"{len(failed)} failed, {remaining} to go"
    )
    for result in failed:
        console.print(f"  {result.day}: {result.outcome}")
    if interrupted:
        console.print(f"backfill {source}: stopped; run the same command again to continue")
