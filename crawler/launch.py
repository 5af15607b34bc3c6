"""Starting wiremirror as a child process: the one place that knows its command line.

A Scrapy reactor cannot be restarted, so every crawl runs in a process of its own: the daemon's
jobs, each source of a multi-source ``crawl``, each day of a backfill.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

PROGRAM: tuple[str, ...] = (sys.executable, "-m", "crawler")


def wiremirror_command(
    *args: str, config_path: str | None = None, program: Sequence[str] = PROGRAM
) -> list[str]:
    """``python -m crawler [--config FILE] ARGS…`` (``--config`` first: every subcommand takes it there)."""
    argv = list(program)
    if config_path:
        argv += ["--config", config_path]
    return [*argv, *args]
