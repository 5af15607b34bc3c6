"""中国新闻网 extraction: list rows, RSS items and article pages (Template A, B, video) → items.

Pure functions on decoded text (``decode_page`` turns raw bytes into text the way Scrapy does).
Every URL is reduced to its site path and re-rooted on the configured ``base_url``, so ``.com`` /
``.com.cn``, http / https, ``//…`` and relative links of the same article end up identical and a
loopback server can stand in for the site. See ``docs/upstream-chinanews.md`` for the markup.
"""

from __future__ import annotations

import codecs
import email.utils
import html as html_lib
import logging
import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

from crawler.extract.common import CleanedBody, ExtractionError, NotAnArticle, SoftNotFound
from crawler.items import ArticleItem
from crawler.matching import match_key as _shared_match_key
from crawler.timeutil import BEIJING, parse_beijing, to_beijing

logger = logging.getLogger(__name__)

SOURCE = "chinanews"
MEDIA = "中国新闻网"
DEFAULT_BASE_URL = "https://www.chinanews.com.cn"

# Hosts that serve the same desktop site (both domains, with or without www, any scheme).
_SITE_HOST = re.compile(r"^(?:www\.)?chinanews\.com(?:\.cn)?$", re.IGNORECASE)
_MOBILE_HOST = re.compile(r"^m\.chinanews\.com(?:\.cn)?$", re.IGNORECASE)
# m.chinanews.com/wap/detail/zw/{ch}/… mirrors the desktop path (the app-id form does not).
_MOBILE_MIRROR = re.compile(r"^/wap/detail/zw(/[\w-]+/\d{4}/\d\d-\d\d/\d+\.shtml)$", re.ASCII)
_ARTICLE_PATH = re.compile(r"^/(?:[\w-]+/)+\d{4}/\d\d-\d\d/(?P<id>\d+)(?:_(?P<page>\d+))?\.shtml$", re.ASCII)
_PHOTO_PATH = re.compile(r"^/tp/.*?(?P<id>\d+)(?:_\d+)?\.shtml$", re.ASCII)
_VIDEO_PATH = re.compile(r"^/(?:[\w-]+/)*shipin/.*?(?:news)?(?P<id>\d+)(?:_\d+)?\.shtml$", re.ASCII)
_PAGE_SUFFIX = re.compile(r"/(\d+)_\d+\.shtml$", re.ASCII)
_URL_DATE = re.compile(r"/(?P<y>\d{4})/(?P<m>\d\d)-(?P<d>\d\d)/", re.ASCII)
_ARCHIVE_PATH = re.compile(r"/scroll-news/(?:[\w-]+/)?\d{4}/\d{4}/news\.shtml$", re.ASCII)
_DD_TIME = re.compile(r"(?P<m>\d{1,2})-(?P<d>\d{1,2})\s+(?P<H>\d{1,2}):(?P<M>\d\d)")
_CLOCK = re.compile(r"(?P<H>\d{1,2}):(?P<M>\d\d)(?::(?P<S>\d\d))?")
_SOFT_404_TITLES = ("404页面", "页面没有找到")
_TITLE_SUFFIX = re.compile(r"\s*-\s*中新网(?:视频)?\s*$")
_EDITOR_LINE = re.compile(
    r"^[\s\u3000]*[【\[]?\s*(?:责任编辑|编辑)\s*[:：]\s*[【\[]?\s*(?P<name>[^】\]]*?)\s*[】\]]*\s*$"
)
_AUTHOR_LINE = re.compile(r"^[\s\u3000]*[（(]\s*作者\s*[:：]\s*(?P<name>[^）)]+?)\s*[）)]\s*$")
_ORIGIN_LINE = re.compile(r"^[\s\u3000]*来源\s*[:：]\s*(?P<name>\S.*?)\s*$")
_INDENT = re.compile(r"\u3000{2,}")
_LEADING_INDENT = re.compile(r"^[\s\u3000]+")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


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


# --------------------------------------------------------------------------- URLs


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def site_path(url: str, *, base_url: str = DEFAULT_BASE_URL) -> str | None:
    """The site path (``/gn/2026/04-19/10606399.shtml``) of any variant of a site URL.

    Accepts both domains, any scheme, ``//…``, root-relative paths and URLs already on
    ``base_url`` (which may carry a path prefix). None for other hosts (sub-sites, CDNs).
    Query and fragment are dropped: the page JS itself reloads the URL without them.
    """
    url = (url or "").strip()
    if not url:
        return None
    base = _base(base_url)
    if url == base or url.startswith(base + "/"):
        path = url[len(base) :] or "/"
    elif url.startswith("/") and not url.startswith("//"):
        path = url
    elif "//" not in url and not re.match(r"^[\w.-]+\.(?:com|cn)(?:\.cn)?/", url):
        path = "/" + url.lstrip("./")  # a bare relative path: taken from the site root
    else:
        parts = urlsplit(url if "//" in url else "//" + url)
        host = (parts.hostname or "").lower()
        if _SITE_HOST.match(host):
            path = parts.path or "/"
        elif _MOBILE_HOST.match(host):
            mirror = _MOBILE_MIRROR.match(parts.path)
            if not mirror:
                return None
            path = mirror.group(1)
        else:
            return None
    path = path.split("#", 1)[0].split("?", 1)[0]
    return path if path.startswith("/") else "/" + path


def classify_url(url: str) -> str:
    """``article`` / ``video`` / ``photo`` / ``other``, judged on the site path.

    Photo galleries match the generic date/id pattern, so they are tested first; video ids
    carry a ``news`` prefix in their own id space.
    """
    path = site_path(url)
    if path is None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if "chinanews" in host:  # sub-sites and the mobile app-id form use other ids
            return "other"
        path = parts.path
    if _PHOTO_PATH.match(path):
        return "photo"
    if _VIDEO_PATH.match(path):
        return "video"
    if _ARTICLE_PATH.match(path):
        return "article"
    return "other"


def _path_of(url: str) -> str:
    path = site_path(url)
    return path if path is not None else urlsplit(url).path


def article_id_from_url(url: str) -> str | None:
    """The numeric article id (any number of digits), or None for videos, photos and others."""
    if classify_url(url) != "article":
        return None
    match = _ARTICLE_PATH.match(_path_of(url))
    return match.group("id") if match else None


def item_id_from_url(url: str) -> str | None:
    """The state id of any mirrored page: ``10606399``, ``v1069974`` (video), ``p1206069`` (photo).

    Videos and photos have their own id spaces that overlap the article ids numerically, so
    they get a letter prefix instead of sharing the article key space.
    """
    kind = classify_url(url)
    path = _path_of(url)
    if kind == "article":
        return article_id_from_url(url)
    if kind == "video":
        match = _VIDEO_PATH.match(path)
        return "v" + match.group("id") if match else None
    if kind == "photo":
        match = _PHOTO_PATH.match(path)
        return "p" + match.group("id") if match else None
    return None


def page_number(url: str) -> int:
    """1 for ``{id}.shtml``, n for ``{id}_{n}.shtml``."""
    match = _ARTICLE_PATH.match(_path_of(url))
    return int(match.group("page")) if match and match.group("page") else 1


def canonical_url(url: str, *, base_url: str) -> str:
    """Re-root any variant of a site URL on ``base_url``: no query, no fragment, page 1.

    URLs of other hosts keep their host (an unknown host is not assumed to be the site).
    """
    path = site_path(url, base_url=base_url)
    if path is None:
        parts = urlsplit(url)
        page1 = _PAGE_SUFFIX.sub(r"/\1.shtml", parts.path)
        return parts._replace(path=page1, query="", fragment="").geturl()
    return _base(base_url) + _PAGE_SUFFIX.sub(r"/\1.shtml", path)


def _resolve(href: str, *, page_url: str, base_url: str) -> str | None:
    """An href found on a page, resolved against that page and re-rooted on ``base_url``."""
    href = (href or "").strip()
    if not href or href.startswith(("#", "javascript:", "mailto:")):
        return None
    page_path = site_path(page_url, base_url=base_url) or "/"
    absolute = urljoin(DEFAULT_BASE_URL + page_path, href)
    path = site_path(absolute, base_url=base_url)
    if path is None:
        return None
    return _base(base_url) + path


def _channel(url: str) -> str:
    path = _path_of(url).strip("/")
    return path.split("/", 1)[0] if path else ""


def day_archive_url(base_url: str, day: date) -> str:
    """The all-channel day archive (one page per Beijing day; no crawler pages through it)."""
    return f"{_base(base_url)}/scroll-news/{day:%Y}/{day:%m%d}/news.shtml"


def scroll_page_url(base_url: str, n: int) -> str:
    return f"{_base(base_url)}/scroll-news/news{n}.html"


def rss_url(base_url: str, name: str) -> str:
    return f"{_base(base_url)}/rss/{name}.xml"


# --------------------------------------------------------------------------- decoding


def decode_page(body: bytes, content_type: str | None) -> str:
    """Decode like Scrapy's TextResponse (header, BOM, meta; gb2312/gbk → gb18030).

    w3lib decodes with ``errors="replace"``, so a wrong charset would pass silently as U+FFFD;
    the strict re-decode turns that into an error instead of a post full of mojibake.
    """
    from w3lib.encoding import html_to_unicode

    encoding, text = html_to_unicode(content_type, body)
    try:
        codecs.decode(body, encoding, "strict")
    except (UnicodeDecodeError, LookupError) as exc:
        raise ExtractionError(f"encoding: body is not valid {encoding}: {exc}") from exc
    return str(text)


# --------------------------------------------------------------------------- helpers


def _parse_html(text: str) -> Any:
    text = _XML_DECL.sub("", text or "", count=1)
    if not text.strip():
        raise ExtractionError("html: empty page")
    try:
        return lxml_html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"html: unparseable page: {exc}") from exc


def _text(el: Any) -> str:
    return _WS.sub(" ", el.text_content() if el is not None else "").strip()


def _first(doc: Any, *selectors: str) -> Any:
    for selector in selectors:
        found = doc.cssselect(selector)
        if found:
            return found[0]
    return None


def _input_value(doc: Any, element_id: str) -> str:
    found = doc.xpath(f'//input[@id="{element_id}"]/@value')
    return str(found[0]).strip() if found else ""


def _meta(doc: Any, name: str) -> str:
    found = doc.xpath(f'//meta[@name="{name}" or @property="{name}"]/@content')
    return str(found[0]).strip() if found else ""


def _inner_html(el: Any) -> str:
    parts = [html_lib.escape(el.text, quote=False)] if el.text else []
    parts.extend(lxml_html.tostring(child, encoding="unicode") for child in el)
    return "".join(parts)


def _clean_name(value: str) -> str:
    """``责任编辑：【叶攀】`` / ``【编辑:陈海峰】 `` / ``作者：X`` → the bare name."""
    value = _WS.sub(" ", value.replace("\u3000", " ")).strip()
    value = re.sub(r"^(?:责任编辑|编辑|作者|来源)\s*[:：]\s*", "", value.strip("【】[] "))
    return value.strip("【】[] ").strip()


def _origin_from_line(text: str) -> str:
    """``2020年07月04日 12:10　来源：求是网参与互动`` → ``求是网``."""
    match = re.search(r"来源\s*[:：]\s*(.*)$", text)
    if not match:
        return ""
    value = match.group(1).split("参与互动", 1)[0]
    value = re.split(r"[\u3000]|\s{2,}|作者\s*[:：]|编辑\s*[:：]", value.strip())[0]
    return value.strip()


def _is_soft_404(doc: Any) -> bool:
    title = _text(_first(doc, "title"))
    if any(marker in title for marker in _SOFT_404_TITLES):
        return True
    return "404missing" in _meta(doc, "keywords").lower()


def _entry_year(url: str) -> tuple[int, int, int] | None:
    match = _URL_DATE.search(_path_of(url))
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


# --------------------------------------------------------------------------- lists


def _listed(href: str, *, page_url: str, base_url: str, seen: set[str]) -> tuple[str, str, str] | None:
    """(canonical url, kind, item id) of a listed link, or None for non-articles and repeats."""
    absolute = _resolve(href, page_url=page_url, base_url=base_url)
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
    doc = _parse_html(html)
    now = to_beijing(now) if now is not None else datetime.now(BEIJING)
    feed = "archive" if _ARCHIVE_PATH.search(_path_of(page_url)) else "scroll"
    rows = doc.cssselect("div.content_list li") or doc.xpath("//li[.//div[contains(@class,'dd_bt')]]")
    seen: set[str] = set()
    entries: list[ListEntry] = []
    for li in rows:
        if li.get("id") == "konge":
            continue
        link = _first(li, ".dd_bt a[href]", "a[href]")
        if link is None:
            continue
        listed = _listed(link.get("href", ""), page_url=page_url, base_url=base_url, seen=seen)
        if listed is None:
            continue
        url, kind, item_id = listed
        title = _text(link)
        if (not title or title.endswith(("…", ".."))) and link.get("title"):
            title = link.get("title").strip()
        time_el = _first(li, ".dd_time")
        entries.append(
            ListEntry(
                article_id=item_id,
                url=url,
                title=title,
                channel=_channel(url),
                published=_row_time(_text(time_el), url=url, now=now),
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


def _plain(text: str) -> str:
    """RSS descriptions: maybe escaped HTML, always ``\\n　　``-indented → plain text."""
    text = html_lib.unescape(_TAGS.sub("", text or ""))
    return _WS.sub(" ", text.replace("\u3000", " ")).strip()


def parse_rss(xml: bytes | str, *, base_url: str) -> list[ListEntry]:
    """Items of ``rss/<name>.xml`` (no guid; ~30 items) parsed as XML, never as HTML.

    An HTML parser empties ``<link>`` (a void element there); items that point at channel
    pages instead of articles are dropped, as are repeated URLs.
    """
    if isinstance(xml, str):
        xml = _XML_DECL.sub("", xml, count=1).encode("utf-8")
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
        listed = _listed(link, page_url=_base(base_url) + "/rss/", base_url=base_url, seen=seen)
        if listed is None:
            continue
        url, kind, item_id = listed
        entries.append(
            ListEntry(
                article_id=item_id,
                url=url,
                title=_WS.sub(" ", item.findtext("title") or "").strip(),
                channel=_channel(url),
                published=_rss_date(item.findtext("pubDate") or ""),
                kind=kind,
                feed="rss",
                summary=_plain(item.findtext("description") or ""),
            )
        )
    return entries


# --------------------------------------------------------------------------- articles


def _title(doc: Any) -> str:
    """Scoped to the article container: the page's first <h1> is the floating header's."""
    el = _first(
        doc,
        "h1.content_left_title",
        ".content_maincontent_more h1",
        "#cont_1_1_2 h1",
        ".content_title .title",
        "div.title0",
    )
    title = _text(el)
    if not title:
        title = _meta(doc, "og:title") or _input_value(doc, "newstitle")
        title = _TITLE_SUFFIX.sub("", _WS.sub(" ", title)).strip()
    return title


def _published(doc: Any, time_line: str) -> datetime | None:
    """``#pubtime_baidu`` (seconds) → hidden ``newsdate``/``newstime`` → the visible time line.

    When only minutes are shown but ``newstime`` has seconds for the same minute, the seconds
    are taken from there.
    """
    newstime = _CLOCK.search(_input_value(doc, "newstime"))
    candidates = [
        _text(_first(doc, "#pubtime_baidu")),
        f"{_input_value(doc, 'newsdate')} {_input_value(doc, 'newstime')}".strip(),
        time_line,
    ]
    for candidate in candidates:
        value = parse_beijing(candidate)
        if value is None:
            continue
        if newstime is not None and newstime["S"] and not re.search(r"\d:\d\d:\d\d", candidate):
            same_minute = (int(newstime["H"]), int(newstime["M"])) == (value.hour, value.minute)
            value = value.replace(second=int(newstime["S"])) if same_minute else value
        return value
    return None


def _editor(doc: Any) -> str:
    for selector in (
        ".adEditor",
        ".left_name.right span",
        ".content_editor span",
        "p.content_editor",
        ".content_editor",
        "#editor_baidu",
    ):
        name = _clean_name(_text(_first(doc, selector)))
        if name:
            return name
    return _input_value(doc, "editorname")


def _body_author(body: Any) -> str:
    for p in body.iter("p"):
        match = _AUTHOR_LINE.match(_text(p))
        if match:
            return match.group("name").strip()
    return ""


def extract_article(
    html: str, *, url: str, entry: ListEntry | None = None, base_url: str = DEFAULT_BASE_URL
) -> ArticleItem:
    """One article page (Template A, Template B or video) → an ArticleItem with raw body HTML.

    Raises SoftNotFound for 200-status "404" pages, NotAnArticle for URLs outside the mirrored
    id spaces, ExtractionError naming the missing field otherwise.
    """
    kind = classify_url(url)
    if kind == "other":
        raise NotAnArticle(f"url: not a 中国新闻网 article, video or photo page: {url}")
    doc = _parse_html(html)
    if _is_soft_404(doc):
        raise SoftNotFound(f"soft 404 page at {url}")
    item_id = item_id_from_url(url)
    if item_id is None:
        raise NotAnArticle(f"url: no id in {url}")
    scope = _first(doc, ".content_maincontent_more", "#cont_1_1_2")
    body = _first(scope, ".left_zw") if scope is not None else None
    if body is None:
        body = _first(doc, ".left_zw", ".content_desc", "#ad0")
    if body is None:
        if kind == "photo":
            raise NotAnArticle(f"photo gallery without an article body: {url}")
        raise ExtractionError(f"body: no .left_zw / .content_desc at {url}")
    body_html = _inner_html(body).strip()
    if not _text(body) and not body.xpath(".//img"):
        raise ExtractionError(f"body: empty article body at {url}")

    title = _title(doc) or (entry.title if entry else "")
    if not title:
        raise ExtractionError(f"title: no title in the article container at {url}")

    time_el = _first(doc, ".left-t", ".content_left_time")
    if time_el is None:  # video pages: <div class="left"><p>发布时间：… 来源：…</p>
        found = doc.xpath("//p[starts-with(normalize-space(.), '发布时间')]")
        time_el = found[0] if found else None
    time_line = re.sub(r"^发布时间\s*[:：]\s*", "", _text(time_el))
    published = _published(doc, time_line) or (entry.published if entry else None)
    if published is None:
        raise ExtractionError(f"published: no publish time at {url}")

    origin = _clean_name(_text(_first(doc, "#source_baidu"))) or _origin_from_line(time_line)
    editor = _editor(doc)
    author = _body_author(body) or _clean_name(_text(_first(doc, "#author_baidu")))
    if author == editor:  # #author_baidu often just repeats the editor
        author = ""
    for field_name, value in (("title", title), ("body", body_html)):
        if "\ufffd" in value:
            raise ExtractionError(f"{field_name}: U+FFFD in text (page decoded with the wrong charset?)")
    summary = entry.summary if entry and entry.summary else ""
    if not summary:
        description = _meta(doc, "description")
        summary = "" if _TITLE_SUFFIX.sub("", description).strip() == title else _plain(description)
    return ArticleItem(
        source=SOURCE,
        article_id=item_id,
        title=title,
        published=to_beijing(published),
        body_html=body_html,
        url=canonical_url(url, base_url=base_url),
        media=MEDIA,
        feed=entry.feed if entry else "",
        summary=summary,
        origin=origin,
        author=author,
        editor=editor,
    )


def page_urls(html: str, *, url: str, base_url: str) -> list[str]:
    """The other pages of a multi-page article (``{id}_{n}.shtml``), by page number.

    Read from the pager ``#function_code_page``; links to other articles and to the current
    page are ignored. A spider should union the results of every fetched page, in case a
    long pager shows only a window of page numbers.
    """
    doc = _parse_html(html)
    article_id = article_id_from_url(url)
    if article_id is None:
        return []
    current = page_number(url)
    pages: dict[int, str] = {}
    for anchor in doc.cssselect("#function_code_page a[href]"):
        absolute = _resolve(anchor.get("href", ""), page_url=url, base_url=base_url)
        if absolute is None or article_id_from_url(absolute) != article_id:
            continue
        number = page_number(absolute)
        if number != current and number not in pages:
            pages[number] = absolute
    return [pages[n] for n in sorted(pages)]


def merge_pages(first: ArticleItem, others: list[str]) -> ArticleItem:
    """One item whose raw body is page 1's followed by pages 2..n (pagers are removed later)."""
    if not others:
        return first
    return replace(first, body_html="\n".join([first.body_html, *others]))


# --------------------------------------------------------------------------- body pre-pass

_JUNK_XPATH = (
    "//script | //style | //noscript | //iframe | //comment()"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' adInContent ')]"
    " | //*[@id='function_code_page'] | //*[@id='SOHUCS'] | //*[@id='zw_cyhd']"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' share ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' social-share ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' bdsharebuttonbox ')]"
    " | //*[starts-with(@id, 'share')]"
)
_EDITOR_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' adEditor ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' left_name ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' content_editor ')]"
)
_BLOCKS = {"p", "div", "li", "td", "h2", "h3", "h4", "blockquote", "center"}


def _drop(el: Any) -> None:
    """Remove an element but keep its tail text (lxml's drop_tree does exactly that)."""
    if el.getparent() is not None:
        el.drop_tree()


def _strip_indents(root: Any) -> None:
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.text:
            el.text = _INDENT.sub("", el.text)
            if el.tag in _BLOCKS:
                el.text = _LEADING_INDENT.sub("", el.text)
        if el.tail:
            el.tail = _INDENT.sub("", el.tail)
            if el.tag == "br":
                el.tail = _LEADING_INDENT.sub("", el.tail)


def _absolute(value: str, base_url: str) -> str:
    """``//host/x`` → https; ``/x`` and ``x`` → against ``base_url`` (a site root or a page URL)."""
    value = value.strip()
    if value.startswith("//"):
        return "https:" + value
    base = base_url if urlsplit(base_url).path else base_url.rstrip("/") + "/"
    return urljoin(base, value)


def _absolutise(root: Any, base_url: str) -> None:
    for el in root.iter("img"):
        src = el.get("src") or el.get("data-src") or el.get("data-original") or ""
        if src:
            el.set("src", _absolute(src, base_url))
    for el in root.iter("a"):
        href = (el.get("href") or "").strip()
        if href and not href.startswith(("#", "javascript:", "mailto:")):
            el.set("href", _absolute(href, base_url))


def preclean_body(html: str, *, base_url: str) -> CleanedBody:
    """Site-specific pre-pass over the raw ``.left_zw`` / ``.content_desc`` HTML.

    Removes ad tables and their scripts, comments, the pager, share and comment widgets; moves
    the editor line (``.adEditor``, ``【编辑:X】``, ``责任编辑：【X】``), a standalone ``(作者：X)``
    line and a standalone ``来源：X`` line into fields; drops U+3000 indents; keeps images
    (absolute URLs) and their ``.pictext`` captions. nh3 runs after this, in the pipeline.
    """
    root = lxml_html.fragment_fromstring(html or "", create_parent="div")
    editor = author = origin = ""
    for el in root.xpath(_EDITOR_XPATH):
        if el.getparent() is None:
            continue
        editor = editor or _clean_name(_text(el))
        _drop(el)
    for el in root.xpath(_JUNK_XPATH):
        if el.getparent() is not None:
            _drop(el)
    for p in list(root.iter("p", "div", "span")):
        if p.getparent() is None or p.xpath(".//img"):
            continue
        text = _text(p).replace("\u3000", " ").strip()
        if not text:
            continue
        for pattern, field_name in (
            (_EDITOR_LINE, "editor"),
            (_AUTHOR_LINE, "author"),
            (_ORIGIN_LINE, "origin"),
        ):
            match = pattern.match(text)
            if not match or len(text) > 60:
                continue
            name = match.group("name").strip()
            if field_name == "editor":
                editor = editor or name
            elif field_name == "author":
                author = author or name
            else:
                origin = origin or name
            _drop(p)
            break
    _strip_indents(root)
    _absolutise(root, base_url)
    for el in list(root.iter("p")):
        if el.getparent() is not None and not _text(el) and len(el) == 0:
            _drop(el)
    out = _inner_html(root).strip()
    return CleanedBody(html=out, origin=origin, editor=editor, author=author)


# --------------------------------------------------------------------------- cross-source key


def match_key(title: str, published: datetime | None) -> str:
    """Source-neutral story key (normalised title | Beijing publish minute; "" if unknown).

    Delegates to crawler.matching so the dedupe pipeline and this module can never disagree.
    """
    return _shared_match_key(title, published)
