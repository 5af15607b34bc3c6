"""The Jekyll site around the posts: the scaffold (layouts, config, feed) and the category pages.

Category pages come from the state store's registry of every category ever seen, not from the
posts currently in ``_posts`` (the predecessor's pages vanished with the 3-day window), and are
written through PostStore, so an unchanged page is never rewritten.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipelines.store import PostStore

if TYPE_CHECKING:
    from crawler.state import StateStore

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "site_template"
CATEGORY_DIR = "category"
# A slug that is safe as a file name and as one URL path segment. Registry slugs are always
# lower-case pinyin; imported legacy slugs may carry case or brackets, but never spaces or slashes.
SAFE_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.()\-]*$")


@dataclass(slots=True)
class InitResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # existing files that differ, left alone (no --force)


def template_files() -> list[str]:
    """Relative paths of every scaffold file, sorted."""
    return sorted(
        p.relative_to(TEMPLATE_DIR).as_posix()
        for p in TEMPLATE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def _set_key(text: str, pattern: str, key_line: str) -> str:
    new, count = re.subn(pattern, lambda _m: key_line, text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise ValueError(f"site template _config.yml has no line matching {pattern!r}")
    return new


def site_url(url: str) -> str:
    """Jekyll's ``url`` needs a scheme; the footer setting may be protocol-relative (``//host``)."""
    url = url.rstrip("/")
    return f"https:{url}" if url.startswith("//") else url


def render_config(*, title: str | None = None, url: str | None = None, archive_dir: str | None = None) -> str:
    """The template's _config.yml with the given values put in (others as shipped)."""
    text = (TEMPLATE_DIR / "_config.yml").read_text(encoding="utf-8")
    shipped = yaml.safe_load(text)
    if title is not None and title != shipped["title"]:
        text = _set_key(text, r"^title:.*$", f"title: {json.dumps(title, ensure_ascii=False)}")
    if url is not None and site_url(url) != shipped["url"]:
        text = _set_key(text, r"^url:.*$", f"url: {json.dumps(site_url(url), ensure_ascii=False)}")
    if archive_dir is not None and archive_dir != shipped["wiremirror"]["archive_dir"]:
        line = f"  archive_dir: {json.dumps(archive_dir, ensure_ascii=False)}"
        text = _set_key(text, r"^  archive_dir:.*$", line)
    return text


def init_site(
    directory: Path | str,
    *,
    force: bool = False,
    title: str | None = None,
    url: str | None = None,
    archive_dir: str | None = None,
) -> InitResult:
    """Write the scaffold into ``directory``; posts and category pages are never touched.

    An existing file with other content is kept unless ``force``: a site owner's edited layout
    must not be lost to a re-run.
    """
    store = PostStore(Path(directory))
    result = InitResult()
    for rel in template_files():
        if rel == "_config.yml":
            text = render_config(title=title, url=url, archive_dir=archive_dir)
        else:
            text = (TEMPLATE_DIR / rel).read_text(encoding="utf-8")
        current = store.read(rel)
        if current == text:
            result.unchanged.append(rel)
        elif current is not None and not force:
            result.kept.append(rel)
        else:
            store.write(rel, text)
            result.written.append(rel)
    for folder in ("_posts", CATEGORY_DIR, archive_dir or "old_post"):
        store.path_for(folder).mkdir(parents=True, exist_ok=True)
    return result


def category_relpath(slug: str) -> str:
    return f"{CATEGORY_DIR}/{slug}.html"


def front_matter_page(meta: dict[str, Any]) -> str:
    """A page that is front matter only (category and archive pages), as YAML that cannot break and
    that Jekyll reads back exactly (crawler.postformat's dumper)."""
    from crawler.postformat import dump_front_matter

    return f"---\n{dump_front_matter(meta)}---\n"


def ensure_category_page(store: PostStore, slug: str, title: str) -> bool:
    """Write ``category/<slug>.html`` when it is missing (a stat otherwise); True when written.

    A crawl calls this once per category it uses, so a page lost to a crash between registering
    the category and writing its page, or deleted by hand, comes back with the next post.
    """
    rel = category_relpath(slug)
    if not SAFE_SLUG.match(slug) or store.exists(rel):
        return False
    return store.write(rel, category_page(slug, title))


def category_page(slug: str, title: str) -> str:
    """The predecessor's category page (layout, title, category)."""
    return front_matter_page({"layout": "category", "title": title, "category": slug})


@dataclass(slots=True)
class CategoryPagesResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # slugs unsafe as a file name


def write_category_pages(state: StateStore, output_dir: Path | str) -> CategoryPagesResult:
    """One page per registry slug, titled ``<media>新闻``; only changed pages are written.

    Pages of slugs no longer in use are kept: old posts and the archive still link to them.
    """
    store = PostStore(Path(output_dir))
    result = CategoryPagesResult()
    for slug, _media, title in state.categories():
        if not SAFE_SLUG.match(slug):
            logger.warning("category slug %r is not safe as a file name; no page written", slug)
            result.skipped.append(slug)
            continue
        rel = category_relpath(slug)
        if store.write(rel, category_page(slug, title)):
            result.written.append(rel)
        else:
            result.unchanged.append(rel)
    return result
