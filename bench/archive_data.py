"""Synthetic archives for the archive benchmarks: captures in the crawl's WARC format, posts, state.

Captures are written with the capture middleware's own ``CaptureWriter`` (the same records a crawl
writes), posts with ``render_post`` + ``PostStore``, and the state store rows in one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.loopdata import EastmoneyArticle, eastmoney_articles, list_payload
from bench.render import SITE, no_fsync, quickly_cleaned_items
from crawler.matching import match_key
from crawler.middlewares.capture import warc_date
from crawler.postformat import post_relpath, render_post
from crawler.sources.eastmoney.extract import ListEntry, parse_list_payload
from crawler.state import StateStore
from crawler.timeutil import iso, now_beijing
from pipelines.category import category_of
from pipelines.store import PostStore

ARTICLE_URL = "https://finance.eastmoney.com/a/{id}.html"
CHUNK = 2000


def entries_for(articles: list[EastmoneyArticle]) -> list[ListEntry]:
    """The list entries the spider would carry in ``wm_context`` for these articles."""
    page = parse_list_payload(
        json.dumps(list_payload(articles, page=1, page_size=len(articles), total=len(articles))),
        article_url=ARTICLE_URL,
    )
    return page.entries


def _chunks(count: int) -> Iterator[list[EastmoneyArticle]]:
    for start in range(0, count, CHUNK):
        yield eastmoney_articles(min(CHUNK, count - start), first=start)


def write_captures(state_dir: Path, count: int, text_url: str) -> int:
    """One WARC file of ``count`` GetNewsText responses as a crawl captures them; the record count."""
    from crawler.middlewares.capture import CaptureWriter

    writer = CaptureWriter(state_dir / "captures" / "eastmoney", now_beijing())
    when = now_beijing().replace(microsecond=0)
    try:
        for chunk in _chunks(count):
            for article, entry in zip(chunk, entries_for(chunk), strict=True):
                body = json.dumps({"text": article.body}, ensure_ascii=False).encode("utf-8")
                url = text_url.format(id=entry.info_code)
                meta = {
                    "request_url": url,
                    "method": "GET",
                    "wm_kind": "eastmoney:text",
                    "wm_context": entry.to_context(),
                }
                writer.write(
                    url=url,
                    status=200,
                    headers=[("Content-Type", "application/json; charset=utf-8")],
                    body=body,
                    when=when,
                    meta=meta,
                )
    finally:
        writer.close()
    return writer.records


def write_short_captures(state_dir: Path, count: int, text_url: str) -> int:
    """One WARC file of ``count`` GetNewsText responses with one-sentence bodies, for the memory
    benchmark: a million captures in about a minute, where ``write_captures`` takes a quarter
    of an hour.

    The records are the ones ``CaptureWriter`` writes (a gzip member each; the same WARC and HTTP
    headers and metadata JSON) less the digest headers, which no reader here checks.
    """
    folder = state_dir / "captures" / "eastmoney"
    folder.mkdir(parents=True, exist_ok=True)
    started = now_beijing()
    date = warc_date(started)
    with (folder / f"{started:%Y-%m-%d}-{os.getpid()}-{started:%H%M%S}.warc.gz").open("wb") as out:
        for article, entry in (
            (a, e) for chunk in _chunks(count) for a, e in zip(chunk, entries_for(chunk), strict=True)
        ):
            url = text_url.format(id=entry.info_code)
            meta = {
                "request_url": url,
                "method": "GET",
                "wm_kind": "eastmoney:text",
                "wm_context": entry.to_context(),
            }
            body = json.dumps({"text": f"<p>短讯{article.article_id}。</p>"}, ensure_ascii=False).encode(
                "utf-8"
            )
            http = b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n\r\n" + body
            response_id = f"<urn:uuid:{uuid.uuid4()}>"
            out.write(_member("response", response_id, url, date, "application/http; msgtype=response", http))
            payload = json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
            extra = f"WARC-Concurrent-To: {response_id}\r\n"
            out.write(
                _member(
                    "metadata", f"<urn:uuid:{uuid.uuid4()}>", url, date, "application/json", payload, extra
                )
            )
    return count


def _member(
    kind: str, record_id: str, url: str, date: str, content_type: str, block: bytes, extra: str = ""
) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: {record_id}\r\nWARC-Target-URI: {url}\r\n"
        f"WARC-Date: {date}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n"
    )
    # a 4 KiB window and a small state: these records are short, and zlib's set-up dominated
    packer = zlib.compressobj(6, zlib.DEFLATED, 12 | 16, 4)
    return packer.compress(head.encode("utf-8") + block + b"\r\n\r\n") + packer.flush()


def _row(item: Any, relpath: str, content_hash: str, stamp: str) -> tuple[Any, ...]:
    return (
        item.key,
        item.source,
        item.article_id,
        item.media,
        item.url,
        item.title,
        iso(item.published),
        content_hash,
        relpath,
        match_key(item.title, item.published),
        stamp,
        stamp,
    )


INSERT = (
    "INSERT OR REPLACE INTO articles(key, source, article_id, media, url, title, published, content_hash,"
    " post_path, match_key, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


def known_articles(state_path: Path, count: int, *, with_posts: PostStore | None = None) -> int:
    """Make the state store know ``count`` synthetic articles (and write their posts if asked)."""
    StateStore(state_path).close()  # schema
    stamp = iso(now_beijing())
    conn = sqlite3.connect(state_path, isolation_level=None)
    written = 0
    with StateStore(state_path) as state:
        categories: dict[str, tuple[str, str]] = {}
        for start in range(0, count, CHUNK):
            items = quickly_cleaned_items(min(CHUNK, count - start), offset=start)
            rows = []
            for item in items:
                if item.media not in categories:
                    categories[item.media] = category_of(state, item)
                item.category, item.tag = categories[item.media]
                rendered = render_post(item, SITE)
                if with_posts is not None:
                    with no_fsync():  # set-up only: the benchmarks time reading, not this
                        with_posts.write(rendered.relpath, rendered.text)
                    written += 1
                rows.append(_row(item, post_relpath(item), rendered.content_hash, stamp))
            conn.execute("BEGIN")
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")
    conn.close()
    return written
