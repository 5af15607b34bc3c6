"""``wiremirror fetch URL...``: mirror the given articles now, whatever the state store says."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crawler.commands.common import add_config_option, config_from_args


def source_of(url: str) -> str | None:
    """Which source's spider handles ``url`` (each source knows its own article URLs)."""
    from crawler import sources

    found = sources.for_url(url)
    return found[0].name if found else None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("fetch", help="mirror the given article URLs now", description=__doc__)
    parser.add_argument("urls", nargs="+", metavar="URL")
    parser.add_argument("--log-level", default="WARNING", help="console log level")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from crawler.commands.crawl import EXIT_USAGE, crawl_one

    config = config_from_args(args)
    by_source: dict[str, list[str]] = {}
    for url in args.urls:
        source = source_of(url)
        if source is None:
            print(f"wiremirror fetch: not an article URL of a known source: {url}", file=sys.stderr)
            return EXIT_USAGE
        by_source.setdefault(source, []).append(url)
    if len(by_source) > 1:
        print("wiremirror fetch: give URLs of one source per call", file=sys.stderr)
        return EXIT_USAGE
    ((source, urls),) = by_source.items()
    return crawl_one(config, source, {"urls": "\n".join(urls)}, {}, args.log_level)
