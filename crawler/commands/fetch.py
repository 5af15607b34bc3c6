"""``wiremirror fetch URL...``: mirror the given articles now, whatever the state store says."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crawler.commands.common import add_config_option, add_log_level_option, config_from_args
from crawler.config import Config


def key_of(url: str) -> str | None:
    """The state key of the article at ``url`` (each source knows its own article URLs)."""
    from crawler import sources

    found = sources.for_url(url)
    return found[0].key(found[1]) if found else None


def source_of(url: str) -> str | None:
    """Which spider handles ``url``."""
    key = key_of(url)
    return key.partition(":")[0] if key else None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("fetch", help="mirror the given article URLs now", description=__doc__)
    parser.add_argument("urls", nargs="+", metavar="URL")
    add_log_level_option(parser, "console log level")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from crawler.commands.crawl import EXIT_FAILED, EXIT_OK, EXIT_USAGE, crawl_one

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
    code, result = crawl_one(config, source, {"urls": "\n".join(urls)}, {}, args.log_level)
    if result is None or code != EXIT_OK:
        return code
    return EXIT_OK if all_mirrored(config, urls, result.summary) else EXIT_FAILED


def all_mirrored(config: Config, urls: list[str], summary: dict[str, Any]) -> bool:
    """A fetch that wrote (or confirmed) fewer posts than asked for is a failure: say which and why."""
    from crawler.state import StateStore

    if sum(int(summary.get(k, 0)) for k in ("new", "updated", "unchanged")) >= len(urls):
        return True
    skipped = "no post written (a duplicate of a mirrored story, or not an article; see the run log)"
    lines = []
    with StateStore(config.db_path) as store:
        keys = {url: key_of(url) or url for url in urls}
        sources = {key.partition(":")[0] for key in keys.values()}
        failures = {f.key: f for source in sources for f in store.failures(source)}  # read once, not per URL
        for url, key in keys.items():
            failure = failures.get(key)
            if failure is not None or not store.is_known(key):
                lines.append(f"not mirrored: {key} ({url}): {failure.error if failure else skipped}")
    for line in lines or [f"{len(urls)} URLs asked for, fewer posts written or confirmed: {skipped}"]:
        print(f"wiremirror fetch: {line}", file=sys.stderr)
    return False
