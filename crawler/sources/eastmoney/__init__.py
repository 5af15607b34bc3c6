"""Eastmoney (东方财富): list APIs, the GetNewsText.do body API and article pages.

Ids are the 17–18 digit ``infoCode`` without its ``NW`` prefix. Posts of media items are named
``NW<id>``, Eastmoney's own rolling news the bare id, as the predecessor named them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.sources import Source
from crawler.sources.eastmoney.config import EastmoneyConfig
from crawler.sources.eastmoney.extract import parse_article_id, preclean_body

if TYPE_CHECKING:
    from crawler.items import ArticleItem

NAME = "eastmoney"
OWN_MEDIA = "东财滚动新闻"  # the category of Eastmoney's own rolling news (no media name)
_SLUG = re.compile(r"(?:NW)?(?P<id>[0-9]{17,20})", re.IGNORECASE | re.ASCII)


def post_slug(item: ArticleItem) -> str:
    return f"NW{item.article_id}" if item.media and item.media != OWN_MEDIA else item.article_id


def slug_id(slug: str) -> str | None:
    found = _SLUG.fullmatch(slug)
    return found["id"] if found else None


SOURCE = Source(
    name=NAME,
    spider="crawler.sources.eastmoney.spider:EastmoneySpider",
    config=EastmoneyConfig,
    id_pattern=re.compile(r"[0-9]+", re.ASCII),
    post_slug=post_slug,
    slug_id=slug_id,
    url_id=parse_article_id,
    preclean=preclean_body,
    rank=1,  # a syndicated copy: the wire service's own page wins
    default_media=OWN_MEDIA,
)
