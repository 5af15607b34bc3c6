"""Cross-process locks: one crawl per source, one publish at a time, whoever started it.

Cron, systemd timers, the daemon and manual runs all take the same ``flock`` on
``<state>/locks/<name>.lock``. The lock belongs to the process doing the work (not a wrapper),
so it is released by the kernel when that process ends, however it ends: no stale lock files.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crawler.timeutil import iso, now_beijing

EXIT_LOCKED = 75  # EX_TEMPFAIL: "try again later" — cron and systemd treat it as a temporary failure

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class LockTimeout(Exception):
    """Another process held the lock for longer than we were willing to wait."""

    def __init__(self, name: str, holder_info: str, waited: float = 0.0) -> None:
        super().__init__(name, holder_info, waited)
        self.name = name
        self.holder_info = holder_info
        self.waited = waited

    def __str__(self) -> str:
        holder = self.holder_info or "holder unknown"
        return f"{self.name} is locked by another process ({holder}); gave up after {self.waited:.0f}s"


def crawl_lock_name(source: str) -> str:
    """The lock every writer of ``source``'s posts holds: its crawls, backfills and the archive tools."""
    return f"crawl-{source}"


def lock_path(state_dir: Path, name: str) -> Path:
    return Path(state_dir) / "locks" / f"{_SAFE_NAME.sub('_', name)}.lock"


def holder_info(path: Path) -> str:
    """What the current holder wrote into the lock file (pid, host, start time), or ``""``."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def is_locked(state_dir: Path, name: str) -> bool:
    """True when some process holds the lock right now (a quick, non-blocking probe)."""
    path = lock_path(state_dir, name)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def source_lock(state_dir: Path, name: str, timeout: float, *, poll: float = 0.2) -> Iterator[Path]:
    """Hold the exclusive lock ``name``; wait up to ``timeout`` seconds, then raise LockTimeout.

    The file is never deleted (deleting a flock file lets two processes lock two different
    inodes); it is only truncated, and it holds the holder's pid for error messages.
    """
    path = lock_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children (O_CLOEXEC)
    started = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= timeout:
                    raise LockTimeout(name, holder_info(path), waited) from None
                time.sleep(max(0.01, min(poll, timeout - waited)))
        os.ftruncate(fd, 0)
        command = " ".join(sys.argv[:4])
        os.pwrite(
            fd,
            f"pid={os.getpid()} host={socket.gethostname()} since={iso(now_beijing())} cmd={command}\n".encode(),
            0,
        )
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
