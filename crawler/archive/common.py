"""What the archive operations share: the crawl locks, the quarantine folder, the path → record map."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from crawler import sources
from crawler.locks import crawl_lock_name, source_lock
from crawler.timeutil import now_beijing

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.state import ArticleRecord, StateStore
    from pipelines.store import PostStore


@contextmanager
def archive_lock(config: Config, timeout: float | None = None) -> Iterator[None]:
    """Hold every source's crawl lock, so no crawl writes posts while files move or change."""
    wait = config.crawl.lock_timeout if timeout is None else timeout
    with ExitStack() as stack:
        for source in sources.names():
            stack.enter_context(source_lock(config.state_dir, crawl_lock_name(source), wait))
        yield


def quarantine_dir(config: Config) -> Path:
    """Where files taken out of the site go (nothing is deleted): one folder per run."""
    return config.state_dir / "quarantine" / now_beijing().strftime("%Y%m%d-%H%M%S")


def quarantine(store: PostStore, relpath: str, folder: Path) -> Path:
    """Move ``relpath`` out of the site into ``folder`` (same relative path; never overwrites)."""
    src = store.path_for(relpath)
    dst = folder / relpath
    dst.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while dst.exists():
        n += 1
        dst = dst.with_name(f"{Path(relpath).stem}.{n}{Path(relpath).suffix}")
    shutil.move(os.fspath(src), os.fspath(dst))
    return dst


def records_by_path(state: StateStore) -> dict[str, ArticleRecord]:
    """Every known article by its post path (one pass over the table)."""
    return {r.post_path: r for r in state.iter_articles() if r.post_path}
