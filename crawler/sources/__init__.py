"""The source registry: everything wiremirror knows about an upstream, one ``Source`` per upstream.

A source is a package (``crawler/sources/<name>/``) whose ``SOURCE`` says what the rest of the
program needs of it: its spider, its id format, its file-name rule, its body pre-pass, how a URL
names one of its articles, its rank when two sources carry the same story. Commands, pipelines,
the archive tools and the daemon ask the registry and never name a source themselves.

Built-in sources are listed in ``BUILTIN``; others register through the ``wiremirror.sources``
entry-point group (``name = "package.module:SOURCE"``), so adding one edits no file here.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.items import ArticleItem
    from crawler.sources.common import CleanedBody

BUILTIN = ("crawler.sources.eastmoney:SOURCE", "crawler.sources.chinanews:SOURCE")
ENTRY_POINT_GROUP = "wiremirror.sources"
# Whatever a source's own id rule says, an id becomes part of a file name and a state key: ASCII
# letters and digits only, so it can never traverse, collide through case folding tricks or hold
# another script's digits.
SAFE_ID = re.compile(r"[A-Za-z0-9]{1,40}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Source:
    """One upstream, as the rest of wiremirror sees it."""

    name: str  # also the spider's name, the state-key prefix and the captures folder
    spider: str  # "module:Class" of its Scrapy spider
    config: type[Any]  # its ``[sources.<name>]`` section: a dataclass extending config.SourceConfig
    id_pattern: re.Pattern[str]  # a valid article id of this source (full match)
    post_slug: Callable[[ArticleItem], str]  # the id part of the post's file name
    slug_id: Callable[[str], str | None]  # a file name's id part → article id (None: not ours)
    url_id: Callable[[str], str | None]  # an article URL of this source → its id (for ``fetch``)
    preclean: Callable[..., CleanedBody]  # site pre-pass: (html, *, base_url) → CleanedBody
    rank: int = 100  # a story carried by two sources is kept from the lower rank
    default_media: str = ""  # the category of an item without a media name
    backfill: bool = False  # it can mirror past days (``wiremirror backfill``)

    def valid_id(self, article_id: str) -> bool:
        return bool(SAFE_ID.fullmatch(article_id) and self.id_pattern.fullmatch(article_id))

    def key(self, article_id: str) -> str:
        """The state-store key: unique across sources."""
        return f"{self.name}:{article_id}"

    def spider_class(self) -> type[Any]:
        """The spider class itself (``archive rebuild`` drives its callbacks without a crawl)."""
        module, _, attr = self.spider.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def _load(target: str) -> Source:
    module, _, attr = target.partition(":")
    found = getattr(importlib.import_module(module), attr or "SOURCE")
    if not isinstance(found, Source):
        raise TypeError(f"{target} is not a crawler.sources.Source")
    return found


@cache
def registry() -> dict[str, Source]:
    """Every registered source by name: built-ins, then entry points (a name is taken once)."""
    found: dict[str, Source] = {}
    targets = [*BUILTIN, *(ep.value for ep in entry_points(group=ENTRY_POINT_GROUP))]
    for target in targets:
        source = _load(target)
        found.setdefault(source.name, source)
    return found


def names() -> tuple[str, ...]:
    return tuple(registry())


def get(name: str) -> Source:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r} (known: {', '.join(registry())})") from None


def rank(name: str) -> int:
    """Lower wins a story reached through two sources; an unregistered source never wins."""
    source = registry().get(name)
    return source.rank if source is not None else 1 << 30


def _first(name_id: Callable[[Source], str | None]) -> tuple[Source, str] | None:
    for source in registry().values():
        article_id = name_id(source)
        if article_id is not None and source.valid_id(article_id):
            return source, article_id
    return None


def for_url(url: str) -> tuple[Source, str] | None:
    """The source whose article ``url`` is, and the article's id."""
    return _first(lambda source: source.url_id(url))


def for_slug(slug: str) -> tuple[Source, str] | None:
    """The source and article id a post's file-name slug stands for."""
    return _first(lambda source: source.slug_id(slug))
