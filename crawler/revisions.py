"""When a known article is fetched again: the recheck schedule, in one place.

An article is re-fetched at a few ages after it was first mirrored (``[revisions] recheck_after``),
not after its upstream date, which may be old. Each age gives at most one re-fetch, and a run
after downtime makes one recheck for every age it missed, not one per age.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from crawler.timeutil import iso, now_beijing


def next_recheck(first_seen: datetime, ages: Sequence[float], now: datetime) -> tuple[int, str]:
    """(ages already passed at ``now``, ISO time of the next one or "" when none is left)."""
    passed = sum(1 for age in ages if first_seen + timedelta(seconds=age) <= now)
    if passed >= len(ages):
        return passed, ""
    return passed, iso(first_seen + timedelta(seconds=ages[passed]))


def schedule_now(first_seen: str | None, ages: Sequence[float]) -> tuple[int, str]:
    """:func:`next_recheck` as of now for an article first mirrored at ``first_seen`` (ISO; None:
    mirrored just now) — what a recheck or a new article records."""
    now = now_beijing()
    return next_recheck(datetime.fromisoformat(first_seen) if first_seen else now, ages, now)
