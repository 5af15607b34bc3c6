"""Captures that don't pile up: rolled per Beijing day and size, nothing kept from a no-change run, a
torn tail survived, old files pruned — with ``archive rebuild`` still restoring posts from them.

The crawls are real ``wiremirror crawl`` subprocesses against the loopback upstream; each runs at a
chosen Beijing instant (the fake clock of tests/clock/sitecustomize.py), so the tests pass at any hour.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.captures import MEMBER_HEADER, ROLLED, complete_end, rolled_name
from crawler.archive.rebuild import rebuild
from crawler.archive.replay import capture_files, read_captures
from crawler.config import ConfigError, load_config, parse_config
from crawler.daemon import plan_jobs
from crawler.middlewares.capture import CaptureWriter
from crawler.state import StateStore
from crawler.timeutil import BEIJING, now_beijing
from tests.conftest import CLOCK_DIR, CLOCK_OFFSET_ENV, DEMO_DATA, REPO, posts_in, run_cli

SEED = "2022-04-08-NW202204082336871455.md"
NIO = "2022-05-26-NW202205262391921712.md"
FALLBACK = "2022-05-27-NW202205271234567890.md"
# a first run that mirrors one article and leaves two for the next run
ONLY_SEED = {"sources": {"eastmoney": {"media_allow": ["中国新闻网"]}}}


@pytest.fixture
def make_config(make_config):
    """These runs are about what a run captures: no rechecks (tests/test_revisions.py) add fetches."""

    def make(**overrides):
        return make_config(**{"revisions": {"recheck_after": []}, **overrides})

    return make


DAY = datetime(2026, 6, 10, 12, 0, tzinfo=BEIJING)


def crawl(toml: Path, at: datetime, source: str = "eastmoney") -> subprocess.CompletedProcess[str]:
    """``wiremirror crawl SOURCE`` with its wall clock starting at ``at``."""
    # the offset is from the real clock; under WIREMIRROR_TEST_CLOCK this process runs on a fake one
    real_now = time.time() - float(os.environ.get(CLOCK_OFFSET_ENV) or 0)
    env = {
        CLOCK_OFFSET_ENV: repr(at.timestamp() - real_now),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(CLOCK_DIR)]),
    }
    result = run_cli("crawl", source, "--config", str(toml), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def files_of(toml: Path) -> dict[str, str]:
    """Capture file name → sha256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in capture_files(load_config(toml))}


def responses(path: Path) -> list[str]:
    """Target URIs of the response records in ``path``, read with warcio alone."""
    with path.open("rb") as handle:
        return [
            r.rec_headers.get_header("WARC-Target-URI")
            for r in ArchiveIterator(handle)
            if r.rec_type == "response"
        ]


def rebuild_restores_every_post(toml: Path) -> None:
    """With every post deleted, ``archive rebuild`` brings all three back from the captures alone."""
    config = load_config(toml)
    for post in config.posts_dir.glob("*.md"):
        post.unlink()
    with StateStore(config.db_path) as state:
        report = rebuild(config, state)
    assert report.errors == []
    assert sorted(report.written) == [f"_posts/{name}" for name in (SEED, NIO, FALLBACK)]
    assert posts_in(config.output_dir) == [SEED, NIO, FALLBACK]


def test_two_runs_on_one_day_append_to_one_file(eastmoney_demo, make_config):
    crawl(make_config(**ONLY_SEED), DAY)
    toml = make_config()
    (first,) = files_of(toml)
    assert ROLLED.fullmatch(first) and first.startswith("2026-06-10-12")
    size = (load_config(toml).state_dir / "captures" / "eastmoney" / first).stat().st_size

    crawl(toml, DAY + timedelta(hours=3))
    (path,) = capture_files(load_config(toml))
    assert path.name == first and path.stat().st_size > size  # appended, not a second file
    urls = responses(path)
    assert sum("GetNewsText.do" in u for u in urls) == 3  # the first run's article and the second's two
    errors: list[str] = []
    assert len(list(read_captures(path, errors))) == len(urls) and errors == []
    eastmoney_demo.stop()
    rebuild_restores_every_post(toml)


def test_a_no_change_run_adds_no_file_and_no_bytes(eastmoney_demo, make_config):
    toml = make_config()
    crawl(toml, DAY)
    before = files_of(toml)
    eastmoney_demo.clear_requests()

    result = crawl(toml, DAY + timedelta(minutes=15))
    assert "new=0" in result.stdout
    assert [r.path for r in eastmoney_demo.requests if r.path != "/robots.txt"] == [
        "/comm/web/getNewsByColumns"
    ]
    assert files_of(toml) == before  # the list response it read is not kept: same files, same bytes


def test_a_chinanews_no_change_run_adds_nothing_either(loopback, make_config):
    """中国新闻网's lists (scroll pages, the day archives' catch-up) are context too."""
    loopback.load_manifest(DEMO_DATA / "chinanews")
    toml = make_config(sources={"eastmoney": {"enabled": False}})
    crawl(toml, DAY, "chinanews")
    before = files_of(toml)
    assert len(before) == 1
    loopback.clear_requests()
    result = crawl(toml, DAY + timedelta(hours=2), "chinanews")  # past day_archive_interval: lists re-read
    assert "new=0" in result.stdout and loopback.requests_to("/scroll-news/")
    assert files_of(toml) == before


def test_a_new_beijing_day_starts_a_new_file(eastmoney_demo, make_config):
    # one minute either side of midnight in Beijing: the same UTC day (2026-06-10), two Beijing days
    crawl(make_config(**ONLY_SEED), datetime(2026, 6, 10, 23, 58, 30, tzinfo=BEIJING))
    toml = make_config()
    crawl(toml, datetime(2026, 6, 11, 0, 1, tzinfo=BEIJING))
    first, second = capture_files(load_config(toml))
    assert first.name.startswith("2026-06-10-2358") and second.name.startswith("2026-06-11-0001")
    assert sum("GetNewsText.do" in u for u in responses(first)) == 1
    assert sum("GetNewsText.do" in u for u in responses(second)) == 2
    eastmoney_demo.stop()
    rebuild_restores_every_post(toml)


def test_a_file_past_max_file_mb_is_rolled(eastmoney_demo, make_config):
    toml = make_config(captures={"max_file_mb": 1}, **ONLY_SEED)
    crawl(toml, DAY)
    (path,) = capture_files(load_config(toml))
    # something else appended a large capture meanwhile (a fetch, say): the file is now past 1 MB
    writer = CaptureWriter(path.parent, DAY + timedelta(minutes=5), max_bytes=1024 * 1024)
    writer.write(
        url="http://127.0.0.1/big",
        status=200,
        headers=[("Content-Type", "application/octet-stream")],
        body=os.urandom(1024 * 1024 + 1),
        when=DAY,
        meta={"request_url": "http://127.0.0.1/big", "method": "GET", "wm_kind": "", "wm_context": None},
    )
    writer.close()
    assert writer.path == path and path.stat().st_size > 1024 * 1024
    full = path.read_bytes()

    toml = make_config(captures={"max_file_mb": 1})
    crawl(toml, DAY + timedelta(minutes=30))
    first, second = capture_files(load_config(toml))
    assert first == path and first.read_bytes() == full  # the full file is left as it was
    assert second.name.startswith("2026-06-10-1230")  # started by the later run
    assert sum("GetNewsText.do" in u for u in responses(second)) == 2
    eastmoney_demo.stop()
    rebuild_restores_every_post(toml)


def _record_ends(path: Path) -> list[int]:
    """Where each gzip member (WARC record) of ``path`` ends, from warcio's own offsets."""
    with path.open("rb") as handle:
        iterator = ArchiveIterator(handle)
        starts = [iterator.get_record_offset() for _ in iterator]
    return [*starts[1:], path.stat().st_size]


def test_a_torn_tail_is_cut_by_the_next_run_and_rebuild_reads_every_whole_record(eastmoney_demo, make_config):
    crawl(make_config(**ONLY_SEED), DAY)
    toml = make_config()
    (path,) = capture_files(load_config(toml))
    ends = _record_ends(path)
    original = path.read_bytes()
    # killed while writing the article's response record: cut it in its middle
    with path.open("rb") as handle:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in ArchiveIterator(handle)]
    torn = max(i for i, (kind, url) in enumerate(records) if kind == "response" and "GetNewsText" in url)
    cut = (ends[torn - 1] + ends[torn]) // 2
    with path.open("r+b") as handle:
        handle.truncate(cut)
    whole = list(read_captures(path))
    assert whole and not any("GetNewsText" in c.url for c in whole)  # the torn capture is lost, no more

    result = crawl(toml, DAY + timedelta(hours=1))
    assert (path,) == tuple(capture_files(load_config(toml)))  # appended to the same file, after the cut
    repaired = path.read_bytes()
    assert repaired[: ends[torn - 1]] == original[: ends[torn - 1]]  # every whole record kept as it was
    assert repaired[ends[torn - 1] :].startswith(MEMBER_HEADER)  # then the new run's records
    errors: list[str] = []
    after = list(read_captures(path, errors))
    assert errors == []  # nothing glued onto the torn record: the whole file reads
    assert [c.url for c in after[: len(whole)]] == [c.url for c in whole]
    assert sum("GetNewsText.do" in c.url for c in after) == 2  # the new run's (the torn one is gone)
    log = "\n".join(p.read_text(encoding="utf-8") for p in (load_config(toml).log_dir).rglob("*.log"))
    assert "cut off a torn record" in log + result.stderr
    eastmoney_demo.stop()
    config = load_config(toml)
    with StateStore(config.db_path) as state:
        report = rebuild(config, state)
    assert report.errors == [] and report.articles == 2


def _sample_file(folder: Path, count: int = 4) -> Path:
    writer = CaptureWriter(folder, DAY)
    for n in range(count):
        body = (f"<p>article {n}</p>" * 50).encode() + (os.urandom(3000) if n % 2 else b"")
        url = f"http://127.0.0.1/a/{n}.html"
        meta = {"request_url": url, "method": "GET", "wm_kind": "x", "wm_context": {"article_id": str(n)}}
        writer.write(url=url, status=200, headers=[], body=body, when=DAY, meta=meta)
    writer.close()
    assert writer.path is not None
    return writer.path


def test_complete_end_finds_the_last_whole_record_at_every_cut(tmp_path):
    path = _sample_file(tmp_path)
    data = path.read_bytes()
    ends = [0, *_record_ends(path)]
    assert data.count(MEMBER_HEADER) == len(ends) - 1  # one gzip member per record
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        with path.open("rb") as handle:
            assert complete_end(handle) == max(e for e in ends if e <= cut), cut


def test_a_tail_that_cannot_be_told_is_not_cut_and_the_next_record_goes_to_a_new_file(tmp_path):
    path = _sample_file(tmp_path)
    damaged = path.read_bytes() + b"not a gzip member"
    path.write_bytes(damaged)
    with path.open("rb") as handle:
        assert complete_end(handle) is None
    later = _sample_file(tmp_path, count=1)
    assert later != path and path.read_bytes() == damaged
    assert len(list(read_captures(later))) == 1


def test_concurrent_appenders_leave_every_record_whole(tmp_path):
    script = (
        "import sys; from datetime import datetime; from pathlib import Path\n"
        "from crawler.middlewares.capture import CaptureWriter\n"
        "w = CaptureWriter(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]))\n"
        "for n in range(150):\n"
        "    url = f'http://127.0.0.1/{sys.argv[3]}/{n}'\n"
        "    meta = {'request_url': url, 'method': 'GET', 'wm_kind': 'x', 'wm_context': {'article_id': str(n)}}\n"
        "    w.write(url=url, status=200, headers=[], body=b'x' * 20000 + bytes(range(256)) * 40,"
        " when=datetime.fromisoformat(sys.argv[2]), meta=meta)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), DAY.isoformat(), name], cwd=REPO)
        for name in ("a", "b", "c")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    by_file = {}
    for path in sorted(tmp_path.glob("*.warc.gz")):
        errors: list[str] = []
        by_file[path.name] = [c.url for c in read_captures(path, errors)]
        assert errors == [], path.name
    assert sum(len(urls) for urls in by_file.values()) == 450
    for name in ("a", "b", "c"):  # each process's records whole, in its order, in one file
        (mine,) = (found for urls in by_file.values() if (found := [u for u in urls if f"/{name}/" in u]))
        assert mine == [f"http://127.0.0.1/{name}/{n}" for n in range(150)]


def test_a_run_beside_another_capturing_process_gets_a_file_of_its_own(eastmoney_demo, make_config):
    crawl(make_config(**ONLY_SEED), DAY)
    toml = make_config()
    (path,) = capture_files(load_config(toml))
    before = path.read_bytes()
    with path.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a bare `scrapy crawl` appending to the day's file right now
        crawl(toml, DAY + timedelta(minutes=10))
    first, second = capture_files(load_config(toml))
    assert first == path and path.read_bytes() == before
    assert re.fullmatch(r"2026-06-10-1210\d\d-\d+\.warc\.gz", second.name)  # <day>-<HHMMSS>-<pid>
    assert sum("GetNewsText.do" in u for u in responses(second)) == 2
    eastmoney_demo.stop()
    rebuild_restores_every_post(toml)


# -- prune, stats, config, daemon ----------------------------------------------------------------


def _aged_file(folder: Path, name: str, written: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(MEMBER_HEADER + b"x" * 100)  # prune goes by name and time, never reads the file
    os.utime(path, (written.timestamp(), written.timestamp()))
    return path


def test_prune_removes_only_files_older_than_keep_days_and_dry_run_removes_nothing(make_config):
    toml = make_config()
    folder = load_config(toml).state_dir / "captures" / "eastmoney"
    now = now_beijing()

    def day(n: int) -> datetime:
        return (now - timedelta(days=n)).replace(hour=12, minute=0, second=0, microsecond=0)

    old = _aged_file(folder, rolled_name(day(10)), day(10))
    # a per-run file from before rolling
    old_format = _aged_file(folder, f"{day(5):%Y-%m-%d}-4242-{day(5):%H%M%S}.warc.gz", day(5))
    # started long ago, written to lately: its newest record counts
    written_lately = _aged_file(folder, rolled_name(day(6)), day(1))
    recent = _aged_file(folder, rolled_name(day(2)), day(2))
    today = _aged_file(folder, rolled_name(day(0)), now)
    other = _aged_file(folder.parent / "chinanews", rolled_name(day(30)), day(30))
    busy = _aged_file(folder.parent / "chinanews", rolled_name(day(20)), day(20))
    everything = {old, old_format, written_lately, recent, today, other, busy}

    dry = run_cli("archive", "captures", "prune", "--keep-days", "3", "--dry-run", "--config", str(toml))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert {p for p in everything if p.exists()} == everything
    assert f"would remove eastmoney/{old.name}" in dry.stdout and "bytes to free" in dry.stdout

    with busy.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as an appender holds it while it writes a record
        result = run_cli("archive", "captures", "prune", "--keep-days", "3", "--config", str(toml))
    assert result.returncode == 0, result.stdout + result.stderr
    assert {p for p in everything if p.exists()} == {written_lately, recent, today, busy}
    assert f"in use: chinanews/{busy.name}" in result.stdout
    for gone in (old, old_format, other):
        assert f"removed {gone.parent.name}/{gone.name}" in result.stdout
    assert f"{3 * 110:,}" in result.stdout  # bytes freed

    stats = run_cli("archive", "stats", "--config", str(toml))
    assert stats.returncode == 0, stats.stderr
    assert "captures per source" in stats.stdout and "capture files" in stats.stdout


def test_prune_takes_keep_days_from_the_config_and_refuses_to_prune_without_one(make_config):
    toml = make_config()
    refused = run_cli("archive", "captures", "prune", "--config", str(toml))
    assert refused.returncode == 2 and "keep_days is 0" in refused.stderr
    folder = load_config(toml).state_dir / "captures" / "eastmoney"
    forty_days_ago = now_beijing() - timedelta(days=40)
    old = _aged_file(folder, rolled_name(forty_days_ago), forty_days_ago)
    toml = make_config(captures={"keep_days": 30})
    result = run_cli("archive", "captures", "prune", "--config", str(toml))
    assert result.returncode == 0, result.stderr
    assert not old.exists()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_file_mb": 0}, "captures.max_file_mb: 0 is out of range (allowed: >= 1)"),
        ({"keep_days": -1}, "captures.keep_days: -1 is out of range (allowed: >= 0)"),
        ({"keep_days": "7"}, "captures.keep_days: expected int"),
        ({"max_size": 5}, "unknown key 'captures.max_size'"),
    ],
)
def test_captures_section_is_checked(section, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config({"captures": section})


def test_the_daemon_prunes_daily_only_when_keep_days_is_set():
    ids = {job.spec.id for job in plan_jobs(parse_config({}))}
    assert "housekeeping:captures" not in ids
    planned = plan_jobs(parse_config({"captures": {"keep_days": 30}}))
    (job,) = (j for j in planned if j.spec.id == "housekeeping:captures")
    assert job.spec.args == ("archive", "captures", "prune")
