"""Helpers shared by the subcommands: the global --config, and adding it after the subcommand too."""

from __future__ import annotations

import argparse
from typing import Any

from crawler.config import Config, load_config


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Accept ``--config`` after the subcommand as well (``wiremirror crawl --config F``)."""
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="wiremirror.toml to use")


def config_from_args(args: Any) -> Config:
    return load_config(getattr(args, "config", None))
