"""Reading post files as they are on disk — ours and the predecessor's, defects included.

Parsing never raises: a post whose front matter is broken comes back with ``error`` set, so
verify and import can report it and, where safe, repair it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from crawler.timeutil import BEIJING
from pipelines.render import SEED_KEYS

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
_LIQUID = re.compile(r"\{\{|\{%|%\}|\}\}")
# Ids in file names: Eastmoney ``NW<id>`` or the bare 17–18 digit id, 中国新闻网 ``cns<id>``.
_EASTMONEY_SLUG = re.compile(r"^(?:NW)?(?P<id>\d{17,20})$", re.IGNORECASE | re.ASCII)
_CHINANEWS_SLUG = re.compile(r"^cns(?P<id>[vp]?\d{5,12})$", re.ASCII)  # v…/p…: videos and galleries
_ARTICLE_ID = re.compile(r"^[vp]?\d+$", re.ASCII)


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


def iter_post_paths(output_dir: Path, archive_dir: str) -> Iterator[str]:
    """Relative paths of every post file in ``_posts`` and the archive folder, sorted."""
    for folder in ("_posts", archive_dir):
        base = output_dir / folder
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.is_file() and path.suffix in POST_EXTS and not path.name.startswith("."):
                yield f"{folder}/{path.name}"


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
    source, article_id = meta.get("source"), meta.get("article_id")
    if isinstance(source, str) and source and article_id is not None and _ARTICLE_ID.match(str(article_id)):
        return source, str(article_id)
    slug = post.slug
    if found := _EASTMONEY_SLUG.match(slug):
        return "eastmoney", found["id"]
    if found := _CHINANEWS_SLUG.match(slug):
        return "chinanews", found["id"]
    return None


def has_liquid(text: str) -> bool:
    """``{{``, ``{%`` and their closers: Liquid would parse them (GitHub Pages ignores render_with_liquid)."""
    return bool(_LIQUID.search(text))


def escape_liquid(text: str) -> str:
    """Entity-escape every brace: render-equivalent in HTML and Markdown, inert for Liquid."""
    return text.replace("{", "&#123;").replace("}", "&#125;")
