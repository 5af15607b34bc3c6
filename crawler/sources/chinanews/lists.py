"""中国新闻网 lists: scroll pages, day archives and RSS feeds → list entries (what to fetch)."""

from __future__ import annotations

import email.utils
import html as html_lib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from crawler.sources.chinanews.page import WHITESPACE, XML_DECL, first, parse_html, text_of
from crawler.sources.chinanews.urls import (
    ARCHIVE_PATH,
    URL_DATE,
    canonical_url,
    channel_of,
    classify_url,
    item_id_from_url,
    path_of,
    resolve_link,
    site_root,
)
from crawler.sources.common import ExtractionError
from crawler.timeutil import BEIJING, parse_beijing, to_beijing

_TAGS = re.compile(r"<[^>]+>")


_DD_TIME = re.compile(r"(?P<m>\d{1,2})-(?P<d>\d{1,2})\s+(?P<H>\d{1,2}):(?P<M>\d\d)")


@dataclass(slots=True, frozen=True)
class ListEntry:
    """One row of a scroll list, day archive or RSS feed: enough to decide whether to fetch."""

    article_id: str  # digits for articles; "v…" / "p…" for the video and photo id spaces
    url: str  # canonical, on base_url, page 1, no query
    title: str
    channel: str  # first path segment: gn, gj, cj …
    published: datetime | None  # aware, Asia/Shanghai
    kind: str  # "article" | "video" | "photo"
    feed: str  # "scroll" | "rss" | "archive"
    summary: str = ""  # RSS description (lead paragraph), indents removed

    def to_context(self) -> dict[str, Any]:
        """A JSON-safe dict for Request.cb_kwargs / state rows."""
        return {
            "article_id": self.article_id,
            "url": self.url,
            "title": self.title,
            "channel": self.channel,
            "published": self.published.isoformat() if self.published else None,
            "kind": self.kind,
            "feed": self.feed,
            "summary": self.summary,
        }

    @classmethod
    def from_context(cls, d: dict[str, Any]) -> ListEntry:
        published = d.get("published")
        return cls(
            article_id=str(d["article_id"]),
            url=str(d["url"]),
            title=str(d.get("title") or ""),
            channel=str(d.get("channel") or ""),
            published=to_beijing(datetime.fromisoformat(published)) if published else None,
            kind=str(d.get("kind") or "article"),
            feed=str(d.get("feed") or ""),
            summary=str(d.get("summary") or ""),
        )


def _entry_year(url: str) -> tuple[int, int, int] | None:
    match = URL_DATE.search(path_of(url))
    if not match:
        return None
    return int(match["y"]), int(match["m"]), int(match["d"])


def _row_time(text: str, *, url: str, now: datetime) -> datetime | None:
    """``9-27 22:20`` (no year) + the URL date; without a URL date the year is ``now``'s.

    A row dated after ``now`` (plus a day of slack) belongs to last year: day archives and
    scroll pages never list future items.
    """
    full = parse_beijing(text)
    if full is not None:
        return full
    match = _DD_TIME.search(text or "")
    if not match:
        return None
    month, day = int(match["m"]), int(match["d"])
    hour, minute = int(match["H"]), int(match["M"])
    url_date = _entry_year(url)
    if url_date is not None:
        year = url_date[0]
        if url_date[1] == 12 and month == 1:  # dated 12-31 in the URL, listed at 1-1 00:xx
            year += 1
        elif url_date[1] == 1 and month == 12:
            year -= 1
    else:
        year = now.year
    try:
        value = datetime(year, month, day, hour, minute, tzinfo=BEIJING)
    except ValueError:
        return None
    if url_date is None and (value - now).days >= 1:
        value = value.replace(year=year - 1)
    return value


def _listed(href: str, *, page_url: str, base_url: str, seen: set[str]) -> tuple[str, str, str] | None:
    """(canonical url, kind, item id) of a listed link, or None for non-articles and repeats."""
    absolute = resolve_link(href, page_url=page_url, base_url=base_url)
    if absolute is None:
        return None
    kind = classify_url(absolute)
    item_id = item_id_from_url(absolute)
    if kind == "other" or item_id is None:
        return None
    url = canonical_url(absolute, base_url=base_url)
    if url in seen:
        return None
    seen.add(url)
    return url, kind, item_id


def parse_scroll_list(
    html: str, *, page_url: str, base_url: str, now: datetime | None = None
) -> list[ListEntry]:
    """Rows of ``scroll-news/newsN.html`` or a day archive, in page order, one per URL.

    Separator rows (``li#konge``), rows without a link, channel/other links and repeated
    URLs are dropped; video and photo rows are kept with their ``kind`` for the spider to
    filter by configuration.
    """
    doc = parse_html(html)
    now = to_beijing(now) if now is not None else datetime.now(BEIJING)
    feed = "archive" if ARCHIVE_PATH.search(path_of(page_url)) else "scroll"
    rows = doc.cssselect("div.content_list li") or doc.xpath("//li[.//div[contains(@class,'dd_bt')]]")
    seen: set[str] = set()
    entries: list[ListEntry] = []
    for li in rows:
        if li.get("id") == "konge":
            continue
        link = first(li, ".dd_bt a[href]", "a[href]")
        if link is None:
            continue
        listed = _listed(link.get("href", ""), page_url=page_url, base_url=base_url, seen=seen)
        if listed is None:
            continue
        url, kind, item_id = listed
        title = text_of(link)
        if (not title or title.endswith(("…", ".."))) and link.get("title"):
            title = link.get("title").strip()
        time_el = first(li, ".dd_time")
        entries.append(
            ListEntry(
                article_id=item_id,
                url=url,
                title=title,
                channel=channel_of(url),
                published=_row_time(text_of(time_el), url=url, now=now),
                kind=kind,
                feed=feed,
            )
        )
    return entries


def _rss_date(text: str) -> datetime | None:
    """RFC 822 with or without zone, or ``2019-10-05 14:58:24``; no zone means Beijing time."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return parse_beijing(text)
    return to_beijing(value)


def plain_text(text: str) -> str:
    """RSS descriptions: maybe escaped HTML, always ``\\n　　``-indented → plain text."""
    text = html_lib.unescape(_TAGS.sub("", text or ""))
    return WHITESPACE.sub(" ", text.replace("\u3000", " ")).strip()


def parse_rss(xml: bytes | str, *, base_url: str) -> list[ListEntry]:
    """Items of ``rss/<name>.xml`` (no guid; ~30 items) parsed as XML, never as HTML.

    An HTML parser empties ``<link>`` (a void element there); items that point at channel
    pages instead of articles are dropped, as are repeated URLs.
    """
    if isinstance(xml, str):
        xml = XML_DECL.sub("", xml, count=1).encode("utf-8")
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ExtractionError(f"rss: not XML: {exc}") from exc
    if root is None or (root.tag != "rss" and not root.findall(".//item")):
        raise ExtractionError("rss: no <rss> document")
    seen: set[str] = set()
    entries: list[ListEntry] = []
    for item in root.iter("item"):
        link = (item.findtext("link") or "").strip()
        listed = _listed(link, page_url=site_root(base_url) + "/rss/", base_url=base_url, seen=seen)
        if listed is None:
            continue
        url, kind, item_id = listed
        entries.append(
            ListEntry(
                article_id=item_id,
                url=url,
                title=WHITESPACE.sub(" ", item.findtext("title") or "").strip(),
                channel=channel_of(url),
                published=_rss_date(item.findtext("pubDate") or ""),
                kind=kind,
                feed="rss",
                summary=plain_text(item.findtext("description") or ""),
            )
        )
    return entries
