"""Pure rendering: a cleaned ArticleItem → the Jekyll post text and its path.

The layout follows the predecessor's posts (the golden seed) key for key: ``layout``, ``title``,
``date`` as ``YYYY-MM-DD HH:MM:SS +0800``, ``categories``, ``tags``, then provenance keys. YAML is
produced by PyYAML's safe dumper, never by string concatenation, so no title can break it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from crawler.items import ArticleItem
from crawler.timeutil import beijing_date_str, iso, jekyll_date
from pipelines.sanitize import inert_text

# The seed's five keys, first and in this order, as the predecessor's posts have them.
SEED_KEYS = ("layout", "title", "date", "categories", "tags")
# Keys written after the seed's five, in this order; empty values are left out.
PROVENANCE_KEYS = (
    "source",
    "source_url",
    "media",
    "origin",
    "author",
    "editor",
    "article_id",
    "aliases",
    "excerpt",
    "fetched_at",
    "content_hash",
    "render_with_liquid",
)
# Keys that do not change what a reader sees; they are left out of the content hash so a
# re-fetch of an unchanged article renders to the same hash and is not rewritten.
VOLATILE_KEYS = frozenset({"fetched_at", "content_hash"})

# URL characters kept as they are in the footer link; the rest ({ } < > spaces …) is percent-encoded
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"

EMNEWS_MEDIA = "东财滚动新闻"
EMNEWS_SLUG = "emnews"


@dataclass(slots=True, frozen=True)
class SiteSettings:
    url: str = "//finews.withounder.com"  # footer links: <url>/category/<slug>.html and <url>/


@dataclass(slots=True, frozen=True)
class RenderedPost:
    relpath: str  # relative to the output dir, e.g. _posts/2022-04-08-NW202204082336871455.md
    text: str
    content_hash: str
    metadata: dict[str, Any]


class QuotedStr(str):
    """A string the dumper always writes double-quoted (titles, as the seed does)."""


class _PostDumper(yaml.SafeDumper):
    pass


def _represent_quoted(dumper: yaml.representer.SafeRepresenter, data: QuotedStr) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')


# Jekyll reads front matter with Ruby's Psych, which turns some plain scalars that PyYAML writes as
# strings into other types: ":x" into a Symbol (which Jekyll's safe loader refuses, so the whole page
# is lost) and "1,000" or "0x1f" into numbers. Such strings are written double-quoted.
_PSYCH_NOT_STRING = re.compile(
    r"^(?::|[-+]?[0-9.][0-9_,:.]*(?:[eE][-+]?[0-9]+)?$|[-+]?0[xob][0-9a-fA-F_,]*$)"
)


def _represent_str(dumper: yaml.representer.SafeRepresenter, data: str) -> yaml.ScalarNode:
    if _PSYCH_NOT_STRING.match(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_str(data)


_PostDumper.add_representer(QuotedStr, _represent_quoted)
_PostDumper.add_representer(str, _represent_str)

# libyaml's emitter is ~10x faster and writes the same bytes as the pure-Python one for printable
# Basic-Multilingual-Plane text (a Hypothesis test in tests/test_bench_smoke.py checks it). It
# differs elsewhere (it escapes astral characters such as 𠀀 and some controls), so anything else
# goes through the Python emitter: the bytes, and so the content hashes, never depend on which ran.
_FastPostDumper: type[Any] | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CPostDumper(yaml.CSafeDumper):
        pass

    _CPostDumper.add_representer(QuotedStr, _represent_quoted)
    _CPostDumper.add_representer(str, _represent_str)
    _FastPostDumper = _CPostDumper

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

# Characters that YAML would escape anyway, that XML (the feed) cannot hold, or that make titles
# unreadable in layouts: C0/C1 controls, line/paragraph separators, BOM, non-characters, lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# What a reader cannot see: whitespace, controls, format characters (zero-width, bidi marks, soft
# hyphen), unassigned and combining marks with nothing to combine with.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Cs", "Co", "Zs", "Zl", "Zp", "Mn", "Me"})


def clean_text(value: str) -> str:
    """Single-line, control-free text for front matter values."""
    return " ".join(_CONTROL.sub("", value).split())


def has_visible_text(value: str) -> bool:
    """False for text a reader would see as empty (``\u200b``, bidi marks, ideographic spaces…)."""
    return any(unicodedata.category(ch) not in _INVISIBLE_CATEGORIES for ch in value)


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host: the only kind a post may link to or record as its source."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not any(ch.isspace() for ch in url)
        and not _CONTROL.search(url)
    )


# Digits, or for 中国新闻网 videos/galleries (their own id spaces) a one-letter prefix: v123, p456.
_SAFE_ID = re.compile(r"[vp]?[0-9]+")


def valid_article_id(article_id: str) -> bool:
    """Ids become file names: only digits (and the v/p prefix) can never traverse or collide."""
    return bool(_SAFE_ID.fullmatch(article_id))


def post_slug(item: ArticleItem) -> str:
    """The id part of the file name. ``NW<id>`` for Eastmoney media posts, the bare id for
    Eastmoney's own rolling news (as the predecessor named them), ``cns<id>`` for 中国新闻网 so its
    7–8 digit ids can never collide with Eastmoney's 17–18 digit ones."""
    if not valid_article_id(item.article_id) or (
        item.source != "chinanews" and not (item.article_id.isascii() and item.article_id.isdigit())
    ):
        raise ValueError(f"article id must be digits only, got {item.article_id!r}")
    if item.source == "chinanews":
        return f"cns{item.article_id}"
    if item.media and item.media != EMNEWS_MEDIA:
        return f"NW{item.article_id}"
    return item.article_id


def post_relpath(item: ArticleItem) -> str:
    if item.published is None:
        raise ValueError("an article without a publish time has no post path")
    return f"_posts/{beijing_date_str(item.published)}-{post_slug(item)}.md"


def _scalar_or_list(value: str) -> str | list[str]:
    # Jekyll splits a string category/tag on whitespace; a list keeps a multi-word value whole.
    return [value] if any(ch.isspace() for ch in value) else value


def front_matter(item: ArticleItem) -> dict[str, Any]:
    if item.published is None:
        raise ValueError("an article without a publish time cannot be rendered")
    meta: dict[str, Any] = {
        "layout": "post",
        "title": QuotedStr(clean_text(item.title)),
        "date": jekyll_date(item.published),
        "categories": _scalar_or_list(item.category),
        "tags": _scalar_or_list(item.tag),
    }
    extra: dict[str, Any] = {
        "source": item.source,
        "source_url": item.url,
        "media": clean_text(item.media),
        "origin": clean_text(item.origin),
        "author": clean_text(item.author),
        "editor": clean_text(item.editor),
        "article_id": item.article_id,
        "aliases": sorted(item.aliases),
        "excerpt": clean_text(item.summary)[:300],
        "fetched_at": iso(item.fetched_at) if item.fetched_at else "",
        "render_with_liquid": False,
    }
    for key in PROVENANCE_KEYS:
        value = extra.get(key)
        if value not in ("", None, []):
            meta[key] = value
    return meta


def _emitter_neutral(value: Any) -> bool:
    """True when both emitters write ``value`` identically: printable BMP strings, bools, lists, dicts."""
    if isinstance(value, str):
        return value.isprintable() and not _ASTRAL.search(value)
    if isinstance(value, bool):
        return True
    if isinstance(value, list):
        return all(_emitter_neutral(v) for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _emitter_neutral(k) and _emitter_neutral(v) for k, v in value.items()
        )
    return False


def dump_front_matter(meta: dict[str, Any]) -> str:
    dumper = _FastPostDumper if _FastPostDumper is not None and _emitter_neutral(meta) else _PostDumper
    return yaml.dump(
        meta, Dumper=dumper, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1 << 30
    )


def footer_lines(item: ArticleItem, site: SiteSettings) -> list[str]:
    """The seed's link line and its "back to category | home" line.

    This is Markdown built from upstream text, so nothing upstream is trusted in it: the media name
    is written as inert text (no HTML, Markdown or Liquid, which GitHub Pages' Jekyll 3 would run
    despite render_with_liquid), the slug is the registry's ASCII one, and the URL is an http(s)
    URL (checked by validation) percent-encoded so that it cannot close its ``<…>`` autolink.
    """
    url = item.share_url or item.url
    if not is_web_url(url):
        raise ValueError(f"not an http(s) URL: {url!r}")
    link = quote(url, safe=_URL_SAFE)
    base = site.url.rstrip("/")
    tag = inert_text(clean_text(item.tag), markdown=True)
    return [
        f"<{link}>",
        "",
        f"[返回{tag}]({base}/category/{item.category}.html)｜[返回首页]({base}/)",
    ]


def content_hash_of(meta: dict[str, Any], body: str) -> str:
    """What a reader sees, hashed: front matter (less the volatile keys) and body.

    JSON, not the YAML dump, is hashed: it is deterministic for these values and costs a tenth.
    """
    stable = [(k, v) for k, v in meta.items() if k not in VOLATILE_KEYS]
    serial = json.dumps(stable, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(serial.encode("utf-8") + b"\0" + body.encode("utf-8"))
    return digest.hexdigest()[:16]


def render_post(item: ArticleItem, site: SiteSettings) -> RenderedPost:
    """Render a cleaned item (``body``, ``category`` and ``tag`` set) to its post."""
    if not item.body.strip():
        raise ValueError("an article without a body cannot be rendered")
    if not item.category or not item.tag:
        raise ValueError("category and tag must be assigned before rendering")
    meta = front_matter(item)
    body = "\n".join([item.body.strip(), "", *footer_lines(item, site)])
    digest = content_hash_of(meta, body)
    meta["content_hash"] = digest
    # content_hash sits before render_with_liquid to keep that switch last and easy to spot
    if "render_with_liquid" in meta:
        meta["render_with_liquid"] = meta.pop("render_with_liquid")
    text = f"---\n{dump_front_matter(meta)}---\n{body}\n"
    return RenderedPost(relpath=post_relpath(item), text=text, content_hash=digest, metadata=meta)
