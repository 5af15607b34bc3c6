"""``archive stats``: posts per source, category and Beijing day, the gaps, and failures outstanding.

Read from the state store (one query, fast on a large archive): after ``archive verify`` it
agrees with the files.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from crawler import sources
from crawler.timeutil import BEIJING, now_beijing

if TYPE_CHECKING:
    from crawler.state import StateStore


@dataclass(slots=True)
class ArchiveStats:
    total: int = 0
    live: int = 0  # in _posts
    archived: int = 0  # in the archive folder
    per_source: Counter[str] = field(default_factory=Counter)
    per_category: Counter[str] = field(default_factory=Counter)
    per_day: Counter[str] = field(default_factory=Counter)
    per_source_day: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    gaps: list[tuple[str, str, int]] = field(
        default_factory=list
    )  # (first day, last day, days) without posts
    source_gaps: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)  # outstanding, per source
    failures_given_up: Counter[str] = field(default_factory=Counter)  # attempts used up
    revised: Counter[str] = field(default_factory=Counter)  # corrected upstream at least once
    retracted: Counter[str] = field(default_factory=Counter)  # withdrawn upstream, kept and marked
    first_day: str = ""
    last_day: str = ""


def gap_ranges(days: set[str], start: date, end: date) -> list[tuple[str, str, int]]:
    """Runs of days in [start, end] that are not in ``days``."""
    gaps: list[tuple[str, str, int]] = []
    run_start: date | None = None
    day = start
    while day <= end:
        if day.isoformat() not in days:
            run_start = run_start or day
        elif run_start is not None:
            gaps.append(
                (run_start.isoformat(), (day - timedelta(days=1)).isoformat(), (day - run_start).days)
            )
            run_start = None
        day += timedelta(days=1)
    if run_start is not None:
        gaps.append((run_start.isoformat(), end.isoformat(), (end - run_start).days + 1))
    return gaps


def collect_stats(
    state: StateStore,
    *,
    archive_dir: str,
    since: date | None = None,
    max_attempts: int = 8,
    today: date | None = None,
) -> ArchiveStats:
    stats = ArchiveStats()
    slug_of = {media: slug for slug, media, _ in state.categories()}
    for record in state.iter_articles():
        if not record.published:
            continue
        day = datetime.fromisoformat(record.published).astimezone(BEIJING).date()
        if since and day < since:
            continue
        stats.total += 1
        if record.post_path.startswith(f"{archive_dir}/"):
            stats.archived += 1
        elif record.post_path.startswith("_posts/"):
            stats.live += 1
        stats.per_source[record.source] += 1
        stats.revised[record.source] += record.revision > 1
        stats.retracted[record.source] += bool(record.retracted)
        media = record.media or (
            sources.get(record.source).default_media if record.source in sources.names() else ""
        )
        stats.per_category[slug_of.get(media, media or "?")] += 1
        stats.per_day[day.isoformat()] += 1
        stats.per_source_day[record.source][day.isoformat()] += 1
    end = today or now_beijing().date()
    if stats.per_day:
        stats.first_day, stats.last_day = min(stats.per_day), max(stats.per_day)
        start = since or date.fromisoformat(stats.first_day)
        stats.gaps = gap_ranges(set(stats.per_day), start, end)
        for source, days in stats.per_source_day.items():
            first = since or date.fromisoformat(min(days))
            stats.source_gaps[source] = gap_ranges(set(days), first, end)
    for failure in state.failures():
        if failure.attempts >= max_attempts:
            stats.failures_given_up[failure.source] += 1
        else:
            stats.failures[failure.source] += 1
    return stats
