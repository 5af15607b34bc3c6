"""``wiremirror site build [--builder jekyll|hugo]``: build the reader's site (pages, archives, search).

Jekyll (the default, what GitHub Pages runs) suits a site of a few thousand posts; Hugo builds the
same posts at the same URLs in a fraction of the time and is the one for large archives (see the
README's "The site and archive maintenance"). The builder comes from ``--builder``, else
``[site] builder`` in the config.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crawler.commands.common import add_config_option, config_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("site", help="build the site (Jekyll or Hugo) and its search index")
    actions = parser.add_subparsers(dest="site_command", metavar="ACTION")
    actions.required = True
    build = actions.add_parser(
        "build", help="build DIR (default: [output] dir) into DIR/_site", description=__doc__
    )
    build.add_argument("directory", type=Path, nargs="?", metavar="DIR", help="default: [output] dir")
    build.add_argument("--builder", choices=("jekyll", "hugo"), help="default: [site] builder (jekyll)")
    build.add_argument("--dest", type=Path, help="where the built site goes (default: DIR/_site)")
    build.add_argument("--no-search", action="store_true", help="skip the Pagefind search index")
    build.add_argument(
        "--full", action="store_true", help="Hugo: rebuild every period, not only changed ones"
    )
    build.add_argument("--json", action="store_true", help="print the build report as JSON")
    build.add_argument(
        "--base-url", default="", help="address the Hugo build links to (default: _config.yml url)"
    )
    add_config_option(build)
    build.set_defaults(func=run_build)
    pages = actions.add_parser(
        "pages",
        help="only write the date-archive pages and their data (for a host that runs Jekyll itself)",
        description="Write archive/, category/<slug>/YYYY-MM.html and _data/ into DIR without building: "
        "what GitHub Pages needs to build the same site from the folder.",
    )
    pages.add_argument("directory", type=Path, nargs="?", metavar="DIR", help="default: [output] dir")
    add_config_option(pages)
    pages.set_defaults(func=run_pages)


def run_build(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import sys

    from crawler.sitebuild import SiteBuildError, build_site

    config = config_from_args(args)
    site: Path = args.directory or config.output_dir
    builder = args.builder or config.site.builder
    try:
        report = build_site(
            site,
            builder=builder,
            dest=args.dest,
            archive_dir=config.output.archive_dir,
            search=not args.no_search,
            base_url=args.base_url,
            full=args.full,
        )
    except SiteBuildError as err:
        print(f"wiremirror: site build failed: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(dataclasses.asdict(report), ensure_ascii=False))
        return 0
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
    periods = f", {len(report.shards_built)} periods rebuilt" if report.builder == "hugo" else ""
    print(
        f"built {report.posts} posts with {report.builder} into {report.dest} "
        f"({report.archive_pages_written} archive pages written{periods}; {phases}; "
        f"peak {report.peak_rss_mb:.0f} MB)"
    )
    return 0


def run_pages(args: argparse.Namespace) -> int:
    from crawler.sitebuild import WORK_DIR, scan_posts, write_archive_pages

    config = config_from_args(args)
    site: Path = args.directory or config.output_dir
    entries = scan_posts(site, config.output.archive_dir, site / WORK_DIR / "scan.json")
    _, written = write_archive_pages(site, entries)
    print(f"{len(entries)} posts; {written} archive pages and data files written or removed in {site}")
    return 0
