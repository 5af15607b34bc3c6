"""A toy wire service, defined entirely in the test folder: the proof that a source is one package.

Its ids have letters (``ab1234``), its posts are named ``toy<id>``, it has its own config section,
spider, extractor and pre-pass, and it is registered in one place — an entry point of the
``wiremirror.sources`` group (tests/test_third_source.py writes it) — without any production file
knowing it exists.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.sources import Source
from crawler.sources.common import CleanedBody
from tests.toywire.config import ToyConfig

if TYPE_CHECKING:
    from crawler.items import ArticleItem

NAME = "toywire"
_ID = re.compile(r"[a-z]{2}[0-9]{4}", re.ASCII)
_BYLINE = re.compile(r"<p>记者：(?P<name>[^<]+)</p>")
_URL = re.compile(r"https?://[^/]+/a/(?P<id>[a-z]{2}[0-9]{4})\.html", re.ASCII)


def post_slug(item: ArticleItem) -> str:
    return f"toy{item.article_id}"


def slug_id(slug: str) -> str | None:
    return slug[3:] if slug.startswith("toy") and _ID.fullmatch(slug[3:]) else None


def url_id(url: str) -> str | None:
    found = _URL.fullmatch(url)
    return found["id"] if found else None


def preclean(html: str, *, base_url: str) -> CleanedBody:
    """The service signs its articles with a last paragraph "记者：…": that goes to front matter."""
    found = _BYLINE.search(html)
    if found is None:
        return CleanedBody(html=html)
    return CleanedBody(html=html[: found.start()] + html[found.end() :], author=found["name"].strip())


SOURCE = Source(
    name=NAME,
    spider="tests.toywire.spider:ToySpider",
    config=ToyConfig,
    id_pattern=_ID,
    post_slug=post_slug,
    slug_id=slug_id,
    url_id=url_id,
    preclean=preclean,
    rank=0,  # the wire itself: preferred over a syndicated copy
    default_media="玩具通讯社",
)
