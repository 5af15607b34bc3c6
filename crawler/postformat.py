"""The post format, in one place: what a post file is called, what its front matter holds and in
which order, how its body is protected, its content hash — and how a file on disk is read back.

Rendering (``render_post``) and reading (``parse_post``, ``article_key``) are inverse functions and
are tested as such (tests/test_postformat.py). The layout follows the predecessor's posts (the
golden seed) key for key: ``layout``, ``title``, ``date`` as ``YYYY-MM-DD HH:MM:SS +0800``,
``categories``, ``tags``, then provenance keys. YAML is produced by PyYAML's safe dumper, never by
string concatenation, so no title can break it; strings Ruby's YAML would read differently are
quoted. Reading never raises: a post whose front matter is broken comes back with ``error`` set, so
verify and import can report it and, where safe, repair it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from crawler import sources
from crawler.items import ArticleItem
from crawler.timeutil import BEIJING, beijing_date_str, iso, jekyll_date

# The seed's five keys, first and in this order, as the predecessor's posts have them.
SEED_KEYS = ("layout", "title", "date", "categories", "tags")
# Keys written after the seed's five, in this order; empty values are left out.
PROVENANCE_KEYS = (
    "revision",  # 2, 3 … once upstream corrected it (absent for the first version)
    "updated",  # when this revision was mirrored
    "retracted",  # when upstream withdrew it (the post stays; the layout says so)
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
# The revision marks are left out too: the hash identifies the content, whichever version it is.
VOLATILE_KEYS = frozenset({"fetched_at", "content_hash", "revision", "updated", "retracted"})

# URL characters kept as they are in the footer link; the rest ({ } < > spaces …) is percent-encoded
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


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


def post_slug(item: ArticleItem) -> str:
    """The id part of the file name, by the source's own rule (``NW<id>``, ``cns<id>`` …).

    The id is checked first: it becomes part of a path, so only the source's id format (ASCII
    letters and digits at most) may get this far.
    """
    source = sources.get(item.source)
    if not source.valid_id(item.article_id):
        raise ValueError(f"not a valid {item.source} article id: {item.article_id!r}")
    return source.post_slug(item)


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
        "revision": item.revision if item.revision > 1 else None,
        "updated": jekyll_date(item.updated) if item.updated else "",
        "retracted": jekyll_date(item.retracted) if item.retracted else "",
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


def ordered_front_matter(meta: dict[str, Any]) -> dict[str, Any]:
    """Our key order — the seed's five, the provenance keys, others as they come, the Liquid switch
    last — with the title double-quoted as the seed has it. Every writer of front matter uses it."""
    out = {k: meta[k] for k in (*SEED_KEYS, *PROVENANCE_KEYS) if k in meta}
    out.update((k, v) for k, v in meta.items() if k not in out)
    if "render_with_liquid" in out:
        out["render_with_liquid"] = out.pop("render_with_liquid")
    if isinstance(out.get("title"), str):
        out["title"] = QuotedStr(out["title"])
    return out


def dump_post(meta: dict[str, Any], body: str) -> str:
    """A post's text: front matter in our order and style, then the body as it is."""
    return f"---\n{dump_front_matter(ordered_front_matter(meta))}---\n{body}"


def with_front_matter(post: PostFile, changes: dict[str, Any]) -> RenderedPost | None:
    """``post`` with these front-matter keys set (None removes one) and its hash recomputed,
    exactly as rendering the article so would give; None when its front matter is unreadable."""
    if post.meta is None:
        return None
    meta = {k: v for k, v in post.meta.items() if k != "content_hash"}
    meta.update(changes)
    meta = {k: v for k, v in meta.items() if v is not None}
    body = post.body.removesuffix("\n")
    meta["content_hash"] = digest = content_hash_of(ordered_front_matter(meta), body)
    meta = ordered_front_matter(meta)
    return RenderedPost(
        relpath=post.relpath, text=dump_post(meta, body + "\n"), content_hash=digest, metadata=meta
    )


def with_alias(post: PostFile, alias: str) -> RenderedPost | None:
    """``post`` with ``alias`` added to its ``aliases:`` (sorted); None when unreadable or listed."""
    listed = [str(a) for a in (post.meta or {}).get("aliases") or []]
    if post.meta is None or alias in listed:
        return None
    return with_front_matter(post, {"aliases": sorted({*listed, alias})})


# Query parameters upstream changes on every request without changing the article: the token and
# timestamp of a chart image (webquoteklinepic.eastmoney.com/GetPic.aspx?…&token=…&at=1).
_NOISE_PARAMS = re.compile(r"(?<=[?&;])(token|at|t|ts|timestamp|_)=[^&;\"'\s<>]*")


def same_content(old: PostFile, new: RenderedPost) -> bool:
    """Whether two versions say the same to a reader: title, date, media and body, ignoring the
    per-request noise in URLs. A recheck that differs only so is not a revision."""
    fresh = parse_post(new.relpath, new.text)
    if old.meta is None or fresh.meta is None:
        return False
    if any(old.meta.get(k) != fresh.meta.get(k) for k in ("title", "date", "media")):
        return False
    return _NOISE_PARAMS.sub(r"\1=", old.body) == _NOISE_PARAMS.sub(r"\1=", fresh.body)


def render_post(item: ArticleItem, site: SiteSettings) -> RenderedPost:
    """Render a cleaned item (``body``, ``category`` and ``tag`` set) to its post."""
    if not item.body.strip():
        raise ValueError("an article without a body cannot be rendered")
    if not item.category or not item.tag:
        raise ValueError("category and tag must be assigned before rendering")
    meta = front_matter(item)
    body = "\n".join([item.body.strip(), "", *footer_lines(item, site)])
    meta["content_hash"] = digest = content_hash_of(meta, body)
    meta = ordered_front_matter(meta)
    return RenderedPost(
        relpath=post_relpath(item), text=dump_post(meta, body + "\n"), content_hash=digest, metadata=meta
    )


# -- text protection: what upstream text may become in a post ---------------------------------


def liquid_escape(text: str) -> str:
    """Entity-escape braces: render-equivalent in HTML, inert for Liquid."""
    return text.replace("{", "&#123;").replace("}", "&#125;")


# HTML's own specials, then every character that starts a span-level construct in kramdown or GFM
# (links, images, footnotes, emphasis, code, strikethrough, math, autolinks, escapes, table cells)
# or a kramdown extension/attribute list ({: …}, {::…}), and Liquid's braces.
_INERT = str.maketrans(
    {
        "&": "&amp;", "<": "&lt;", ">": "&gt;",
        "[": "&#91;", "]": "&#93;", "*": "&#42;", "_": "&#95;", "`": "&#96;", "~": "&#126;",
        "\\": "&#92;", "$": "&#36;", "|": "&#124;", "{": "&#123;", "}": "&#125;",
    }
)  # fmt: skip


# In a Markdown paragraph (not an HTML block) kramdown also rewrites quotes, dashes and dots into
# typographic characters ("x" → “x”, -- → –, ... → …): entities keep them as they are.
_NEEDS_INERT = re.compile(r"[&<>\[\]*_`~\\$|{}]")
_NEEDS_INERT_IN_MARKDOWN = re.compile(r"[&<>\[\]*_`~\\$|{}\"'.-]")
_INERT_IN_MARKDOWN = str.maketrans(
    {**{chr(k): v for k, v in _INERT.items()}, '"': "&quot;", "'": "&#39;", "-": "&#45;", ".": "&#46;"}
)


def inert_text(text: str, *, markdown: bool = False) -> str:
    """Plain text as HTML that stays the same text through kramdown and Liquid.

    Use it for every upstream string that goes into a post's body: an entity is never Markdown or
    Liquid syntax, and the browser shows the character. ``markdown=True`` for text that sits in a
    Markdown paragraph (the footer line) rather than inside an HTML block (the article body).
    """
    if markdown:
        return text.translate(_INERT_IN_MARKDOWN) if _NEEDS_INERT_IN_MARKDOWN.search(text) else text
    # most article text has none of these: a search is much cheaper than a per-character translate
    return text.translate(_INERT) if _NEEDS_INERT.search(text) else text


_LIQUID = re.compile(r"\{\{|\{%|%\}|\}\}")


def has_liquid(text: str) -> bool:
    """``{{``, ``{%`` and their closers: Liquid would parse them (GitHub Pages ignores render_with_liquid)."""
    return bool(_LIQUID.search(text))


# -- reading posts back ------------------------------------------------------------------------

# Jekyll's own rule (Document::DATE_FILENAME_MATCHER): YYYY-MM-DD-<slug>.<ext>
POST_NAME = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})-(?P<slug>[^/]+)\.(?P<ext>md|markdown|html)$", re.ASCII)
POST_EXTS = (".md", ".markdown", ".html")
REQUIRED_KEYS = SEED_KEYS  # what Jekyll and the layouts need of every post
# ``2022-05-26 00:19:55 +0800`` (Jekyll docs), ``+08:00`` (YAML dumpers), or no offset (oldest posts)
_DATE = re.compile(
    r"^\s*(?P<d>\d{4}-\d{1,2}-\d{1,2})(?:[ T]+(?P<t>\d{1,2}:\d{2}(?::\d{2})?))?"
    r"\s*(?P<z>Z|[+-]\d{2}:?\d{2})?\s*$"
)
_FRONT = re.compile(r"\A---[ \t]*\r?\n(?P<fm>.*?)(?:\r?\n)?^---[ \t]*$\r?\n?", re.DOTALL | re.MULTILINE)
# Ids in file names: Eastmoney ``NW<id>`` or the bare 17–18 digit id, 中国新闻网 ``cns<id>``.


_CSAFE = getattr(yaml, "CSafeLoader", None)


def load_front_matter(text: str) -> Any:
    """``yaml.safe_load`` through libyaml (about 10× faster) wherever that cannot change the outcome.

    libyaml accepts tabs where PyYAML's scanner refuses them, so text with a tab goes to PyYAML;
    anything libyaml refuses is parsed again by PyYAML, so errors read exactly as before.
    """
    if _CSAFE is not None and "\t" not in text:
        try:
            return yaml.load(text, Loader=_CSAFE)  # CSafeLoader is the safe loader, in C
        except (yaml.YAMLError, ValueError):
            pass
    return yaml.safe_load(text)


@dataclass(slots=True)
class PostFile:
    """One post file: its text, the parsed front matter (or why not) and what its name says."""

    relpath: str  # relative to the output dir
    text: str
    meta: dict[str, Any] | None = None
    body: str = ""
    error: str = ""  # why the front matter could not be read ("" when it could)
    leading_blank: bool = False  # front matter starts after blank lines: Jekyll sees none
    raw_front: str = ""  # the front-matter text, for repairs of unparseable YAML
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.relpath).name

    @property
    def name_match(self) -> re.Match[str] | None:
        return POST_NAME.match(self.name)

    @property
    def name_date(self) -> str | None:
        match = self.name_match
        return match["date"] if match else None

    @property
    def slug(self) -> str:
        """The id part of the name (``NW2022…``, ``2021…``, ``cns…``, ``init``)."""
        match = self.name_match
        if match:
            return match["slug"]
        stem = Path(self.name).stem
        return stem.lstrip("-")


def split_front_matter(text: str) -> tuple[str | None, str, bool]:
    """(front-matter text or None, body, started after blank lines)."""
    stripped = text.lstrip("\ufeff")
    leading = False
    if not stripped.startswith("---"):
        candidate = stripped.lstrip(" \t\r\n")
        if candidate.startswith("---") and candidate is not stripped:
            leading, stripped = True, candidate
    match = _FRONT.match(stripped)
    if not match:
        return None, text, leading
    return match["fm"], stripped[match.end() :], leading


def parse_post(relpath: str, text: str) -> PostFile:
    post = PostFile(relpath=relpath, text=text)
    front, body, leading = split_front_matter(text)
    post.leading_blank = leading
    post.body = body
    if front is None:
        post.error = "no front matter"
        return post
    post.raw_front = front
    try:
        meta = load_front_matter(front)
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an impossible date such as 2021-02-30
        post.error = f"front matter is not valid YAML: {' '.join(str(err).split())}"
        return post
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        post.error = f"front matter is a {type(meta).__name__}, not a mapping"
        return post
    post.meta = {str(k): v for k, v in meta.items()}
    return post


def read_post(path: Path, relpath: str) -> PostFile:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        post = PostFile(relpath=relpath, text=data.decode("utf-8", errors="replace"))
        post.error = f"not valid UTF-8 (Jekyll skips such files silently): {err}"
        return post
    return parse_post(relpath, text)


def iter_post_paths(output_dir: Path, archive_dir: str, *, sort: bool = True) -> Iterator[str]:
    """Relative paths of every post file in ``_posts`` and the archive folder, sorted per folder
    unless ``sort`` is False (then one directory entry at a time, whatever the folder's size)."""
    for folder in ("_posts", archive_dir):
        base = output_dir / folder
        if not base.is_dir():
            continue
        with os.scandir(base) as entries:
            names = (
                e.name
                for e in entries
                if not e.name.startswith(".") and os.path.splitext(e.name)[1] in POST_EXTS and e.is_file()
            )
            for name in sorted(names) if sort else names:
                yield f"{folder}/{name}"


# -- values -----------------------------------------------------------------------------------


def parse_post_date(value: Any) -> tuple[datetime | None, bool]:
    """(aware Beijing datetime or None, whether an offset was written).

    A value without an offset is read as Beijing time, as the predecessor meant it.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=BEIJING), False
        return value.astimezone(BEIJING), True
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=BEIJING), False
    if not isinstance(value, str):
        return None, False
    match = _DATE.match(value)
    if not match:
        return None, False
    try:
        day = date.fromisoformat("-".join(f"{int(p):02d}" for p in match["d"].split("-")))
    except ValueError:
        return None, False
    parts = [int(p) for p in (match["t"] or "0:00").split(":")] + [0]
    zone = match["z"]
    tz: timezone | Any = BEIJING
    if zone == "Z":
        tz = UTC
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        when = datetime(day.year, day.month, day.day, parts[0], parts[1], parts[2], tzinfo=tz)
    except ValueError:
        return None, False
    return when.astimezone(BEIJING), bool(zone)


def as_list(value: Any) -> list[str]:
    """A categories/tags value as Jekyll reads it: a string is split on whitespace."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and str(v) != ""]
    return str(value).split()


def first_value(value: Any) -> str:
    """The whole first category/tag as written (a multi-word string kept whole)."""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value).strip()


def article_key(post: PostFile) -> tuple[str, str] | None:
    """(source, article id) of a post: from its front matter, else from its file name."""
    meta = post.meta or {}
    name, article_id = meta.get("source"), meta.get("article_id")
    known = isinstance(name, str) and name in sources.names() and article_id is not None
    if known and sources.get(str(name)).valid_id(str(article_id)):
        return str(name), str(article_id)
    found = sources.for_slug(post.slug)
    return (found[0].name, found[1]) if found else None
