"""``archive import DIR``: adopt an archive in the predecessor's format so its articles are never fetched again.

DIR is a site folder like the predecessor's repository: posts in ``_posts/`` and the flat
``old_post/`` archive (also the configured archive folder). Each article is recorded in the
state store under the key a crawl would use (``NW<id>`` and bare ``<id>`` files are both
``eastmoney:<id>``), its category enters the registry, and the file is copied byte for byte into
the same folder of the output site. Files with defects are reported and left out unless ``fix``,
which repairs them as ``archive verify --fix`` would; of two files of one article only the
better is taken. Files already in the site are never overwritten.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.archive.checks import Problem, check_post, post_quality
from crawler.archive.common import quarantine, quarantine_dir
from crawler.archive.repair import RepairContext, category_for, record_from_post, repair_post
from crawler.postformat import POST_EXTS, PostFile, article_key, first_value, read_post
from crawler.site import write_category_pages
from pipelines.store import PostStore

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.state import StateStore

logger = logging.getLogger(__name__)

PREDECESSOR_ARCHIVE = "old_post"


@dataclass(slots=True)
class ImportReport:
    found: int = 0
    imported: list[str] = field(default_factory=list)  # relpaths written into the site
    adopted: list[str] = field(default_factory=list)  # already in the site, now known
    known: list[str] = field(default_factory=list)  # article already in the state store with a post
    repaired: list[str] = field(default_factory=list)  # "<relpath>: <change>"
    duplicates: list[str] = field(default_factory=list)  # "<src> (same article as <kept>)"
    rejected: list[Problem] = field(default_factory=list)  # defects left (unfixable, or no --fix)
    manual: list[str] = field(default_factory=list)  # posts without an article id (e.g. init.md)
    conflicts: list[str] = field(default_factory=list)  # a different file of that name is in the site
    categories: list[str] = field(default_factory=list)  # category pages written

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.conflicts


def source_folders(source: Path, archive_dir: str) -> list[tuple[str, str]]:
    """(folder in DIR, folder in the site): ``_posts`` stays ``_posts``; old_post goes to the archive."""
    pairs = [("_posts", "_posts")]
    for name in dict.fromkeys((PREDECESSOR_ARCHIVE, archive_dir)):
        pairs.append((name, archive_dir))
    return [(src, dst) for src, dst in pairs if (source / src).is_dir()]


def import_archive(
    source: Path,
    config: Config,
    state: StateStore,
    *,
    fix: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    source = Path(source).resolve()
    site = PostStore(config.output_dir)
    in_place = source == site.root
    archive = config.output.archive_dir

    # read everything first: duplicates are decided over the whole set
    posts: list[tuple[str, PostFile]] = []  # (source path relative to DIR, post named by its site path)
    for src_folder, dst_folder in source_folders(source, archive):
        for path in sorted((source / src_folder).iterdir()):
            if not path.is_file() or path.suffix not in POST_EXTS or path.name.startswith("."):
                continue
            if progress:
                progress(f"{src_folder}/{path.name}")
            posts.append((f"{src_folder}/{path.name}", read_post(path, f"{dst_folder}/{path.name}")))
    report.found = len(posts)

    ctx = RepairContext(state=state)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, (_, post) in enumerate(posts):
        key = article_key(post)
        if key is None:
            report.manual.append(posts[index][0])
        else:
            groups[key].append(index)
    skip: set[int] = set()
    for key, indexes in groups.items():
        best = min(indexes, key=lambda i: (*post_quality(posts[i][1]), posts[i][0]))
        ctx.donors[key] = posts[best][1]
        for i in indexes:
            if i != best:
                skip.add(i)
                report.duplicates.append(f"{posts[i][0]} (same article as {posts[best][0]})")

    trash: Path | None = None
    for index, (src_rel, post) in enumerate(posts):
        key = article_key(post)
        if index in skip:
            if in_place:
                trash = trash or quarantine_dir(config)
                quarantine(site, post.relpath, trash)
            continue
        if key is not None:
            record = state.get_article(f"{key[0]}:{key[1]}")
            known_elsewhere = record is not None and record.post_path and site.exists(record.post_path)
            if known_elsewhere and not (in_place and record is not None and record.post_path == post.relpath):
                report.known.append(src_rel)
                continue
        problems = check_post(post)
        final = post
        if problems:
            repaired = repair_post(post, ctx) if fix else None
            if repaired is None:
                report.rejected.extend(Problem(src_rel, p.code, p.message, p.fixable) for p in problems)
                continue
            final, changes = repaired
            report.repaired.extend(f"{src_rel}: {change}" for change in changes)
        if not _place(site, src_rel, post, final, in_place=in_place, report=report):
            continue
        _register_category(ctx, final)
        if key is not None:
            record_from_post(state, config, final)
    report.categories = write_category_pages(state, config.output_dir).written
    return report


def _place(
    site: PostStore,
    src_rel: str,
    original: PostFile,
    final: PostFile,
    *,
    in_place: bool,
    report: ImportReport,
) -> bool:
    """Put ``final`` at its site path; False (and a conflict) when another file is there."""
    current = site.read(final.relpath) if site.exists(final.relpath) else None
    if current is not None and current != final.text and not (in_place and final.relpath == original.relpath):
        report.conflicts.append(f"{src_rel} → {final.relpath}")
        return False
    if current == final.text:
        report.adopted.append(final.relpath)
    else:
        site.write(final.relpath, final.text)
        report.imported.append(final.relpath)
    if in_place and final.relpath != original.relpath:
        site.remove(original.relpath)
    return True


def _register_category(ctx: RepairContext, post: PostFile) -> None:
    if post.meta is None:
        return
    slug, tag = first_value(post.meta.get("categories")), first_value(post.meta.get("tags"))
    if slug:
        category_for(ctx, slug, tag, register=True)
