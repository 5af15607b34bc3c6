"""``wiremirror``: the command line. Each subcommand lives in crawler/commands/<name>.py.

Heavy libraries are imported inside the commands, so ``wiremirror status`` and ``--help`` start
in a fraction of a second whatever the size of the archive.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from crawler.commands.common import UsageError
from crawler.config import ConfigError
from crawler.state import StateStoreError

COMMANDS = ("crawl", "fetch", "status", "schedule", "backfill", "archive", "init_site", "site", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wiremirror",
        description="Mirror wire-service news (中国新闻网, Eastmoney) into Jekyll posts, incrementally.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="wiremirror.toml to use (default: $WIREMIRROR_CONFIG, ./wiremirror.toml)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"crawler.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"crawler.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, not at exit: a closed pipe is caught below, not a traceback
        return code
    except BrokenPipeError:
        # the reader went away (``wiremirror status | head -1``): stop quietly, as `cat` would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except ConfigError as err:
        print(f"wiremirror: configuration error: {err}", file=sys.stderr)
        return 2
    except StateStoreError as err:
        print(f"wiremirror: {err}", file=sys.stderr)
        return err.exit_code
    except UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from crawler.commands.crawl import EXIT_INTERRUPTED

        print("wiremirror: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
