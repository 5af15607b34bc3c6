"""Captures and rebuild: a real crawl writes WARC files; rebuild re-renders from them without network.

The crawl is a real ``wiremirror crawl`` subprocess against the loopback upstream with the capture
middleware enabled; the rebuild runs with the upstream stopped.
"""

from __future__ import annotations

import gzip
import json
import re

import frontmatter
from scrapy import Request

from crawler.archive.captures import ROLLED
from crawler.archive.rebuild import rebuild
from crawler.archive.replay import capture_files, read_captures
from crawler.archive.rotate import rotate
from crawler.config import load_config
from crawler.state import StateStore
from pipelines.store import PostStore
from tests.conftest import posts_in, run_cli

SEED = "2022-04-08-NW202204082336871455.md"
NIO = "2022-05-26-NW202205262391921712.md"
FALLBACK = "2022-05-27-NW202205271234567890.md"
CAPTURE = "crawler.middlewares.capture.CaptureMiddleware"


def _middlewares() -> str:
    """The project's downloader middlewares plus the capture middleware (a no-op if already listed)."""
    from crawler import settings

    merged = {**getattr(settings, "DOWNLOADER_MIDDLEWARES", {}), CAPTURE: 60}
    return json.dumps(merged)


def _crawl(toml, *extra):
    return run_cli(
        "crawl", "eastmoney", "--config", str(toml), "-s", f"DOWNLOADER_MIDDLEWARES={_middlewares()}", *extra
    )


def captures_with_responses(path, errors=None):
    """(capture, the response it gives back) for every response captured in ``path``."""
    return [(c, c.response(Request(c.request_url))) for c in read_captures(path, errors)]


def _snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.glob("*.md"))}


def _without_fetched_at(text: str) -> str:
    return re.sub(r"^fetched_at: .*$", "fetched_at: X", text, flags=re.MULTILINE)


def test_crawl_captures_every_response_with_its_routing_data(eastmoney_demo, make_config, tmp_path):
    toml = make_config()
    result = _crawl(toml)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_config(toml)
    files = capture_files(config)
    assert len(files) == 1
    assert ROLLED.fullmatch(files[0].name)  # <Beijing day>-<HHMMSS>.warc.gz, the day's rolled file
    assert files[0].parent.name == "eastmoney"
    with gzip.open(files[0], "rb") as handle:
        assert handle.read(7) == b"WARC/1."
    captures = captures_with_responses(files[0])
    kinds = sorted(c.kind for c, _ in captures)
    assert kinds.count("eastmoney:text") == 3 and kinds.count("eastmoney:page") == 1
    assert "eastmoney:list" in kinds
    text, response = next(
        (c, r) for c, r in captures if c.kind == "eastmoney:text" and "NW202204082336871455" in c.url
    )
    assert response.status == 200 and text.context["article_id"] == "202204082336871455"
    assert text.context["media"] == "中国新闻网"
    assert "快手上线疫情求助入口" in response.body.decode("utf-8")
    assert response.headers.get("Content-Type") == b"application/json; charset=utf-8"
    assert (
        response.headers.get("Content-Encoding") is None
    )  # the body is stored decoded, as the spider saw it
    # every response the loopback served is in the file
    assert len(captures) == len(eastmoney_demo.requests)


def test_rebuild_without_changes_writes_nothing_and_is_byte_identical(eastmoney_demo, make_config, tmp_path):
    toml = make_config()
    assert _crawl(toml).returncode == 0
    config = load_config(toml)
    posts = config.posts_dir
    before = _snapshot(posts)
    served = len(eastmoney_demo.requests)
    eastmoney_demo.stop()

    result = run_cli("archive", "rebuild", "--config", str(toml))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "archive rebuild" in result.stdout
    assert _snapshot(posts) == before  # same bytes, not even rewritten
    assert len(eastmoney_demo.requests) == served  # no network

    with StateStore(config.db_path) as state:
        report = rebuild(config, state)
    assert report.articles == 3 and report.unchanged == 3 and report.written == [] and report.errors == []


def test_rebuild_restores_and_repairs_posts(eastmoney_demo, make_config, tmp_path):
    toml = make_config()
    assert _crawl(toml).returncode == 0
    config = load_config(toml)
    posts = config.posts_dir
    original = {name: data for name, (data, _) in _snapshot(posts).items()}
    # 1. a post lost from disk, 2. a post as an older cleaner/template rendered it
    (posts / SEED).unlink()
    stale = (posts / NIO).read_text(encoding="utf-8").replace("<p>", '<p class="old">', 1)
    (posts / NIO).write_text(stale, encoding="utf-8")
    untouched = (posts / FALLBACK).stat().st_mtime_ns

    with StateStore(config.db_path) as state:
        dry = rebuild(config, state, dry_run=True)
        assert sorted(dry.written) == [f"_posts/{SEED}", f"_posts/{NIO}"]
        assert not (posts / SEED).exists()
        report = rebuild(config, state)
        assert sorted(report.written) == [f"_posts/{SEED}", f"_posts/{NIO}"]
        assert report.unchanged == 1
        record = state.get_article("eastmoney:202205262391921712")
        assert record.content_hash == frontmatter.loads(original[NIO].decode()).metadata["content_hash"]

    assert (posts / NIO).read_bytes() == original[NIO]  # fetched_at kept from the file
    assert (posts / FALLBACK).stat().st_mtime_ns == untouched
    restored = (posts / SEED).read_text(encoding="utf-8")
    # restored from the capture: identical but for fetched_at, which is the capture's WARC-Date
    assert _without_fetched_at(restored) == _without_fetched_at(original[SEED].decode())
    from datetime import datetime

    got = datetime.fromisoformat(frontmatter.loads(restored).metadata["fetched_at"])
    was = datetime.fromisoformat(frontmatter.loads(original[SEED].decode()).metadata["fetched_at"])
    assert abs((got - was).total_seconds()) <= 2


def test_rebuild_keeps_archived_posts_archived(eastmoney_demo, make_config, tmp_path):
    toml = make_config()
    assert _crawl(toml).returncode == 0
    config = load_config(toml)
    with StateStore(config.db_path) as state:
        rotate(PostStore(config.output_dir), state, keep_days=3, archive_dir=config.output.archive_dir)
        archived = config.archive_dir / SEED
        archived.write_text(
            archived.read_text(encoding="utf-8").replace("<p>", '<p class="old">', 1), encoding="utf-8"
        )
        report = rebuild(config, state)
    assert report.written == [f"{config.output.archive_dir}/{SEED}"]
    assert posts_in(config.output_dir) == []
    assert 'class="old"' not in archived.read_text(encoding="utf-8")


def test_truncated_capture_file_is_used_up_to_the_damage(eastmoney_demo, make_config, tmp_path):
    toml = make_config()
    assert _crawl(toml).returncode == 0
    config = load_config(toml)
    (path,) = capture_files(config)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])  # a crawl killed mid-record
    errors: list[str] = []
    captures = captures_with_responses(path, errors)
    assert captures and errors and "unreadable after a point" in errors[0]
    with StateStore(config.db_path) as state:
        report = rebuild(config, state)
    assert report.errors and report.written == []


def test_captures_can_be_switched_off(eastmoney_demo, make_config, tmp_path):
    toml = make_config(crawl={"captures": False})
    assert _crawl(toml).returncode == 0
    config = load_config(toml)
    assert posts_in(config.output_dir) == [SEED, NIO, FALLBACK]
    assert capture_files(config) == []
    assert not (config.state_dir / "captures").exists()


def test_chinanews_rebuild_multi_page_and_gb2312(loopback, make_config, tmp_path):
    """The 中国新闻网 demo upstream: Template A/B, a three-page article and a GB2312 page."""
    from tests.conftest import DEMO_DATA

    loopback.load_manifest(DEMO_DATA / "chinanews")
    toml = make_config(sources={"eastmoney": {"enabled": False}})
    result = run_cli(
        "crawl", "chinanews", "--config", str(toml), "-s", f"DOWNLOADER_MIDDLEWARES={_middlewares()}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_config(toml)
    multi = "2021-06-01-cns9489001.md"
    assert multi in posts_in(config.output_dir)
    kinds = [c.kind for path in capture_files(config) for c, _ in captures_with_responses(path)]
    assert kinds.count("chinanews:page") == 2  # pages 2 and 3 of the multi-page article
    before = _snapshot(config.posts_dir)
    loopback.stop()
    with StateStore(config.db_path) as state:
        report = rebuild(config, state)
        assert report.errors == [] and report.written == []
        assert report.unchanged == len(before)
        original = (config.posts_dir / multi).read_bytes()
        (config.posts_dir / multi).write_text("---\nlayout: post\n---\nstale\n", encoding="utf-8")
        again = rebuild(config, state)
    assert again.written == [f"_posts/{multi}"]
    assert (config.posts_dir / multi).read_bytes() != b""
    # the three pages come back in order, from the captures alone
    text = (config.posts_dir / multi).read_text(encoding="utf-8")
    assert _without_fetched_at(text) == _without_fetched_at(original.decode("utf-8"))
    assert _snapshot(config.posts_dir).keys() == before.keys()


def test_rebuild_restores_every_post_as_the_crawl_wrote_it_with_late_aliases(eastmoney_demo, make_config):
    """Every post lost at once comes back byte for byte from the captures alone — also the one
    whose text API failed, answered by the article page's capture — and a key the state store
    learnt after the post was written joins its ``aliases``."""
    toml = make_config()
    assert _crawl(toml).returncode == 0
    config = load_config(toml)
    posts = config.posts_dir
    original = {name: data for name, (data, _) in _snapshot(posts).items()}
    assert sorted(original) == sorted([SEED, NIO, FALLBACK])
    late = "chinanews:9999001"
    with StateStore(config.db_path) as state:
        state.add_alias(late, "eastmoney:202205262391921712")
    for name in original:
        (posts / name).unlink()
    eastmoney_demo.stop()

    result = run_cli("archive", "rebuild", "--config", str(toml))
    assert result.returncode == 0, result.stdout + result.stderr

    assert posts_in(config.output_dir) == sorted(original)
    assert (posts / SEED).read_bytes() == original[SEED]
    assert (posts / FALLBACK).read_bytes() == original[FALLBACK]  # from the follow-up's capture
    nio = frontmatter.loads((posts / NIO).read_text(encoding="utf-8"))
    was = frontmatter.loads(original[NIO].decode("utf-8"))
    assert nio.metadata["aliases"] == [late]
    assert "aliases" not in was.metadata
    assert nio.content == was.content
    assert {k: v for k, v in nio.metadata.items() if k not in ("aliases", "content_hash")} == {
        k: v for k, v in was.metadata.items() if k != "content_hash"
    }
    with StateStore(config.db_path) as state:
        assert state.get_article("eastmoney:202205262391921712").content_hash == nio.metadata["content_hash"]
        assert state.aliases_of("eastmoney:202205262391921712") == [late]


def test_capture_reader_reads_what_warcio_reads(eastmoney_demo, loopback, make_config):
    """The fast reader (crawler.archive.warcfile) against warcio on a real crawl's captures:
    every response's URL, status, headers and body the same."""
    from warcio.archiveiterator import ArchiveIterator

    toml = make_config()
    assert _crawl(toml).returncode == 0
    (path,) = capture_files(load_config(toml))
    expected = []
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response":
                http = record.http_headers
                expected.append(
                    (
                        record.rec_headers.get_header("WARC-Target-URI"),
                        int(http.get_statuscode()),
                        list(http.headers),
                        record.content_stream().read(),
                    )
                )
    got = [(c.url, c.status, c.headers, c.body) for c in read_captures(path)]
    assert got == expected and len(got) == len(eastmoney_demo.requests)


def test_replay_streams_in_bounded_batches(tmp_path, monkeypatch):
    """However many captures a file holds, the rebuild looks up each batch of articles before it
    reads much further: never more than a few batches between the reader and the state store.
    (Counted, not timed: the old reader kept every item of a file before handing any on.) The
    keys already used move to disk past their limit and still skip nothing they should not."""
    from bench.archive_data import write_short_captures
    from crawler.archive import rebuild as rebuild_module
    from crawler.archive import replay, warcfile
    from crawler.archive.seen import SeenKeys
    from tests.archive_support import make_config as config_in

    count = 1500
    config = config_in(tmp_path)
    write_short_captures(config.state_dir, count, "http://127.0.0.1:9/NewsData/GetNewsText.do?id={id}")
    records = [0]
    lags: list[int] = []

    def counting(handle):
        for record in warcfile.read_records(handle):
            records[0] += 1
            yield record

    looked_up = [0]
    original = StateStore.articles_by_key

    def articles_by_key(self, keys):
        keys = list(keys)
        looked_up[0] += len(keys)
        lags.append(records[0] // 2 - looked_up[0])  # captures read but not yet looked up
        return original(self, keys)

    seen: list[SeenKeys] = []

    def small_seen():
        seen.append(SeenKeys(limit=100))
        return seen[-1]

    monkeypatch.setattr(replay, "read_records", counting)
    monkeypatch.setattr(replay, "SeenKeys", small_seen)
    monkeypatch.setattr(StateStore, "articles_by_key", articles_by_key)
    with StateStore(config.db_path) as state:
        report = rebuild(config, state)
    assert report.responses == count and report.articles == count and report.skipped == count
    assert report.errors == [] and report.written == []
    assert looked_up[0] == count and len(lags) == -(-count // rebuild_module.BATCH)
    assert max(lags) <= 2 and seen[0].spilled >= count - 100


def test_seen_keys_answer_the_same_in_memory_and_on_disk():
    from crawler.archive.seen import SeenKeys

    with SeenKeys(limit=3) as seen:
        assert [seen.add(f"k{n}", n // 4) for n in range(10)] == [True] * 10
        assert seen.spilled == 9  # three spills of three; k9 still in memory
        assert [seen.get(f"k{n}") for n in range(10)] == [n // 4 for n in range(10)]
        assert seen.get("other") is None
        assert seen.add("k0", 5) is False and seen.get("k0") == 5  # taken again, later in a file
