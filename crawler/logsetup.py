"""Log files: one file per crawl run (pruned to ``[logging] keep``) and the daemon's own log.

A file per run makes "what happened at 03:15" a single ``less``; unique names (time + pid) mean
a crawl that lost the lock race never rotates away the log of the crawl that won it. The daemon
log uses a WatchedFileHandler so ``deploy/logrotate/wiremirror`` can rotate it under us.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from crawler.config import Config
from crawler.timeutil import BEIJING, now_beijing, to_beijing

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_HANDLER_MARK = "_wiremirror_handler"


def _level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO


def run_log_path(cfg: Config, source: str, started: datetime | None = None) -> Path:
    """``<log dir>/<source>/<YYYYmmdd-HHMMSS>-<pid>.log``: names sort in run order."""
    stamp = to_beijing(started or now_beijing()).strftime("%Y%m%d-%H%M%S")
    return cfg.log_dir / source / f"{stamp}-{os.getpid()}.log"


def run_logs(cfg: Config, source: str) -> list[Path]:
    """A source's run logs, oldest first (one small folder; never the posts)."""
    folder = cfg.log_dir / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".log")


def _prune(cfg: Config, source: str, keep_path: Path) -> None:
    keep = max(1, cfg.logging.keep)
    old = [p for p in run_logs(cfg, source) if p != keep_path]
    for path in old[: max(0, len(old) - (keep - 1))]:
        path.unlink(missing_ok=True)


class _ZonedFormatter(logging.Formatter):
    """Timestamps in the schedule's zone (Beijing), with the offset, like every time we print."""

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__(FORMAT)
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = datetime.fromtimestamp(record.created, self.tz)
        return (
            stamp.strftime(datefmt or "%Y-%m-%d %H:%M:%S")
            + f",{int(record.msecs):03d}"
            + stamp.strftime("%z")
        )


class _DropRepeats(logging.Filter):
    """APScheduler warns about skipped and missed runs; the daemon logs the same event more usefully."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return "maximum number of running instances" not in text and "was missed by" not in text


def _install(handler: logging.Handler, kind: str, level: int, tz: ZoneInfo = BEIJING) -> None:
    """Add ``handler`` to the root logger, replacing an earlier handler of the same kind."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, None) == kind]:
        root.removeHandler(old)
        old.close()
    setattr(handler, _HANDLER_MARK, kind)
    handler.setLevel(level)
    handler.setFormatter(_ZonedFormatter(tz))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)


def configure_run_logging(cfg: Config, source: str) -> Path:
    """Send this process's logs (Scrapy's too) to a fresh per-run file; return its path.

    Calling it again for the next source closes the previous run's file. Older files beyond
    ``[logging] keep`` for this source are deleted.
    """
    path = run_log_path(cfg, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    level = _level(cfg.logging.level)
    _install(logging.FileHandler(path, encoding="utf-8"), "run", level, ZoneInfo(cfg.schedule.timezone))
    _prune(cfg, source, path)
    return path


def close_run_logging() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, None) == "run"]:
        root.removeHandler(handler)
        handler.close()


def daemon_log_path(cfg: Config) -> Path:
    return cfg.log_dir / "daemon.log"


def configure_daemon_logging(cfg: Config, *, stderr: bool = True) -> Path:
    """The daemon logs to ``<log dir>/daemon.log`` (logrotate-friendly) and to stderr (journald)."""
    path = daemon_log_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    level = _level(cfg.logging.level)
    tz = ZoneInfo(cfg.schedule.timezone)
    _install(logging.handlers.WatchedFileHandler(path, encoding="utf-8"), "daemon-file", level, tz)
    if stderr:
        _install(logging.StreamHandler(sys.stderr), "daemon-stderr", level, tz)
    # APScheduler's INFO lines ("Running job …") repeat what the daemon logs itself.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    for name in ("apscheduler.scheduler", "apscheduler.executors.default", "apscheduler.executors.internal"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropRepeats) for f in logger.filters):
            logger.addFilter(_DropRepeats())
    return path


def _num(stats: Mapping[str, Any], key: str) -> int:
    try:
        return int(stats.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def summary_line(source: str, stats: Mapping[str, Any]) -> str:
    """The one line every run logs, whatever happened: easy to grep, easy to alert on."""
    try:
        duration = float(stats.get("duration") or 0.0)
    except (TypeError, ValueError):
        duration = 0.0
    counts = " ".join(f"{key}={_num(stats, key)}" for key in ("new", "updated", "skipped", "failed"))
    return f"source={source} {counts} duration={duration:.1f}s"
