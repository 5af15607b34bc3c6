"""ChallengeMiddleware: a 403, a WAF answer or an anti-bot challenge page is a failure, never a post.

Upstream bans clients by IP (docs/upstream-eastmoney.md §4) and the 中国新闻网 mobile host sits
behind a JavaScript cookie challenge (upstream-chinanews.md §6.13). Such answers come as 403/412/521
or as a small 200 page whose title asks for a captcha or whose only content is a script setting a
cookie. They become :class:`BlockedByUpstream` (the request's errback records the article for a
later run) with one clear log line. Retrying a block at once only lengthens a ban, so blocks are
not retried in the run, and after ``BLOCKS_BEFORE_PAUSE`` blocks from one host the rest of the
run sends it nothing more: those articles are recorded as failures and retried later, with backoff.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

BLOCK_STATUSES = frozenset({403, 412, 521})  # forbidden, WAF precondition, jsluid cookie challenge
BLOCKS_BEFORE_PAUSE = 3
MAX_CHALLENGE_BYTES = 32 * 1024  # challenge pages are small; article pages are not looked at
MAX_CHALLENGE_TEXT = 400  # characters of visible text (scripts and tags left out)
TITLE_MARKERS = (
    "captcha", "just a moment", "attention required", "access denied", "forbidden", "verify you are human",
    "验证码", "安全验证", "人机验证", "滑动验证", "访问验证", "访问过于频繁", "请求过于频繁", "访问受限", "禁止访问",
    "拒绝访问", "安全检查", "防火墙",
)  # fmt: skip
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPT = re.compile(rb"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(rb"<[^>]+>")


class BlockedByUpstream(IgnoreRequest):
    """The upstream refused us (ban, WAF, challenge page): retry in a later run, not now."""


def challenge_reason(status: int, content_type: str, body: bytes) -> str | None:
    """Why this response is a block or a challenge rather than content; None when it is content."""
    if status in BLOCK_STATUSES:
        return f"HTTP {status}: blocked by the upstream or an anti-bot challenge"
    if status != 200 or "html" not in content_type.lower() or len(body) > MAX_CHALLENGE_BYTES:
        return None
    # An article about captchas has a body; a challenge page has next to no visible text.
    visible = len(b" ".join(_TAG.sub(b" ", _SCRIPT.sub(b" ", body)).split()).decode("utf-8", "replace"))
    if visible > MAX_CHALLENGE_TEXT:
        return None
    title_match = _TITLE.search(body)
    title = title_match.group(1).decode("utf-8", "replace").strip().lower() if title_match else ""
    if any(marker in title for marker in TITLE_MARKERS):
        return f"anti-bot challenge page (title {title[:80]!r})"
    lowered = body.lower()
    if b"document.cookie" in lowered or b"location.reload" in lowered:
        return "anti-bot challenge page (a script that sets a cookie and reloads)"
    return None


class ChallengeMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.blocks: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _count(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)

    def process_request(self, request: Request) -> None:
        host = urlsplit(request.url).netloc
        if self.blocks[host] >= BLOCKS_BEFORE_PAUSE and not request.meta.get("dont_obey_robotstxt"):
            self._count("wiremirror/blocked_skipped")
            raise BlockedByUpstream(
                f"not sent: {host} blocked {self.blocks[host]} requests earlier in this run"
            )

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get("dont_obey_robotstxt"):  # robots.txt itself: RobotsTxtMiddleware decides
            return response
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        reason = challenge_reason(response.status, content_type, response.body)
        if reason is None:
            return response
        host = urlsplit(request.url).netloc
        self.blocks[host] += 1
        self._count("wiremirror/blocked")
        logger.error("blocked by upstream: %s: %s", request.url, reason)
        if self.blocks[host] == BLOCKS_BEFORE_PAUSE:
            logger.error(
                "%s blocked %d requests: sending it nothing more in this run (the rest is retried later)",
                host,
                BLOCKS_BEFORE_PAUSE,
            )
        raise BlockedByUpstream(reason)
