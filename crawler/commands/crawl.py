"""``wiremirror crawl [SOURCE...]``: one incremental crawl — what cron and the daemon run.

One source runs in this process, under its lock, logging to its own run file. Several sources
run as one child process each (a reactor per process), in parallel, and the worst exit code wins.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from crawler import sources as registry
from crawler.commands.common import UsageError, add_config_option, add_log_level_option, config_from_args
from crawler.config import Config

if TYPE_CHECKING:
    from crawler.runner import SourceResult

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # stopped by SIGTERM/SIGINT before the run finished (128 + SIGINT, as for ^C)
OUTCOME_EXIT = {"ok": EXIT_OK, "interrupted": EXIT_INTERRUPTED}  # anything else: EXIT_FAILED


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crawl",
        help="mirror what is new upstream (all enabled sources, or those named)",
        description=__doc__,
    )
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help=f"one of {', '.join(registry.names())}")
    parser.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a Scrapy setting for this run",
    )
    add_log_level_option(parser, "console log level (the run log keeps INFO)")
    add_config_option(parser)
    parser.set_defaults(func=run)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"wiremirror crawl: -s expects NAME=VALUE, got {pair!r}")
        overrides[name] = value
    return overrides


def choose_sources(config: Config, names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in registry.names()]
    if unknown:
        raise UsageError(
            f"wiremirror crawl: unknown source {unknown[0]!r} (known: {', '.join(registry.names())})"
        )
    return names or config.enabled_sources()


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    sources = choose_sources(config, args.sources)
    overrides = parse_overrides(args.set)
    if not sources:
        print("wiremirror crawl: no source is enabled in the configuration", file=sys.stderr)
        return EXIT_USAGE
    if len(sources) > 1:
        return _run_children(args, sources)
    return crawl_one(config, sources[0], {}, overrides, args.log_level)[0]


def crawl_one(
    config: Config, source: str, spider_args: dict[str, Any], overrides: dict[str, str], console_level: str
) -> tuple[int, SourceResult | None]:
    """Crawl one source in this process under its lock; print one summary line.

    Returns the exit code and the run's result (None when the lock was held).
    """
    from crawler.locks import EXIT_LOCKED, LockTimeout, crawl_lock_name, source_lock
    from crawler.logsetup import close_run_logging, configure_run_logging
    from crawler.publish import maybe_publish
    from crawler.runner import run_spiders
    from crawler.state import StateStore, first_store_error

    StateStore(config.db_path).close()  # a damaged or unusable store: one clear line, before any log

    # Until Scrapy installs its own handlers, a stop request (waiting for the lock, starting up) is
    # a KeyboardInterrupt, which the CLI turns into EXIT_INTERRUPTED rather than death by signal.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with source_lock(config.state_dir, crawl_lock_name(source), config.crawl.lock_timeout):
            log_path = configure_run_logging(config, source)
            try:
                (result,) = run_spiders(
                    config, [(source, spider_args)], overrides=overrides, console_level=console_level
                )
            finally:
                close_run_logging()
    except LockTimeout as err:
        print(f"wiremirror crawl: {err}", file=sys.stderr)
        return EXIT_LOCKED, None
    damage = first_store_error()  # Scrapy logged it and carried on; the run's outcome cannot stand
    if damage is not None:
        raise damage
    print(_describe(result.source, result.outcome, result.summary, str(log_path)))
    wrote = int(result.summary.get("new", 0)) + int(result.summary.get("updated", 0))
    code = OUTCOME_EXIT.get(result.outcome, EXIT_FAILED)
    if wrote:
        publish_code = maybe_publish(config, wrote)
        if publish_code and code == EXIT_OK:
            code = EXIT_FAILED
    return code, result


def _describe(source: str, outcome: str, summary: dict[str, Any], log_path: str) -> str:
    counts = " ".join(
        f"{k}={summary.get(k, 0)}" for k in ("new", "updated", "unchanged", "skipped", "failed")
    )
    line = (
        f"{source}: {outcome} {counts} requests={summary.get('requests', 0)} ({summary.get('duration', 0)}s)"
    )
    if outcome != "ok":
        line += f" — see {log_path}"
    return line


def _run_children(args: argparse.Namespace, sources: list[str]) -> int:
    from crawler.launch import wiremirror_command

    extra = [f"--set={pair}" for pair in args.set] + [f"--log-level={args.log_level}"]
    config_path = getattr(args, "config", None)
    children = [
        subprocess.Popen(wiremirror_command("crawl", source, *extra, config_path=config_path))
        for source in sources
    ]

    def forward(signum: int, _frame: object) -> None:
        # Each child stops gracefully on the first signal (Scrapy), forcefully on the second.
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max(codes, key=lambda c: (c != 0, c))
