"""``wiremirror init-site DIR``: write the Jekyll scaffold (config, layouts, home, 404, feed) into DIR.

Existing files that differ are kept unless ``--force``. Title, address and archive folder come
from the config (``[site]``, ``[output] archive_dir``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crawler.commands.common import add_config_option, config_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init-site", help="write the Jekyll site scaffold into DIR", description=__doc__
    )
    parser.add_argument("directory", type=Path, nargs="?", metavar="DIR", help="default: [output] dir")
    parser.add_argument("--force", action="store_true", help="overwrite scaffold files that differ")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from crawler.site import init_site

    config = config_from_args(args)
    target: Path = args.directory or config.output_dir
    result = init_site(
        target,
        force=args.force,
        title=config.site.title,
        url=config.site.url,
        archive_dir=config.output.archive_dir,
    )
    out = Console(highlight=False)
    for rel in result.written:
        out.print(f"wrote {target / rel}")
    for rel in result.kept:
        out.print(f"[yellow]kept[/] {target / rel} (differs from the scaffold; --force overwrites)")
    out.print(f"{len(result.written)} written, {len(result.unchanged)} unchanged, {len(result.kept)} kept")
    return 0
