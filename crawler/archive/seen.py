"""The keys a replay has already used, in bounded memory however large the archive.

``archive rebuild`` reads the newest capture file first and must skip every older capture of an
article it has already rebuilt, so it remembers one key per article in the archive. Up to
``limit`` keys live in a dict; beyond that they move to a private temporary SQLite database (not
the state store: SQLite creates it for an empty file name and deletes it on close), so the
process's memory stays the same at a million articles as at a thousand.
"""

from __future__ import annotations

import sqlite3
from typing import Self

SPILL_AT = 65_536  # keys kept in memory before they move to disk (about 12 MB of dict)


class SeenKeys:
    """``key`` → the number of the capture file it was taken from (0 = the newest file)."""

    def __init__(self, limit: int = SPILL_AT) -> None:
        self.limit = limit
        self.spilled = 0  # how many keys went to disk (tests and curiosity)
        self._recent: dict[str, int] = {}
        self._disk: sqlite3.Connection | None = None

    def get(self, key: str) -> int | None:
        found = self._recent.get(key)
        if found is None and self._disk is not None:
            row = self._disk.execute("SELECT file FROM seen WHERE key = ?", (key,)).fetchone()
            found = None if row is None else int(row[0])
        return found

    def add(self, key: str, file: int) -> bool:
        """Remember ``key`` as taken from ``file``; True when it was not known before."""
        new = self.get(key) is None
        self._recent[key] = file
        if len(self._recent) >= self.limit:
            self._spill()
        return new

    def _spill(self) -> None:
        if self._disk is None:
            self._disk = sqlite3.connect("", isolation_level=None)
            self._disk.execute("PRAGMA journal_mode = OFF")  # scratch data: nothing to recover
            self._disk.execute("PRAGMA synchronous = OFF")
            self._disk.execute("PRAGMA cache_size = -2048")  # KiB: its page cache stays small
            self._disk.execute(
                "CREATE TABLE seen (key TEXT PRIMARY KEY, file INTEGER NOT NULL) WITHOUT ROWID"
            )
        self._disk.execute("BEGIN")
        self._disk.executemany("INSERT OR REPLACE INTO seen(key, file) VALUES (?, ?)", self._recent.items())
        self._disk.execute("COMMIT")
        self.spilled += len(self._recent)
        self._recent.clear()

    def close(self) -> None:
        self._recent.clear()
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
