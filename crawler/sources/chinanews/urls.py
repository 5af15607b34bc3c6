"""中国新闻网 URLs: every variant of an article URL reduced to one canonical form and id.

Every URL is reduced to its site path and re-rooted on the configured ``base_url``, so ``.com`` /
``.com.cn``, http / https, ``//…`` and relative links of the same article end up identical and a
loopback server can stand in for the site.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urljoin, urlsplit

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
URL_DATE = re.compile(r"/(?P<y>\d{4})/(?P<m>\d\d)-(?P<d>\d\d)/", re.ASCII)
ARCHIVE_PATH = re.compile(r"/scroll-news/(?:[\w-]+/)?\d{4}/\d{4}/news\.shtml$", re.ASCII)


def site_root(base_url: str) -> str:
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
    base = site_root(base_url)
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


def path_of(url: str) -> str:
    path = site_path(url)
    return path if path is not None else urlsplit(url).path


def article_id_from_url(url: str) -> str | None:
    """The numeric article id (any number of digits), or None for videos, photos and others."""
    if classify_url(url) != "article":
        return None
    match = _ARTICLE_PATH.match(path_of(url))
    return match.group("id") if match else None


def item_id_from_url(url: str) -> str | None:
    """The state id of any mirrored page: ``10606399``, ``v1069974`` (video), ``p1206069`` (photo).

    Videos and photos have their own id spaces that overlap the article ids numerically, so
    they get a letter prefix instead of sharing the article key space.
    """
    kind = classify_url(url)
    path = path_of(url)
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
    match = _ARTICLE_PATH.match(path_of(url))
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
    return site_root(base_url) + _PAGE_SUFFIX.sub(r"/\1.shtml", path)


def resolve_link(href: str, *, page_url: str, base_url: str) -> str | None:
    """An href found on a page, resolved against that page and re-rooted on ``base_url``."""
    href = (href or "").strip()
    if not href or href.startswith(("#", "javascript:", "mailto:")):
        return None
    page_path = site_path(page_url, base_url=base_url) or "/"
    absolute = urljoin(DEFAULT_BASE_URL + page_path, href)
    path = site_path(absolute, base_url=base_url)
    if path is None:
        return None
    return site_root(base_url) + path


def channel_of(url: str) -> str:
    path = path_of(url).strip("/")
    return path.split("/", 1)[0] if path else ""


def day_archive_url(base_url: str, day: date) -> str:
    """The all-channel day archive (one page per Beijing day; no crawler pages through it)."""
    return f"{site_root(base_url)}/scroll-news/{day:%Y}/{day:%m%d}/news.shtml"


def scroll_page_url(base_url: str, n: int) -> str:
    return f"{site_root(base_url)}/scroll-news/news{n}.html"


def rss_url(base_url: str, name: str) -> str:
    return f"{site_root(base_url)}/rss/{name}.xml"
