"""The article item every spider yields and every pipeline consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True, kw_only=True)
class ArticleItem:
    """One upstream article, as extracted; cleaning and rendering happen in pipelines.

    ``body_html`` is the article container's raw inner HTML: the clean pipeline runs the
    site-specific pre-pass and nh3 on it and stores the result in ``body``, so a rebuild from
    captures re-applies the current cleaning rules to the original markup.
    """

    source: str  # the spider: "eastmoney" or "chinanews"
    article_id: str  # canonical id within the source (digits only)
    title: str
    published: datetime | None  # aware, Asia/Shanghai
    body_html: str
    url: str  # canonical article URL (https)
    media: str = ""  # 中国新闻网, 新华社 …; "" for Eastmoney's own rolling news
    feed: str = ""  # which discovery route found it: columns, fast, legacy, scroll, rss, archive, fetch
    share_url: str = ""  # the link line under the body ("" → url)
    summary: str = ""
    origin: str = ""  # 文章来源 line, moved out of the body
    author: str = ""
    editor: str = ""
    aliases: list[str] = field(default_factory=list)  # other state keys of the same story
    supersedes: list[str] = field(default_factory=list)  # recorded copies this original replaces
    fetched_at: datetime | None = None
    body: str = ""  # cleaned, sanitised, Liquid-safe HTML (set by the clean pipeline)
    category: str = ""  # pinyin slug (set by the category pipeline)
    tag: str = ""  # <media>新闻 (set by the category pipeline)
    context: dict[str, Any] = field(default_factory=dict)  # JSON-able list entry, to request it again
    recheck: bool = False  # fetched again because a recheck was due (crawler/revisions.py)
    etag: str = ""  # the response's validators, for the next conditional recheck
    last_modified: str = ""
    revision: int = 1  # set by the writer: 1, or the revision this version becomes
    updated: datetime | None = None  # set by the writer when this version is a revision
    retracted: datetime | None = None  # when upstream withdrew it (set from the state store by rebuild)

    @property
    def key(self) -> str:
        """State-store key: unique across sources, stable across URL variants."""
        return f"{self.source}:{self.article_id}"


@dataclass(slots=True, frozen=True)
class Retraction:
    """Upstream withdrew a known article (404/410 or a soft 404 on recheck): mark it, never delete."""

    key: str
    source: str
    url: str
    when: datetime
    reason: str
