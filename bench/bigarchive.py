"""Large synthetic archives in seconds, for the benchmarks that compare a large archive with a small
one (no-change run, verify memory): one post rendered as a crawl renders it, stamped out with other
article ids, every one known to the state store; optionally a built ``_site/`` and a ``.git``.

Stamping (not rendering) each post keeps a 1,000,000-post archive to about a minute of set-up.
The posts are real posts for everything the commands read: file name, front matter, body,
content hash in the front matter equal to the state store's.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bench.render import SITE, quickly_cleaned_items
from crawler.matching import match_key
from crawler.postformat import render_post
from crawler.state import StateStore
from crawler.timeutil import iso, now_beijing
from pipelines.category import category_of

INSERT = (
    "INSERT OR REPLACE INTO articles(key, source, article_id, media, url, title, published, content_hash,"
    " post_path, match_key, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
ID_BASE = "2019"  # synthetic ids: 2019 + 14 digits, never those of bench.loopdata's upstream articles
CHUNK = 20_000


def stamp_archive(
    output: Path, db: Path, count: int, *, folder: str = "old_post", built_site: bool = False, first: int = 0
) -> int:
    """Posts ``first`` … ``first + count - 1`` in ``output/folder``, known to ``db`` (created if
    needed); with ``built_site`` also one page per post under ``_site/`` and a ``.git`` folder of as
    many objects, as a published site has. Returns the number of posts."""
    with StateStore(db) as state:  # the schema, and the category registry entry the post uses
        item = quickly_cleaned_items(1)[0]
        item.category, item.tag = category_of(state, item)
    rendered = render_post(item, SITE)
    template, template_id = rendered.text, item.article_id
    assert item.published is not None
    day = iso(item.published)
    name_template = Path(rendered.relpath).name
    stamp = iso(now_beijing())
    target = output / folder
    target.mkdir(parents=True, exist_ok=True)
    site = output / "_site" / "old_post"
    git = output / ".git" / "objects"
    if built_site:
        site.mkdir(parents=True, exist_ok=True)
        git.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        rows: list[tuple[object, ...]] = []
        for n in range(first, first + count):
            article_id = f"{ID_BASE}{n:014d}"
            name = name_template.replace(template_id, article_id)
            text = template.replace(template_id, article_id).encode("utf-8")
            _write(target / name, text)
            if built_site:
                _write(site / (name[:-3] + ".html"), text)
                _write(git / f"{n:038x}", text[:64])
            title = f"{item.title}{n}"
            rows.append(
                (
                    f"eastmoney:{article_id}",
                    "eastmoney",
                    article_id,
                    item.media,
                    item.url.replace(template_id, article_id),
                    title,
                    day,
                    rendered.content_hash,
                    f"{folder}/{name}",
                    match_key(title, item.published),
                    stamp,
                    stamp,
                )
            )
            if len(rows) >= CHUNK:
                _insert(conn, rows)
        _insert(conn, rows)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return count


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _insert(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    conn.execute("BEGIN")
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    rows.clear()
