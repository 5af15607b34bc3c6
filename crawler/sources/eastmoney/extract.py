"""Eastmoney extraction: list payloads → ListEntry, GetNewsText / article pages → ArticleItem.

Pure functions only (no I/O, no settings): the spider routes responses here and the clean
pipeline calls :func:`preclean_body`. Shapes and selectors come from
``docs/upstream-eastmoney.md`` §1–§3.
"""

from __future__ import annotations

import html as htmllib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from lxml import html as lxml_html

from crawler.items import ArticleItem
from crawler.sources.common import CleanedBody, ExtractionError, UpstreamFormatError
from crawler.timeutil import parse_beijing, to_beijing

logger = logging.getLogger(__name__)

SOURCE = "eastmoney"
DEFAULT_ARTICLE_URL = "https://finance.eastmoney.com/a/{id}.html"
FEEDS = ("columns", "fast", "legacy102", "legacy45", "legacymarket")

_OK_CODES = {0, 1, "0", "1"}
# re.ASCII: \d would take any script's digits ("٢٠٢٢…"), which are no id of ours.
_BARE_ID = re.compile(r"(?:NW)?(\d{17,})", re.IGNORECASE | re.ASCII)
# last path segment of /a/<id>.html, /news/<col>,<id>.html, wap article,8,344,1,<id>.shtml
_PATH_ID = re.compile(r"(?:^|[/,])(?:NW)?(\d{17,})\.s?html?$", re.IGNORECASE | re.ASCII)
_QUERY_ID_KEYS = ("infoCode", "infocode", "InfoCode", "id", "code")
# record keys that may carry the article id, most specific first (kuaixun has only url_w/newsid/id)
_ID_KEYS = ("code", "Art_Code", "url_w", "newsid", "id", "url", "uniqueUrl", "url_unique", "Art_Url")
_JSONP = re.compile(r"^[\w$.]+\s*\((.*)\)\s*;?\s*$", re.DOTALL)
_JS_VAR = re.compile(r"^var\s+[\w$]+\s*=\s*(.*?)\s*;?\s*$", re.DOTALL)
_DIGEST_TITLE = re.compile(r"^\s*【[^】]*】\s*")
_ORIGIN = re.compile(r"^[（(]?\s*(?:文章)?来源\s*[:：]\s*(?P<v>.*?)\s*[）)]?\s*$", re.DOTALL)
_EDITOR = re.compile(r"^[（(]?\s*责任编辑\s*[:：]\s*(?P<v>.*?)\s*[）)]?\s*$", re.DOTALL)
_STOCKIMG_START = re.compile(r"\s*EM_StockImg_Start\s*")
_STOCKIMG_END = re.compile(r"\s*EM_StockImg_End\s*")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_INDENT = "\u3000\xa0 \t\r\n"
_SITE_SUFFIX = re.compile(r"\s*_\s*东方财富网\s*$")


@dataclass(slots=True, frozen=True)
class ListEntry:
    """One list-API record, carried in request meta from the list to the body request."""

    article_id: str
    info_code: str
    title: str
    published: datetime | None
    media: str
    summary: str
    url: str
    feed: str

    def to_context(self) -> dict[str, Any]:
        """A JSON-safe dict (a field by field copy: dataclasses.asdict's deep copy costs a tenth of
        a rebuild's time here)."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["published"] = self.published.isoformat() if self.published else None
        return data

    @classmethod
    def from_context(cls, data: dict[str, Any]) -> ListEntry:
        raw = data.get("published")
        published = to_beijing(datetime.fromisoformat(raw)) if raw else None
        return cls(
            article_id=str(data["article_id"]),
            info_code=str(data.get("info_code") or f"NW{data['article_id']}"),
            title=str(data.get("title") or ""),
            published=published,
            media=str(data.get("media") or ""),
            summary=str(data.get("summary") or ""),
            url=str(data.get("url") or ""),
            feed=str(data.get("feed") or ""),
        )


@dataclass(slots=True, frozen=True)
class ListPage:
    """The usable records of one list response plus what the spider needs to page on."""

    entries: list[ListEntry]
    total: int | None
    cursor: str | None


# ---------------------------------------------------------------------------------------------
# ids


def parse_article_id(value: str) -> str | None:
    """The bare 17+-digit article id in an infoCode, id or any known Eastmoney URL form."""
    value = (value or "").strip()
    if not value:
        return None
    bare = _BARE_ID.fullmatch(value)
    if bare:
        return bare.group(1)
    if "/" not in value and "?" not in value:
        return None
    parts = urlsplit(value)
    query = parse_qs(parts.query)
    for key in _QUERY_ID_KEYS:
        for candidate in query.get(key, []):
            found = _BARE_ID.fullmatch(candidate.strip())
            if found:
                return found.group(1)
    path = _PATH_ID.search(parts.path)
    return path.group(1) if path else None


# ---------------------------------------------------------------------------------------------
# list payloads


def _unwrap_js(text: str) -> str:
    """Strip ``var ajaxResult=…;`` and JSONP ``cb(…)`` wrappers; plain JSON passes through."""
    stripped = text.strip().lstrip("\ufeff").strip()
    if stripped[:1] in ("{", "["):
        return stripped
    var = _JS_VAR.match(stripped)
    if var:
        return var.group(1)
    jsonp = _JSONP.match(stripped)
    if jsonp:
        return jsonp.group(1)
    return stripped


def _load_json(text: str, what: str) -> Any:
    body = _unwrap_js(text)
    if not body:
        raise UpstreamFormatError(f"{what}: not JSON: empty response")
    if body.startswith("<"):
        raise UpstreamFormatError(f"{what}: not JSON: starts with {body[:20]!r}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UpstreamFormatError(f"{what}: not JSON: {exc} (starts with {body[:20]!r})") from exc


def _s(record: dict[str, Any], *keys: str) -> str:
    """First non-empty value among ``keys`` as a stripped string."""
    for key in keys:
        value = record.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _endpoint(obj: dict[str, Any]) -> tuple[str, str, list[Any] | None]:
    """(endpoint name, feed, raw record list or None) for a decoded payload."""
    data = obj.get("data")
    if isinstance(data, dict):
        if "fastNewsList" in data:
            return "getFastNewsList", "fast", data["fastNewsList"]
        if "list" in data:
            return "getNewsByColumns", "columns", data["list"]
    for key, name, feed in (
        ("LivesList", "kuaixun getlist", "fast"),
        ("records", "webapi type=102", "legacy102"),
        ("nodeList", "webapi type=45", "legacy45"),
        ("record", "webapi marketType", "legacymarket"),
    ):
        if key in obj:
            return name, feed, obj[key]
    if isinstance(data, dict) and ("sortEnd" in data or obj.get("biz") == "web_724"):
        return "getFastNewsList", "fast", None
    return "getNewsByColumns", "columns", None


def _check_code(obj: dict[str, Any], name: str) -> None:
    for key in ("code", "rc"):
        if key in obj and obj[key] not in _OK_CODES:
            message = obj.get("message") or obj.get("me") or ""
            raise UpstreamFormatError(f"{name}: {key} {obj[key]!r} (message: {message!r})")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_list_payload(text: str, *, article_url: str = DEFAULT_ARTICLE_URL) -> ListPage:
    """Decode any known Eastmoney list response; bad records are skipped, bad payloads raise."""
    obj = _load_json(text, "list payload")
    if not isinstance(obj, dict):
        raise UpstreamFormatError(f"list payload: expected a JSON object, got {type(obj).__name__}")
    name, feed, records = _endpoint(obj)
    _check_code(obj, name)
    if records is None:
        raise UpstreamFormatError(f"{name}: no record list (keys: {sorted(obj)[:10]})")
    if not isinstance(records, list):
        raise UpstreamFormatError(f"{name}: record list is {type(records).__name__}, not a list")

    entries: list[ListEntry] = []
    skipped = 0
    for record in records:
        entry = _entry(record, feed, article_url) if isinstance(record, dict) else None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    if skipped:
        logger.debug("%s: skipped %d of %d records", name, skipped, len(records))

    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    assert isinstance(data, dict)
    total = _int_or_none(data.get("totle_hits", data.get("total_hits")))
    cursor: str | None = None
    if feed == "fast" and name == "getFastNewsList":
        cursor = _s(data, "sortEnd") or None
        if cursor is None:
            sorts = [_s(r, "realSort") for r in records if isinstance(r, dict)]
            cursor = next((s for s in reversed(sorts) if s), None)
    return ListPage(entries=entries, total=total, cursor=cursor)


def _entry(record: dict[str, Any], feed: str, article_url: str) -> ListEntry | None:
    """One record → ListEntry, or None when it cannot be an article we mirror."""
    if _s(record, "Np_dst", "np_dst").upper() == "CFH":
        return None
    upstream_code = _s(record, "infoCode", "infocode")
    article_id = next(
        (found for key in _ID_KEYS if (found := parse_article_id(_s(record, key)))),
        parse_article_id(upstream_code),
    )
    if article_id is None:
        return None

    title = _s(record, "title", "Art_Title")
    summary = ""
    media = ""
    when = _s(record, "showTime", "showtime", "Art_ShowTime", "datetime")
    if feed == "columns":
        media = _s(record, "mediaName", "medianame")
        summary = _s(record, "summary")
    elif feed == "fast":
        digest = _s(record, "summary", "digest")
        summary = _DIGEST_TITLE.sub("", digest)
        bracketed = _DIGEST_TITLE.match(digest)
        title = (
            title or _s(record, "simtitle") or (bracketed.group(0).strip(" 【】") if bracketed else summary)
        )
    elif feed == "legacy102":
        summary = _DIGEST_TITLE.sub("", _s(record, "digest"))
    elif feed == "legacy45":
        media = _s(record, "from")
        title = title or _s(record, "simtitle")
        summary = _s(record, "simdigest")
    elif feed == "legacymarket":
        media = _s(record, "medianame", "mediaName")

    return ListEntry(
        article_id=article_id,
        info_code=upstream_code if upstream_code else f"NW{article_id}",
        title=title,
        published=parse_beijing(when),
        media=media,
        summary=summary,
        url=article_url.format(id=article_id),
        feed=feed,
    )


# ---------------------------------------------------------------------------------------------
# bodies


def extract_text_payload(text: str, entry: ListEntry, *, url: str) -> ArticleItem | None:
    """GetNewsText.do JSON → ArticleItem with the raw body HTML; None when the body is empty."""
    obj = _load_json(text, f"GetNewsText {url}")
    if not isinstance(obj, dict):
        raise UpstreamFormatError(f"GetNewsText {url}: expected a JSON object, got {type(obj).__name__}")
    nested = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    assert isinstance(nested, dict)
    body: Any = obj.get("text") or obj.get("content") or nested.get("text") or nested.get("content")
    if not isinstance(body, str) or not body.strip():
        return None
    return ArticleItem(
        source=SOURCE,
        article_id=entry.article_id,
        title=entry.title,
        published=entry.published,
        body_html=body,
        url=entry.url,
        media=entry.media,
        feed=entry.feed,
        summary=entry.summary,
    )


def _els(node: Any, path: str) -> list[lxml_html.HtmlElement]:
    result = node.xpath(path)
    if not isinstance(result, list):
        return []
    return [el for el in result if isinstance(el, lxml_html.HtmlElement)]


def _strs(node: Any, path: str) -> list[str]:
    result = node.xpath(path)
    if not isinstance(result, list):
        return []
    return [str(v) for v in result if isinstance(v, str)]


def _text(el: lxml_html.HtmlElement) -> str:
    return " ".join(el.text_content().split())


def _cls(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def inner_html(el: lxml_html.HtmlElement) -> str:
    """The element's children serialised (the container itself left out)."""
    parts = [htmllib.escape(el.text, quote=False)] if el.text else []
    parts.extend(etree.tostring(child, encoding="unicode", method="html", with_tail=True) for child in el)
    return "".join(parts)


def extract_article_page(html: str, entry: ListEntry | None, *, url: str) -> ArticleItem:
    """finance.eastmoney.com/a/<id>.html (current or legacy layout) → ArticleItem."""
    if not html or not html.strip():
        raise ExtractionError(f"{url}: empty page")
    try:
        doc = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"{url}: unparseable HTML: {exc}") from exc

    article_id = parse_article_id(url) or (entry.article_id if entry else None)
    if not article_id:
        raise ExtractionError(f"{url}: no article id in the URL")

    title = ""
    for path in (
        f".//div[{_cls('zwinfos')}]//div[{_cls('title')}]",
        f".//div[{_cls('newsContent')}]//h1",
        f".//div[{_cls('title')}]",
    ):
        found = [_text(el) for el in _els(doc, path)]
        title = next((t for t in found if t), "")
        if title:
            break
    if not title:
        page_title = " ".join(" ".join(_strs(doc, ".//title/text()")).split())
        title = _SITE_SUFFIX.sub("", page_title)

    published: datetime | None = None
    media = ""
    author = ""
    info_items = _els(doc, f".//div[{_cls('infos')}]//div[{_cls('item')}]")
    info_items += _els(doc, f".//div[{_cls('time-source')}]//div")
    for item in info_items:
        value = _text(item)
        if published is None and "年" in value:
            published = parse_beijing(value)
        if not media and value.startswith("来源"):
            media = re.sub(r"^来源\s*[:：]\s*", "", value)
        if not author and value.startswith("作者"):
            author = re.sub(r"^作者\s*[:：]\s*", "", value)
    if not media:
        media = next(
            (v.strip() for v in _strs(doc, f".//div[{_cls('data-source')}]/@data-source") if v.strip()), ""
        )
    if published is None:
        for el in _els(doc, f".//div[{_cls('time-source')}]//div[{_cls('time')}]"):
            published = parse_beijing(_text(el))
            if published:
                break

    summary = next((v.strip() for v in _strs(doc, ".//meta[@name='description']/@content") if v.strip()), "")
    if not summary:
        summary = next((t for t in (_text(el) for el in _els(doc, f".//div[{_cls('b-review')}]")) if t), "")

    body_html = ""
    for container in _els(doc, ".//*[@id='ContentBody']"):
        for end in _els(container, f".//div[@id='comBodyEnd' or {_cls('BodyEnd')}]"):
            parent = end.getparent()
            if parent is None:
                continue
            nxt = end.getnext()
            while nxt is not None:
                following = nxt.getnext()
                parent.remove(nxt)
                nxt = following
            end.tail = None
            parent.remove(end)
        body_html = inner_html(container).strip()
        if body_html:
            break

    if entry is not None:
        title = entry.title or title
        published = entry.published or published
        media = entry.media or media
        summary = entry.summary or summary
    if not title:
        raise ExtractionError(f"{url}: no title (div.title, div.newsContent h1, <title>)")
    if not body_html or not _has_content(body_html):
        raise ExtractionError(f"{url}: no body (#ContentBody)")
    return ArticleItem(
        source=SOURCE,
        article_id=article_id,
        title=title,
        published=published,
        body_html=body_html,
        url=entry.url if entry and entry.url else DEFAULT_ARTICLE_URL.format(id=article_id),
        media=media,
        feed=entry.feed if entry else "fetch",
        summary=summary,
        author=author,
    )


def _has_content(fragment: str) -> bool:
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    return bool(root.text_content().strip()) or bool(_els(root, ".//img"))


# ---------------------------------------------------------------------------------------------
# site-specific pre-clean


def _remove(el: Any) -> None:
    """Remove an element or comment with its content, keeping its tail text."""
    if el.getparent() is not None:
        el.drop_tree()


def _unwrap(el: lxml_html.HtmlElement) -> None:
    if el.getparent() is not None:
        el.drop_tag()


def _remove_stockimg_blocks(root: lxml_html.HtmlElement) -> None:
    """Drop everything between sibling ``<!-- EM_StockImg_Start -->`` / ``_End`` comments.

    Done on the DOM rather than with a regex so an unpaired start comment can never swallow
    article paragraphs up to some later end comment.
    """
    for start in root.xpath(".//comment()"):
        if start.getparent() is None or not _STOCKIMG_START.fullmatch(start.text or ""):
            continue
        between: list[Any] = []
        node = start.getnext()
        while node is not None:
            if isinstance(node, etree._Comment) and _STOCKIMG_START.fullmatch(node.text or ""):
                break
            if isinstance(node, etree._Comment) and _STOCKIMG_END.fullmatch(node.text or ""):
                start.tail = None  # text between the markers belongs to the widget
                for el in between:
                    el.tail = None
                    _remove(el)
                _remove(node)  # keeps the end comment's tail: article text again
                break
            between.append(node)
            node = node.getnext()
        _remove(start)


def preclean_body(html: str, *, base_url: str) -> CleanedBody:
    """Eastmoney widgets, ads and the 来源/责任编辑 lines out; article text, images, tables kept."""
    del base_url  # URLs are resolved by pipelines.sanitize; kept for a uniform pre-pass signature
    if not (html or "").strip():
        return CleanedBody(html="")
    root = lxml_html.fragment_fromstring(html, create_parent="div")

    _remove_stockimg_blocks(root)
    for comment in root.xpath(".//comment()"):  # also <!--IMG#0--> placeholders
        _remove(comment)
    for el in _els(root, ".//*[@style or @hidden]"):
        if el.get("hidden") is not None or _HIDDEN_STYLE.search(el.get("style") or ""):
            _remove(el)
    for el in _els(root, f".//a[{_cls('EmImageRemark')}] | .//img[contains(@src, 'webquoteklinepic.')]"):
        _remove(el)
    for el in _els(root, ".//span[starts-with(@id, 'quote_') or starts-with(@id, 'bkquote_')]"):
        _remove(el)
    ads = (
        f".//img[{_cls('em_handle_adv_close')}] | .//a[contains(@href, 'acttg.eastmoney.com')]"
        f" | .//div[{_cls('ad_context3')}] | .//a[{_cls('toplink')}]"
    )
    for el in _els(root, ads):
        _remove(el)
    for el in _els(root, ".//p | .//div"):
        if el.getparent() is not None and _text(el).startswith("郑重声明"):
            _remove(el)
    stock = (
        ".//span[starts-with(@id, 'stock_') or starts-with(@id, 'bk_') or starts-with(@id, 'Info.')]"
        f" | .//a[{_cls('keytip')} or {_cls('infokey')}] | .//span[{_cls('em_stock_key_common')}]"
    )
    for el in _els(root, stock):
        _unwrap(el)

    origin = ""
    media_lines = _els(root, f".//p[{_cls('em_media')}]")
    if not media_lines:
        media_lines = [
            p
            for p in _els(root, ".//p")
            if len(_text(p)) < 60 and "文章来源" in _text(p) and _ORIGIN.match(_text(p))
        ]
    if media_lines:
        last = media_lines[-1]
        match = _ORIGIN.match(_text(last))
        origin = match.group("v").strip() if match else _text(last)
        for el in media_lines:
            _remove(el)

    editor = ""
    for el in _els(root, ".//p | .//div"):
        if el.getparent() is None:
            continue
        value = _text(el)
        is_res_edit = "res-edit" in (el.get("class") or "").split()
        match = _EDITOR.match(value) if len(value) < 60 else None
        if match or is_res_edit:
            editor = editor or (match.group("v").strip() if match else value)
            _remove(el)

    for el in _els(root, ".//p | .//div | .//li | .//td | .//h1 | .//h2 | .//h3 | .//h4 | .//blockquote"):
        if el.text:
            el.text = el.text.lstrip(_INDENT)
    for el in _els(root, ".//br"):
        if el.tail:
            el.tail = el.tail.lstrip("\u3000")
    if root.text:
        root.text = root.text.lstrip(_INDENT)
    return CleanedBody(html=inner_html(root).strip(), origin=origin, editor=editor)
