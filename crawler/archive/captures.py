"""Capture files on disk: which file a run appends to, a torn tail, pruning, and their sizes.

Names: ``<state>/captures/<source>/<YYYY-MM-DD>-<HHMMSS>.warc.gz``, the Beijing day and time the
file was started (files from before rolling, ``<YYYY-MM-DD>-<pid>-<HHMMSS>.warc.gz``, stay as they
are and are read like the others), and ``<YYYY-MM-DD>-<HHMMSS>-<pid>.warc.gz`` for a run that
found the day's file locked by another process (never appended to afterwards). All start with the
day, which is what ``crawler/archive/replay.py::capture_files`` sorts and filters by, and the rolled
names of one day sort in the order they were started.

A run appends to the newest rolled file of its (Beijing) day while that file is smaller than
``[captures] max_file_mb``; otherwise it starts a new one. The choice is made once per run, so one
run's captures are always in one file: replay answers an article's follow-up pages from the same
file (a file can therefore pass the size by one run's captures).

A crawl killed while appending leaves a torn gzip member at the end. warcio reads everything
before it; the next run cuts it off (:func:`complete_end`) under the file's flock before it
writes, so no record is ever glued onto a torn one, and rebuilds stop reporting the damage.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from crawler.timeutil import BEIJING, now_beijing

if TYPE_CHECKING:
    from crawler.config import Config

logger = logging.getLogger(__name__)

SUFFIX = ".warc.gz"
MIB = 1024 * 1024
ROLLED = re.compile(r"\d{4}-\d{2}-\d{2}-\d{6}\.warc\.gz")  # the names this module starts (and appends to)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# The 10-byte gzip header warcio writes for every record (its GzippingWrapper: zlib level 9, wbits
# 31, no name or time), computed the same way so it holds for this machine's zlib.
MEMBER_HEADER = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS + 16).flush()[:10]
_TAIL_LIMIT = 64 * MIB  # how far back a torn member is looked for (a record is at most [crawl] max_size)
_CHUNK = 256 * 1024


def rolled_name(started: datetime, pid: int | None = None) -> str:
    """The day's file started at ``started``; with ``pid``, one process's own file (see the middleware)."""
    own = f"-{pid}" if pid is not None else ""
    return f"{started.astimezone(BEIJING):%Y-%m-%d-%H%M%S}{own}{SUFFIX}"


def file_to_append(folder: Path, started: datetime, max_bytes: int) -> Path:
    """The source's file for the day of ``started``: its newest rolled file while it is below
    ``max_bytes``, else a new name (created on the first write)."""
    day = f"{started.astimezone(BEIJING):%Y-%m-%d}"
    todays = sorted(p for p in folder.glob(f"{day}-*{SUFFIX}") if ROLLED.fullmatch(p.name))
    if todays:
        try:
            if todays[-1].stat().st_size < max_bytes:
                return todays[-1]
        except FileNotFoundError:  # pruned meanwhile
            pass
    return folder / rolled_name(started)


# -- a torn tail -------------------------------------------------------------------------------


def _member_end(handle: IO[bytes], start: int, size: int) -> int | None:
    """Where the gzip member starting at ``start`` ends, or None when it is torn (or not a member)."""
    handle.seek(start)
    inflate = zlib.decompressobj(zlib.MAX_WBITS + 16)
    offset = start  # the file offset just after the bytes read so far
    while offset < size:
        data = handle.read(min(_CHUNK, size - offset))
        if not data:
            return None
        offset += len(data)
        try:
            while data:
                inflate.decompress(data, _CHUNK)  # only where the member ends matters, not its text
                if inflate.eof:
                    return offset - len(inflate.unused_data)
                data = inflate.unconsumed_tail
        except zlib.error:
            return None
    return None


def _member_starts(handle: IO[bytes], size: int) -> Iterator[int]:
    """Offsets of gzip member headers in the last ``_TAIL_LIMIT`` bytes, last first, read lazily."""
    low = max(0, size - _TAIL_LIMIT)
    end = size
    while end > low:
        begin = max(low, end - 4 * _CHUNK)
        handle.seek(begin)
        # read a header's length past ``end``, so a header across the window edge is found too
        window = handle.read(min(size, end + len(MEMBER_HEADER) - 1) - begin)
        at = len(window)
        offsets = []
        while (at := window.rfind(MEMBER_HEADER, 0, at)) >= 0:
            if begin + at < end:
                offsets.append(begin + at)
        yield from offsets
        end = begin


def complete_end(handle: IO[bytes]) -> int | None:
    """How much of a capture file is whole gzip members: its size when intact; the end of the last
    whole member when a torn one follows it; None when that cannot be told (nothing is cut then).

    Walks the member headers near the end, last first, past torn members to the first whole one:
    it must end at the end of the file or where a torn member begins. Anything else after it (bytes
    no writer of ours leaves) is damage we do not understand, and is left alone.
    """
    size = handle.seek(0, os.SEEK_END)
    later: set[int] = set()  # the headers after the one being tried: torn members (or header-like bytes)
    for start in _member_starts(handle, size):
        end = _member_end(handle, start, size)
        if end is not None:
            return end if end in later or _torn_header(handle, end, size) else None
        later.add(start)
    # no whole member: the first record itself was torn (or the file is empty)
    return 0 if 0 in later or _torn_header(handle, 0, size) else None


def _torn_header(handle: IO[bytes], end: int, size: int) -> bool:
    """Whether the bytes from ``end`` on are nothing or the beginning of a member header."""
    handle.seek(end)
    return MEMBER_HEADER.startswith(handle.read(min(size - end, len(MEMBER_HEADER))))


# -- what is on disk, and pruning ----------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class CaptureFile:
    path: Path
    day: date  # the day in its name: when it was started
    newest: date  # the Beijing day it was last written to (its mtime), never before ``day``
    size: int

    @property
    def source(self) -> str:
        return self.path.parent.name


def describe(path: Path) -> CaptureFile | None:
    """What prune and stats need of one file; None for a name without a day (never pruned)."""
    if not _DAY.fullmatch(path.name[:10]):
        return None
    try:
        day = date.fromisoformat(path.name[:10])
        stat = path.stat()
    except (ValueError, FileNotFoundError):
        return None
    written = datetime.fromtimestamp(stat.st_mtime, BEIJING).date()
    return CaptureFile(path, day, max(day, written), stat.st_size)


def capture_files_on_disk(config: Config) -> list[CaptureFile]:
    """Every dated capture file, oldest first: the files ``archive rebuild`` reads."""
    from crawler.archive.replay import capture_files

    return [found for path in capture_files(config) if (found := describe(path)) is not None]


@dataclass(slots=True)
class PruneResult:
    cutoff: date  # files last written before this Beijing day are removed
    removed: list[CaptureFile] = field(default_factory=list)
    busy: list[Path] = field(default_factory=list)  # being appended to right now: left for next time
    kept: int = 0

    @property
    def freed(self) -> int:
        return sum(f.size for f in self.removed)


def prune(
    config: Config, keep_days: int, *, dry_run: bool = False, now: datetime | None = None
) -> PruneResult:
    """Delete whole capture files whose newest record is older than ``keep_days`` Beijing days
    (``keep_days=3``: today and the two days before are kept, as ``archive rotate`` counts).

    A file is deleted under its flock, so never while a run is appending to it (a run that finds
    its file deleted between opening and locking it creates it again).
    """
    from crawler.archive.rotate import cutoff_day

    result = PruneResult(cutoff_day(keep_days, now or now_beijing()))
    for found in capture_files_on_disk(config):
        if found.newest >= result.cutoff:
            result.kept += 1
        elif dry_run or (removed := _remove_unless_busy(found.path)):
            result.removed.append(found)
        elif removed is False:
            result.busy.append(found.path)
    return result


def _remove_unless_busy(path: Path) -> bool | None:
    """Delete ``path`` unless a run holds its flock: True deleted, False busy, None already gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)  # releases the flock


@dataclass(slots=True)
class SourceUsage:
    files: int = 0
    bytes: int = 0
    first_day: str = ""
    last_day: str = ""


def usage(config: Config) -> dict[str, SourceUsage]:
    """Capture files and bytes per source (``archive stats``)."""
    out: dict[str, SourceUsage] = {}
    for found in capture_files_on_disk(config):
        entry = out.setdefault(found.source, SourceUsage())
        entry.files += 1
        entry.bytes += found.size
        entry.first_day = min(entry.first_day or found.day.isoformat(), found.day.isoformat())
        entry.last_day = max(entry.last_day, found.newest.isoformat())
    return out
