"""Source-neutral story matching: the same story reached through two sources gets one key."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from crawler.timeutil import to_beijing

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_title(title: str) -> str:
    """NFKC, no whitespace or punctuation: “疫” and "疫", full- and half-width forms compare equal."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", title)).lower()


def match_key(title: str, published: datetime | None) -> str:
    """Normalised title + publish minute in Beijing time; "" when either is missing."""
    norm = normalise_title(title)
    if not norm or published is None:
        return ""
    return f"{norm}|{to_beijing(published):%Y-%m-%d %H:%M}"
