"""中国新闻网 (www.chinanews.com.cn): scroll lists, RSS, day archives and article pages.

Ids are the article number of the URL; videos and photo galleries have their own number spaces
and get a ``v``/``p`` prefix. Posts are named ``cns<id>``, so a 7–8 digit id can never collide
with an Eastmoney one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.sources import Source
from crawler.sources.chinanews.config import ChinanewsConfig
from crawler.sources.chinanews.preclean import preclean_body
from crawler.sources.chinanews.urls import MEDIA, article_id_from_url
from crawler.sources.chinanews.urls import SOURCE as NAME

if TYPE_CHECKING:
    from crawler.items import ArticleItem

_SLUG = re.compile(r"cns(?P<id>[vp]?[0-9]{5,12})", re.ASCII)


def post_slug(item: ArticleItem) -> str:
    return f"cns{item.article_id}"


def slug_id(slug: str) -> str | None:
    found = _SLUG.fullmatch(slug)
    return found["id"] if found else None


SOURCE = Source(
    name=NAME,
    spider="crawler.sources.chinanews.spider:ChinanewsSpider",
    config=ChinanewsConfig,
    id_pattern=re.compile(r"[vp]?[0-9]+", re.ASCII),
    post_slug=post_slug,
    slug_id=slug_id,
    url_id=article_id_from_url,
    preclean=preclean_body,
    rank=0,  # the wire service itself
    default_media=MEDIA,
    backfill=True,  # day archives back to 2004
)
