"""``[sources.eastmoney]``: the Eastmoney source's own configuration keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from crawler.config import AT_LEAST_ONE, SourceConfig, limited, url


@dataclass(slots=True)
class EastmoneyConfig(SourceConfig):
    # column list API (getNewsByColumns), paged
    columns_enabled: bool = True
    list_url: str = url("https://np-listapi.eastmoney.com/comm/web/getNewsByColumns")
    columns: list[str] = field(default_factory=lambda: ["344", "345", "350", "351", "353"])
    page_size: int = limited(50, AT_LEAST_ONE)
    max_pages: int = limited(5, AT_LEAST_ONE)
    # 7×24 fast news (getFastNewsList), sortEnd cursor
    fast_enabled: bool = False  # off by default: flash news are short items without media or body
    fast_list_url: str = url("https://np-weblist.eastmoney.com/comm/web/getFastNewsList")
    fast_column: str = "102"
    fast_max_pages: int = limited(3, AT_LEAST_ONE)
    # the predecessor's feeds (type=102 records, type=45 nodeList, marketType record): full URLs
    legacy_urls: list[str] = field(default_factory=list, metadata={"url": "plain"})
    # body and link endpoints; {id} is the infoCode (NW…) or the bare id as the URL expects
    text_url: str = url("http://choicewzp1.eastmoney.com/NewsData/GetNewsText.do?id={id}", "template")
    share_url: str = url("http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode={id}", "template")
    article_url: str = url("https://finance.eastmoney.com/a/{id}.html", "template")
    media_allow: list[str] = field(default_factory=list)  # empty: every media
    media_deny: list[str] = field(default_factory=list)
