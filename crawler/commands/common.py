"""Helpers shared by the subcommands: --config (also after the subcommand), --log-level, usage errors."""

from __future__ import annotations

import argparse
from typing import Any

from crawler.config import Config, load_config, log_level


class UsageError(Exception):
    """A command line the command cannot act on; the CLI prints it and exits 2, like argparse."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Accept ``--config`` after the subcommand as well (``wiremirror crawl --config F``)."""
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="wiremirror.toml to use")


def config_from_args(args: Any) -> Config:
    return load_config(getattr(args, "config", None))


def add_log_level_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--log-level``: the console level, checked when parsed (an unknown name is a usage error)."""
    parser.add_argument("--log-level", default="WARNING", type=_log_level_arg, metavar="LEVEL", help=help)


def _log_level_arg(value: str) -> str:
    try:
        return log_level(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
