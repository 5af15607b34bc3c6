"""``[sources.chinanews]``: the 中国新闻网 source's own configuration keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from crawler.config import SourceConfig, url


@dataclass(slots=True)
class ChinanewsConfig(SourceConfig):
    base_url: str = url("https://www.chinanews.com.cn", "site")
    scroll_enabled: bool = True
    scroll_pages: int = 10
    # RSS repeats the first scroll page; off by default so a no-change run costs one request
    rss_enabled: bool = False
    rss_feeds: list[str] = field(default_factory=lambda: ["scroll-news"])
    day_archive_enabled: bool = True
    # today's and yesterday's day archives are read at most this often (seconds), and always on the
    # first run after a longer pause: the catch-up after downtime without a cost on every run
    day_archive_interval: float = 3600.0
    channels: list[str] = field(default_factory=list)  # empty: every channel
    skip_video: bool = True
    skip_photo: bool = True

    def can_backfill(self) -> bool:
        return self.day_archive_enabled
