"""Rotation: posts older than N Beijing calendar days move from ``_posts`` to the flat archive folder.

As the predecessor's ``old_post/``: same file name, bytes unchanged. Unlike it, the day is the
Beijing date (its runner used UTC), a post already archived is never overwritten, and the state
store follows the move, so a later crawl updates the archived file instead of re-creating it in
``_posts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from crawler.archive.common import records_by_path
from crawler.postformat import POST_NAME
from crawler.timeutil import now_beijing, to_beijing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from crawler.state import ArticleRecord, StateStore
    from pipelines.store import PostStore

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RotateResult:
    cutoff: date  # posts dated before this day were moved
    moved: list[str] = field(default_factory=list)  # archive relpaths
    kept: int = 0
    already_archived: list[str] = field(default_factory=list)  # identical copy was there; _posts copy dropped
    conflicts: list[str] = field(
        default_factory=list
    )  # a different file of that name is archived: left alone
    skipped: list[str] = field(default_factory=list)  # names without a date: verify reports them
    untracked: list[str] = field(default_factory=list)  # moved, but the state store did not know them


def cutoff_day(keep_days: int, now: datetime | None = None) -> date:
    """The oldest Beijing day kept: ``keep_days=3`` keeps today and the two days before."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    today = to_beijing(now or now_beijing()).date()
    return today - timedelta(days=keep_days - 1)


def rotate(
    store: PostStore,
    state: StateStore,
    *,
    keep_days: int,
    archive_dir: str,
    now: datetime | None = None,
    exempt: Iterable[str] = (),
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RotateResult:
    """Move every ``_posts`` file dated before the cutoff into ``archive_dir``; idempotent."""
    result = RotateResult(cutoff=cutoff_day(keep_days, now))
    posts = store.path_for("_posts")
    names = sorted(p.name for p in posts.iterdir() if p.is_file()) if posts.is_dir() else []
    by_path = records_by_path(state)
    skip = set(exempt)
    for name in names:
        if progress:
            progress(name)
        if name.startswith("."):
            continue
        match = POST_NAME.match(name)
        if match is None:
            result.skipped.append(f"_posts/{name}")
            continue
        try:
            day = date.fromisoformat(match["date"])
        except ValueError:
            result.skipped.append(f"_posts/{name}")
            continue
        if day >= result.cutoff or name in skip:
            result.kept += 1
            continue
        src, dst = f"_posts/{name}", f"{archive_dir}/{name}"
        existing = store.path_for(dst)
        if existing.exists():
            if existing.read_bytes() != store.path_for(src).read_bytes():
                logger.warning("not rotating %s: a different %s is already archived", src, dst)
                result.conflicts.append(src)
                continue
            # A half-finished earlier rotation, or a copy put there by hand: one copy is enough.
            if not dry_run:
                _repoint(state, by_path.get(src), dst)
                store.remove(src)
            result.already_archived.append(dst)
            continue
        if not dry_run:
            # State first: if we die between the two steps, the next rotation finishes the move;
            # the other order would leave the store pointing at a file that is gone.
            _repoint(state, by_path.get(src), dst)
            store.move(src, dst)
        if src not in by_path:
            result.untracked.append(dst)
        result.moved.append(dst)
    return result


def _repoint(state: StateStore, record: ArticleRecord | None, dst: str) -> None:
    if record is not None:
        state.set_post_path(record.key, dst)
