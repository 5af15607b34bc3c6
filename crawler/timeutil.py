"""Beijing time: every upstream time is Asia/Shanghai without a zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

_NUMERIC = re.compile(
    r"(?P<y>\d{4})\s*[-/年.]\s*(?P<m>\d{1,2})\s*[-/月.]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[\sT]*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
)


def now_beijing() -> datetime:
    return datetime.now(BEIJING)


def parse_beijing(text: str) -> datetime | None:
    """Parse ``2022-04-08 17:57:45``, ``2022年04月08日 17:57`` and the like as Beijing time.

    Returns None for empty or unparseable text instead of guessing: a post with a wrong date
    is worse than a recorded failure.
    """
    match = _NUMERIC.search(text or "")
    if not match:
        return None
    try:
        return datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            int(match["S"] or 0),
            tzinfo=BEIJING,
        )
    except ValueError:
        return None


def to_beijing(value: datetime) -> datetime:
    """An aware datetime in Beijing time; naive values are taken to be Beijing time already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=BEIJING)
    return value.astimezone(BEIJING)


def beijing_date_str(value: datetime) -> str:
    return to_beijing(value).strftime("%Y-%m-%d")


def jekyll_date(value: datetime) -> str:
    """The seed's date format: ``2022-04-08 17:57:45 +0800``."""
    return to_beijing(value).strftime("%Y-%m-%d %H:%M:%S %z")


def iso(value: datetime) -> str:
    return to_beijing(value).isoformat(timespec="seconds")


def days_ago(days: int, *, now: datetime | None = None) -> datetime:
    return (now or now_beijing()) - timedelta(days=days)
