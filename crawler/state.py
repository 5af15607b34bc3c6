"""The SQLite state store: known articles, runs, failures, categories and small key/values.

Every process (crawls, the daemon, archive commands) opens its own connection. WAL mode plus a
long busy timeout and ``BEGIN IMMEDIATE`` for writes let them share one file without "database
is locked" errors reaching the user. An article is recorded only after its post is on disk.

The store defends itself: a file that is not a database, a truncated or damaged one, one from a
newer wiremirror, or a folder it cannot write raise a StateStoreError whose text is the one line
the operator sees (naming the file and what to do) and whose ``exit_code`` the CLI returns.
Opening costs no full scan (``PRAGMA quick_check`` takes ~1 s on a 1,000,000-article store, more
than a whole no-change run): the header is read and checked against the file size, and damage met
by any later statement ("malformed") is reported the same way. ``archive verify`` runs the scan.

Schema changes are ordered steps in MIGRATIONS; the version lives in ``PRAGMA user_version``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from crawler.timeutil import iso, now_beijing

EXIT_STATE = 74  # EX_IOERR (sysexits, like the lock's 75): the state store cannot be used as it is

# Version 1 as first released. Never edit a released step: append a new one to MIGRATIONS.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS articles (
    key          TEXT PRIMARY KEY,          -- "<source>:<id>"
    source       TEXT NOT NULL,
    article_id   TEXT NOT NULL,
    media        TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    title        TEXT NOT NULL DEFAULT '',
    published    TEXT NOT NULL DEFAULT '',  -- ISO 8601 with +08:00
    content_hash TEXT NOT NULL DEFAULT '',
    post_path    TEXT NOT NULL DEFAULT '',  -- relative to the output dir
    match_key    TEXT NOT NULL DEFAULT '',  -- normalised title + publish minute (cross-source dedupe)
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS articles_match ON articles(match_key) WHERE match_key != '';
CREATE INDEX IF NOT EXISTS articles_source_published ON articles(source, published);
CREATE TABLE IF NOT EXISTS aliases (
    alias  TEXT PRIMARY KEY,                -- another key of the same story, e.g. eastmoney:<id>
    key    TEXT NOT NULL REFERENCES articles(key)
);
CREATE TABLE IF NOT EXISTS runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    source    TEXT NOT NULL,
    started   TEXT NOT NULL,
    finished  TEXT,
    outcome   TEXT NOT NULL DEFAULT 'running',  -- running, ok, failed, locked, interrupted
    stats     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_source ON runs(source, id);
CREATE TABLE IF NOT EXISTS failures (
    key        TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    url        TEXT NOT NULL,
    error      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 1,
    first_failed TEXT NOT NULL,
    last_failed  TEXT NOT NULL,
    next_retry TEXT NOT NULL,
    context    TEXT NOT NULL DEFAULT '{}'      -- what the spider needs to request it again
);
CREATE INDEX IF NOT EXISTS failures_due ON failures(source, next_retry);
CREATE TABLE IF NOT EXISTS categories (
    slug       TEXT PRIMARY KEY,
    media      TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(slots=True, frozen=True)
class Migration:
    """One schema step: ``sql`` (statements separated by ``;``) takes a store to ``version``."""

    version: int
    why: str
    sql: str


# Ordered upgrade steps. To change the schema, append Migration(<last + 1>, why, sql), e.g.
# ``ALTER TABLE runs ADD COLUMN pages INTEGER NOT NULL DEFAULT 0``; a new store runs every step.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the first schema", SCHEMA_V1),
    Migration(
        2,
        "the version moves to PRAGMA user_version; each upgrade is logged",
        """CREATE TABLE IF NOT EXISTS schema_log (
            version  INTEGER PRIMARY KEY,
            applied  TEXT NOT NULL,
            why      TEXT NOT NULL
        )""",
    ),
    Migration(
        3,
        "stories are claimed before their post is written (identity decided once, across crawls)",
        """CREATE TABLE IF NOT EXISTS claims (
            match_key TEXT PRIMARY KEY,          -- the story: normalised title + publish minute
            key       TEXT NOT NULL,             -- the article it is mirrored as (maybe not written yet)
            source    TEXT NOT NULL,
            claimed   TEXT NOT NULL              -- when (an unwritten claim this old is abandoned)
        );
        INSERT OR IGNORE INTO claims(match_key, key, source, claimed)
            SELECT match_key, key, source, first_seen FROM articles WHERE match_key != ''
            ORDER BY first_seen""",
    ),
    Migration(
        4,
        "known articles are fetched again at a few ages (revisions); earlier versions are kept",
        """ALTER TABLE articles ADD COLUMN context TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE articles ADD COLUMN rechecks INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE articles ADD COLUMN next_recheck TEXT NOT NULL DEFAULT '';
        ALTER TABLE articles ADD COLUMN etag TEXT NOT NULL DEFAULT '';
        ALTER TABLE articles ADD COLUMN last_modified TEXT NOT NULL DEFAULT '';
        ALTER TABLE articles ADD COLUMN updated TEXT NOT NULL DEFAULT '';
        ALTER TABLE articles ADD COLUMN retracted TEXT NOT NULL DEFAULT '';
        CREATE INDEX IF NOT EXISTS articles_recheck ON articles(source, next_recheck)
            WHERE next_recheck != '';
        CREATE TABLE IF NOT EXISTS revisions (
            key          TEXT NOT NULL,
            revision     INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            fetched      TEXT NOT NULL,
            title        TEXT NOT NULL,
            body         TEXT NOT NULL,
            PRIMARY KEY (key, revision)
        )""",
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


_first_error: StateStoreError | None = None


class StateStoreError(Exception):
    """The state store cannot be used; ``str()`` is the one line for the operator.

    The first one of a process is remembered (first_store_error): Scrapy catches exceptions in
    callbacks and pipelines and carries on, so a crawl asks at the end instead of trusting its
    outcome.
    """

    exit_code = EXIT_STATE

    def __init__(self, message: str) -> None:
        global _first_error  # one process-wide latch
        super().__init__(message)
        _first_error = _first_error or self


class StateCorrupt(StateStoreError):
    def __init__(self, path: Path, detail: str) -> None:
        self.path, self.detail = path, detail
        super().__init__(
            f"state store {path} is damaged ({detail}): restore it from a backup, or run"
            " `wiremirror archive verify --fix` to set it aside and rebuild it from the posts"
        )


class StateTooNew(StateStoreError):
    def __init__(self, path: Path, version: int) -> None:
        super().__init__(
            f"state store {path} has schema version {version}, newer than this wiremirror knows"
            f" ({SCHEMA_VERSION}): upgrade wiremirror, or restore a backup made by this version"
        )


class StateUnavailable(StateStoreError):
    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"cannot use the state store {path} ({detail}): make {path.parent} writable and give it"
            " free space (permissions, read-only mount, full disk), or set [state] dir elsewhere"
        )


_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_UNAVAILABLE = {
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
}


def first_store_error() -> StateStoreError | None:
    """The first StateStoreError of this process (see StateStoreError), or None."""
    return _first_error


def _translate(err: sqlite3.Error, path: Path) -> Exception:
    """A StateStoreError for damage or an unusable file; any other error as it was."""
    code = getattr(err, "sqlite_errorcode", 0) & 0xFF
    if code in _CORRUPT:
        return StateCorrupt(path, str(err))
    if code in _UNAVAILABLE:
        return StateUnavailable(path, str(err))
    return err


class _Cursor(sqlite3.Cursor):
    """Damage found while stepping through rows is reported like damage found at execute."""

    path: Path

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as err:
            raise _translate(err, self.path) from err

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as err:
            raise _translate(err, self.path) from err

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as err:
            raise _translate(err, self.path) from err


class _Connection(sqlite3.Connection):
    path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        cursor = self.cursor(_Cursor)
        cursor.path = self.path
        try:
            cursor.execute(sql, parameters)
        except sqlite3.Error as err:
            raise _translate(err, self.path) from err
        return cursor


def _header_problem(path: Path) -> str | None:
    """What is wrong with the file's 100-byte header, or None. No SQL, so no lock and O(1)."""
    try:
        with path.open("rb") as fh:
            header, size = fh.read(100), os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateUnavailable(path, str(err)) from err
    if not header:
        return None  # an empty file is a new database to SQLite too
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return "not an SQLite database"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and size < pages * page_size:  # the page count is valid
        return f"truncated: {size} bytes, its header says {pages * page_size}"
    return None


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Apply every step after ``version`` and log them, inside the caller's write transaction."""
    steps = [m for m in MIGRATIONS if m.version > version]
    for step in steps:
        for statement in step.sql.split(";"):
            if statement.strip():
                conn.execute(statement)
    stamp = iso(now_beijing())
    for step in steps:
        conn.execute(
            "INSERT OR REPLACE INTO schema_log(version, applied, why) VALUES (?, ?, ?)",
            (step.version, stamp, step.why),
        )
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
    )


def _create(path: Path) -> None:
    """Build a new store under a hidden name, then link it into place: no process ever sees the
    file without its tables, and a crash mid-way leaves only a small hidden file behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    for stale in (tmp, tmp.with_name(tmp.name + "-journal")):
        stale.unlink(missing_ok=True)
    try:
        try:
            conn = sqlite3.connect(tmp, isolation_level=None, factory=_Connection)
        except sqlite3.Error as err:
            raise _translate(err, path) from err
        conn.path = path
        try:
            conn.execute("BEGIN IMMEDIATE")
            _upgrade(conn, 0)
            conn.execute("COMMIT")
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile: use theirs
            os.link(tmp, path)
    except OSError as err:
        raise StateUnavailable(path, str(err)) from err
    finally:
        tmp.unlink(missing_ok=True)


def set_aside(path: Path, folder: Path) -> Path:
    """Move a damaged store (with its -wal and -shm) into ``folder``; returns the moved file."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", ""):
        part = path.with_name(path.name + suffix)
        if part.exists():
            shutil.move(os.fspath(part), os.fspath(folder / part.name))
    return folder / path.name


@dataclass(slots=True, frozen=True)
class ArticleRecord:
    key: str
    source: str
    article_id: str
    media: str
    url: str
    title: str
    published: str
    content_hash: str
    post_path: str
    match_key: str
    first_seen: str
    last_seen: str
    revision: int
    context: str = "{}"  # JSON: what the spider needs to request it again (rechecks)
    rechecks: int = 0  # recheck ages passed
    next_recheck: str = ""  # when the next recheck is due ("" = none)
    etag: str = ""  # validators of the last response, for conditional rechecks
    last_modified: str = ""
    updated: str = ""  # when a revision last changed it ("" = never)
    retracted: str = ""  # when upstream withdrew it ("" = never)


@dataclass(slots=True, frozen=True)
class Recheck:
    """A known article due to be fetched again: enough to request it, conditionally."""

    key: str
    url: str
    context: dict[str, Any]
    etag: str
    last_modified: str


@dataclass(slots=True, frozen=True)
class Revision:
    """One version of an article's text, as kept in the ``revisions`` table."""

    key: str
    revision: int
    content_hash: str
    fetched: str
    title: str
    body: str


Verdict = Literal["write", "alias", "wait"]
CLAIM_ABANDONED_AFTER = timedelta(hours=1)  # a crawl killed between claiming and recording


@dataclass(slots=True, frozen=True)
class StoryClaim:
    """What the identity stage decided for an article, before its post is written.

    ``write``: write the post (new, or an update) listing ``aliases``; first remove the posts of
    ``superseded``, recorded copies this original replaces. ``alias``: the story is mirrored as
    ``owner``, whose post is on disk. ``wait``: ``owner`` is claimed by a crawl writing it now.
    """

    verdict: Verdict
    owner: str
    aliases: tuple[str, ...] = ()
    superseded: tuple[ArticleRecord, ...] = ()


@dataclass(slots=True, frozen=True)
class ArticleWrite:
    """What recording an article stores (its post is on disk): the row, its aliases, what it replaces."""

    key: str
    source: str
    article_id: str
    media: str
    url: str
    title: str
    published: str
    content_hash: str
    post_path: str
    match_key: str = ""
    aliases: tuple[str, ...] = ()
    superseded: tuple[str, ...] = ()
    context: str = "{}"  # JSON: how to request it again
    schedule: tuple[int, str] | None = None  # (recheck ages passed, next recheck); None: unchanged
    etag: str = ""
    last_modified: str = ""
    updated: str = ""  # set when this write is a revision
    version: Revision | None = None  # this revision's text, kept in the revisions table
    revision: int | None = None  # the revision this write makes (None: the article's stays)


@dataclass(slots=True, frozen=True)
class Failure:
    key: str
    source: str
    url: str
    error: str
    attempts: int
    next_retry: str
    context: dict[str, Any]


@dataclass(slots=True, frozen=True)
class RunRecord:
    id: int
    source: str
    started: str
    finished: str | None
    outcome: str
    stats: dict[str, Any]


class StateStore:
    """Thin, explicit access to the state database. Safe to open from many processes."""

    def __init__(self, path: Path | str, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StateUnavailable(self.path, str(err)) from err
        if not os.access(self.path.parent, os.W_OK):  # WAL and locks need it; SQLite would go read-only
            raise StateUnavailable(self.path, f"{self.path.parent} is not writable")
        if not self.path.exists():
            _create(self.path)
        problem = _header_problem(self.path)
        if problem == "not an SQLite database":
            raise StateCorrupt(self.path, problem)
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
                factory=_Connection,
            )
        except sqlite3.Error as err:
            raise _translate(err, self.path) from err
        conn.path = self.path
        self.conn: _Connection = conn
        try:
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across app crashes
            self.conn.execute("PRAGMA foreign_keys = ON")
            if problem:  # the header's page count can lead the file during a checkpoint: ask SQLite
                verdict = self.quick_check()
                if verdict != "ok":
                    raise StateCorrupt(self.path, f"{problem}; quick_check: {verdict}")
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def schema_version(self) -> int:
        """The store's version: ``user_version``, or for a version-1 store its meta row (0: new)."""
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version:
            return version
        tables = {str(r[0]) for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return 0
        row = None
        if "meta" in tables:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise StateCorrupt(self.path, "an SQLite database, but not a wiremirror state store")
        return int(row[0])

    def _migrate(self) -> None:
        """Bring the store to SCHEMA_VERSION, one step at a time, in one write transaction.

        A current store needs no write lock just to be opened (status, start-up are read-only).
        The version is read again under the lock: another process may have upgraded meanwhile.
        """
        version = self.schema_version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StateTooNew(self.path, version)
        with self.write() as conn:
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise StateTooNew(self.path, version)
            _upgrade(conn, version)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so concurrent writers queue, not fail."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                # SQLite may have rolled back already (damage, a full disk): keep the first error
                with contextlib.suppress(sqlite3.Error, StateStoreError):
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- articles -------------------------------------------------------------------------
    def resolve(self, key: str) -> str | None:
        """The article key that ``key`` names, directly or as an alias; None when unknown."""
        return self._resolve(self.conn, key)

    def aliases_of(self, key: str) -> list[str]:
        """The other keys recorded for the story ``key`` is (sorted): what its post's ``aliases:`` lists."""
        return self._aliases(self.conn, key)

    # Batched reads for bulk readers (archive rebuild): one query per 500 keys, not one per key.
    def aliases_of_many(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """:meth:`aliases_of` for many keys at once; keys without aliases are left out."""
        found: dict[str, list[str]] = {}
        for chunk, marks in self._key_chunks(keys):
            rows = self.conn.execute(
                f"SELECT key, alias FROM aliases WHERE key IN ({marks}) ORDER BY key, alias", chunk
            )
            for key, alias in rows:
                found.setdefault(str(key), []).append(str(alias))
        return found

    @staticmethod
    def _key_chunks(keys: Iterable[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
        """Distinct ``keys`` in chunks of ``size``, each with its ``?,?,…`` placeholders."""
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            yield chunk, ",".join("?" * len(chunk))

    def articles_by_key(self, keys: Iterable[str]) -> dict[str, ArticleRecord]:
        """The articles recorded under exactly these keys (an alias is not followed, unlike
        :meth:`get_article`: a key that is only an alias names another article's post)."""
        found: dict[str, ArticleRecord] = {}
        for chunk, marks in self._key_chunks(keys):
            for row in self.conn.execute(f"SELECT * FROM articles WHERE key IN ({marks})", chunk):
                found[str(row["key"])] = ArticleRecord(**dict(row))
        return found

    def is_known(self, key: str) -> bool:
        return self.resolve(key) is not None

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already mirrored (as articles or aliases); one query per 500 keys."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for table, column in (("articles", "key"), ("aliases", "alias")):
                rows = self.conn.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", chunk)
                found.update(str(r[0]) for r in rows)
        return found

    def get_article(self, key: str) -> ArticleRecord | None:
        resolved = self.resolve(key)
        if resolved is None:
            return None
        row = self.conn.execute("SELECT * FROM articles WHERE key = ?", (resolved,)).fetchone()
        return ArticleRecord(**dict(row)) if row else None

    def claim_story(
        self,
        key: str,
        source: str,
        match_key: str,
        rank: Callable[[str], int],
        *,
        now: datetime | None = None,
    ) -> StoryClaim:
        """Decide which article the story ``key`` is, and claim it, in one write transaction.

        A story (``match_key``) reached through two sources is mirrored once, as the copy of the
        source with the lower ``rank``. The claim is taken before the post is written, so two
        crawls running at once cannot both write it: the later one waits, or becomes an alias.
        Two articles of one source are two stories even when their keys match.
        """
        now = now or now_beijing()
        with self.write() as conn:
            owner = self._resolve(conn, key)
            if owner is not None and owner != key:
                return StoryClaim("alias", owner)
            if match_key:
                claim = (
                    conn.execute(
                        "SELECT key, source, claimed FROM claims WHERE match_key = ?", (match_key,)
                    ).fetchone()
                    or conn.execute(  # recorded without a claim: imported, rebuilt
                        "SELECT key, source, first_seen AS claimed FROM articles WHERE match_key = ?"
                        " ORDER BY first_seen LIMIT 1",
                        (match_key,),
                    ).fetchone()
                )
                displaced: tuple[str, ...] = ()
                if claim is not None and claim["key"] != key and claim["source"] != source:
                    if rank(source) < rank(claim["source"]):
                        displaced = (claim["key"],)  # this original takes the story over
                    elif (recorded := self._resolve(conn, claim["key"])) is not None:
                        return StoryClaim("alias", recorded)
                    elif datetime.fromisoformat(claim["claimed"]) > now - CLAIM_ABANDONED_AFTER:
                        return StoryClaim("wait", claim["key"])
                if claim is None or claim["source"] != source or claim["key"] == key:
                    conn.execute(
                        "INSERT OR REPLACE INTO claims(match_key, key, source, claimed) VALUES (?, ?, ?, ?)",
                        (match_key, key, source, iso(now)),
                    )
                    superseded = tuple(
                        ArticleRecord(**dict(r))
                        for r in conn.execute(
                            "SELECT * FROM articles WHERE match_key = ? AND source != ?", (match_key, source)
                        )
                        if rank(r["source"]) > rank(source)
                    )
                    aliases = {a for old in superseded for a in self._aliases(conn, old.key)}
                    aliases.update(old.key for old in superseded)
                    aliases.update(displaced)
                    return StoryClaim(
                        "write", key, tuple(sorted(aliases | set(self._aliases(conn, key)))), superseded
                    )
            return StoryClaim("write", key, tuple(self._aliases(conn, key)))

    @staticmethod
    def _resolve(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT key FROM articles WHERE key = ?", (key,)).fetchone()
        if row:
            return str(row[0])
        row = conn.execute("SELECT key FROM aliases WHERE alias = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    @staticmethod
    def _aliases(conn: sqlite3.Connection, key: str) -> list[str]:
        rows = conn.execute("SELECT alias FROM aliases WHERE key = ? ORDER BY alias", (key,))
        return [str(r[0]) for r in rows]

    def record_article(self, *, seen: datetime | None = None, **article: Any) -> bool:
        """Mark one article known (the fields of :class:`ArticleWrite`); see :meth:`record_articles`."""
        return self.record_articles([ArticleWrite(**article)], seen=seen)[0]

    def record_articles(
        self, articles: Sequence[ArticleWrite], *, seen: datetime | None = None
    ) -> list[bool]:
        """Mark articles known in one transaction, folding each one's ``superseded`` articles into
        it. Call only after their posts are safely on disk.

        An entry is False when its story's claim went meanwhile to another source's original: the
        article is then that original's alias, not an article, and its post must go.
        """
        if not articles:
            return []
        stamp = iso(seen or now_beijing())
        with self.write() as conn:
            return [self._record(conn, article, stamp) for article in articles]

    def _record(self, conn: sqlite3.Connection, a: ArticleWrite, stamp: str) -> bool:
        if a.match_key:
            claim = conn.execute(
                "SELECT key, source FROM claims WHERE match_key = ?", (a.match_key,)
            ).fetchone()
            if claim is not None and claim["key"] != a.key and claim["source"] != a.source:
                # the original lists this key: as recorded already, or once it is recorded
                if self._resolve(conn, claim["key"]) == claim["key"]:
                    conn.execute(
                        "INSERT OR REPLACE INTO aliases(alias, key) VALUES (?, ?)", (a.key, claim["key"])
                    )
                conn.execute("DELETE FROM failures WHERE key = ?", (a.key,))
                return False
            conn.execute(
                "INSERT OR IGNORE INTO claims(match_key, key, source, claimed) VALUES (?, ?, ?, ?)",
                (a.match_key, a.key, a.source, stamp),
            )
        old = conn.execute("SELECT content_hash FROM articles WHERE key = ?", (a.key,)).fetchone()
        if old is None:
            conn.execute(
                "INSERT INTO articles(key, source, article_id, media, url, title, published, content_hash,"
                " post_path, match_key, first_seen, last_seen, context) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    a.key,
                    a.source,
                    a.article_id,
                    a.media,
                    a.url,
                    a.title,
                    a.published,
                    a.content_hash,
                    a.post_path,
                    a.match_key,
                    stamp,
                    stamp,
                    a.context,
                ),
            )
        else:
            conn.execute(  # the revision moves only when the writer says this is one (not a re-render)
                "UPDATE articles SET media=?, url=?, title=?, published=?, content_hash=?, post_path=?,"
                " match_key=?, last_seen=?, revision=COALESCE(?, revision) WHERE key=?",
                (
                    a.media,
                    a.url,
                    a.title,
                    a.published,
                    a.content_hash,
                    a.post_path,
                    a.match_key,
                    stamp,
                    a.revision,
                    a.key,
                ),
            )
        if a.schedule is not None:
            conn.execute(
                "UPDATE articles SET rechecks = ?, next_recheck = ? WHERE key = ?", (*a.schedule, a.key)
            )
        if a.etag or a.last_modified or a.updated:
            conn.execute(
                "UPDATE articles SET etag = ?, last_modified = ?, updated = CASE WHEN ? != '' THEN ?"
                " ELSE updated END WHERE key = ?",
                (a.etag, a.last_modified, a.updated, a.updated, a.key),
            )
        if a.version is not None:
            v = a.version
            conn.execute(
                "INSERT OR IGNORE INTO revisions(key, revision, content_hash, fetched, title, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (v.key, v.revision, v.content_hash, v.fetched, v.title, v.body),
            )
        for old_key in a.superseded:
            self._fold(conn, old_key, a.key)
        for alias in a.aliases:
            if alias != a.key:
                conn.execute("INSERT OR REPLACE INTO aliases(alias, key) VALUES (?, ?)", (alias, a.key))
        for key in (a.key, *a.aliases):
            conn.execute("DELETE FROM failures WHERE key = ?", (key,))
        return True

    def add_alias(self, alias: str, key: str, *, content_hash: str | None = None) -> None:
        """Record ``alias`` as another key of article ``key`` (whose post now has ``content_hash``)."""
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO aliases(alias, key) VALUES (?, ?)", (alias, key))
            conn.execute("DELETE FROM failures WHERE key = ?", (alias,))
            if content_hash is not None:
                conn.execute("UPDATE articles SET content_hash = ? WHERE key = ?", (content_hash, key))

    def supersede(self, old_key: str, new_key: str) -> None:
        """Fold article ``old_key`` into ``new_key``: it becomes an alias, its row goes."""
        if old_key != new_key:
            with self.write() as conn:
                self._fold(conn, old_key, new_key)

    @staticmethod
    def _fold(conn: sqlite3.Connection, old_key: str, new_key: str) -> None:
        conn.execute("UPDATE aliases SET key = ? WHERE key = ?", (new_key, old_key))
        conn.execute("INSERT OR REPLACE INTO aliases(alias, key) VALUES (?, ?)", (old_key, new_key))
        conn.execute("DELETE FROM articles WHERE key = ?", (old_key,))
        conn.execute("UPDATE claims SET key = ? WHERE key = ?", (new_key, old_key))

    # -- revisions ------------------------------------------------------------------------
    def due_rechecks(self, source: str, *, now: datetime | None = None, limit: int = 50) -> list[Recheck]:
        """Known articles of ``source`` whose next recheck is due, the longest-waiting first."""
        rows = self.conn.execute(
            "SELECT key, url, context, etag, last_modified FROM articles WHERE source = ?"
            " AND next_recheck != '' AND next_recheck <= ? AND retracted = '' ORDER BY next_recheck LIMIT ?",
            (source, iso(now or now_beijing()), limit),
        )
        return [
            Recheck(r["key"], r["url"], json.loads(r["context"] or "{}"), r["etag"], r["last_modified"])
            for r in rows
        ]

    def recheck_done(
        self, key: str, schedule: tuple[int, str], *, etag: str = "", last_modified: str = ""
    ) -> None:
        """A recheck found nothing new (or could not tell): the next one is ``schedule``."""
        with self.write() as conn:
            conn.execute(
                "UPDATE articles SET rechecks = ?, next_recheck = ?, etag = CASE WHEN ? != '' THEN ?"
                " ELSE etag END, last_modified = CASE WHEN ? != '' THEN ? ELSE last_modified END"
                " WHERE key = ?",
                (*schedule, etag, etag, last_modified, last_modified, key),
            )

    def titles_of(self, keys: Iterable[str]) -> dict[str, str]:
        """The mirrored title of each of ``keys`` that is an article (not an alias); one query per 500."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self.conn.execute(
                f"SELECT key, title FROM articles WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update((str(r[0]), str(r[1])) for r in rows)
        return found

    def recheck_counts(self, source: str, *, now: datetime | None = None) -> tuple[int, int]:
        """(rechecks due now, rechecks scheduled later) for ``source``'s articles."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(next_recheck <= ?), 0), COALESCE(SUM(next_recheck > ?), 0) FROM articles"
            " WHERE source = ? AND next_recheck != '' AND retracted = ''",
            (stamp := iso(now or now_beijing()), stamp, source),
        ).fetchone()
        return int(row[0]), int(row[1])

    def revision_counts(self, source: str) -> tuple[int, int]:
        """(articles revised at least once, articles retracted) of ``source``."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(revision > 1), 0), COALESCE(SUM(retracted != ''), 0) FROM articles WHERE source = ?",
            (source,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def keep_revision(self, version: Revision) -> None:
        """Keep one version of an article's text (a version already kept stays as it is)."""
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO revisions(key, revision, content_hash, fetched, title, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    version.key,
                    version.revision,
                    version.content_hash,
                    version.fetched,
                    version.title,
                    version.body,
                ),
            )

    def revisions(self, key: str) -> list[Revision]:
        rows = self.conn.execute("SELECT * FROM revisions WHERE key = ? ORDER BY revision", (key,))
        return [Revision(**dict(r)) for r in rows]

    def retract(self, key: str, when: datetime) -> None:
        """Upstream withdrew the article: it stays, marked, and is not rechecked again."""
        with self.write() as conn:
            conn.execute(
                "UPDATE articles SET retracted = ?, next_recheck = '' WHERE key = ?", (iso(when), key)
            )

    def touch(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE articles SET last_seen = ? WHERE key = ?", (iso(now_beijing()), key))

    def set_content_hash(self, key: str, content_hash: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE articles SET content_hash = ? WHERE key = ?", (content_hash, key))

    def set_post_path(self, key: str, post_path: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE articles SET post_path = ? WHERE key = ?", (post_path, key))

    def iter_articles(self, source: str | None = None) -> Iterator[ArticleRecord]:
        sql, args = "SELECT * FROM articles", cast(tuple[str, ...], ())
        if source:
            sql, args = sql + " WHERE source = ?", (source,)
        for row in self.conn.execute(sql + " ORDER BY published, key", args):
            yield ArticleRecord(**dict(row))

    def count_articles(self, source: str | None = None) -> int:
        if source:
            return int(
                self.conn.execute("SELECT COUNT(*) FROM articles WHERE source = ?", (source,)).fetchone()[0]
            )
        return int(self.conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0])

    # -- failures -------------------------------------------------------------------------
    def record_failure(
        self,
        *,
        key: str,
        source: str,
        url: str,
        error: str,
        context: dict[str, Any] | None = None,
        backoff: float = 600.0,
        now: datetime | None = None,
    ) -> int:
        """Record (or count again) a failure; the next retry waits ``backoff × 2^(attempts-1)``."""
        now = now or now_beijing()
        with self.write() as conn:
            row = conn.execute("SELECT attempts FROM failures WHERE key = ?", (key,)).fetchone()
            attempts = (int(row[0]) if row else 0) + 1
            delay = min(backoff * 2 ** (attempts - 1), 7 * 86400)
            next_retry = iso(now + timedelta(seconds=delay))
            ctx = json.dumps(context or {}, ensure_ascii=False, default=str)
            if row is None:
                conn.execute(
                    "INSERT INTO failures(key, source, url, error, attempts, first_failed, last_failed,"
                    " next_retry, context) VALUES (?,?,?,?,?,?,?,?,?)",
                    (key, source, url, error[:2000], attempts, iso(now), iso(now), next_retry, ctx),
                )
            else:
                conn.execute(
                    "UPDATE failures SET url=?, error=?, attempts=?, last_failed=?, next_retry=?, context=?"
                    " WHERE key=?",
                    (url, error[:2000], attempts, iso(now), next_retry, ctx, key),
                )
        return attempts

    def due_failures(
        self, source: str, *, now: datetime | None = None, max_attempts: int = 8, limit: int = 200
    ) -> list[Failure]:
        rows = self.conn.execute(
            "SELECT * FROM failures WHERE source = ? AND next_retry <= ? AND attempts < ?"
            " ORDER BY next_retry LIMIT ?",
            (source, iso(now or now_beijing()), max_attempts, limit),
        )
        return [self._failure(r) for r in rows]

    def waiting_failures(
        self, keys: Iterable[str], *, now: datetime | None = None, max_attempts: int = 8
    ) -> set[str]:
        """The subset of ``keys`` whose failure is not due yet (backoff) or has used up its attempts."""
        wanted = list(dict.fromkeys(keys))
        stamp = iso(now or now_beijing())
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT key FROM failures WHERE key IN ({marks}) AND (next_retry > ? OR attempts >= ?)",
                (*chunk, stamp, max_attempts),
            )
            found.update(str(r[0]) for r in rows)
        return found

    def failures(self, source: str | None = None) -> list[Failure]:
        sql, args = "SELECT * FROM failures", cast(tuple[str, ...], ())
        if source:
            sql, args = sql + " WHERE source = ?", (source,)
        return [self._failure(r) for r in self.conn.execute(sql + " ORDER BY key", args)]

    def clear_failure(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM failures WHERE key = ?", (key,))

    @staticmethod
    def _failure(row: sqlite3.Row) -> Failure:
        return Failure(
            key=row["key"],
            source=row["source"],
            url=row["url"],
            error=row["error"],
            attempts=row["attempts"],
            next_retry=row["next_retry"],
            context=json.loads(row["context"]),
        )

    # -- runs -----------------------------------------------------------------------------
    def start_run(self, source: str) -> int:
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO runs(source, started) VALUES (?, ?)", (source, iso(now_beijing()))
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, stats: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE runs SET finished = ?, outcome = ?, stats = ? WHERE id = ?",
                (iso(now_beijing()), outcome, json.dumps(stats, ensure_ascii=False, default=str), run_id),
            )

    def recent_runs(self, source: str, limit: int = 10) -> list[RunRecord]:
        rows = self.conn.execute(
            "SELECT * FROM runs WHERE source = ? ORDER BY id DESC LIMIT ?", (source, limit)
        )
        return [
            RunRecord(
                id=r["id"],
                source=r["source"],
                started=r["started"],
                finished=r["finished"],
                outcome=r["outcome"],
                stats=json.loads(r["stats"]),
            )
            for r in rows
        ]

    # -- categories -----------------------------------------------------------------------
    def category_for(self, media: str) -> tuple[str, str] | None:
        row = self.conn.execute("SELECT slug, title FROM categories WHERE media = ?", (media,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def assign_category(self, media: str, slug: str, title: str) -> str:
        """Register ``media`` under ``slug`` (or its first free ``slug-N``); return the slug it got."""
        with self.write() as conn:
            row = conn.execute("SELECT slug FROM categories WHERE media = ?", (media,)).fetchone()
            if row:
                return str(row[0])
            candidate, n = slug, 1
            while conn.execute("SELECT 1 FROM categories WHERE slug = ?", (candidate,)).fetchone():
                n += 1
                candidate = f"{slug}-{n}"
            conn.execute(
                "INSERT INTO categories(slug, media, title, first_seen) VALUES (?,?,?,?)",
                (candidate, media, title, iso(now_beijing())),
            )
            return candidate

    def categories(self) -> list[tuple[str, str, str]]:
        """Every category ever seen: (slug, media, title)."""
        rows = self.conn.execute("SELECT slug, media, title FROM categories ORDER BY slug")
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    # -- key/values -----------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.set_metas({key: value})

    def set_metas(self, values: Mapping[str, str]) -> None:
        """Several key/values in one transaction (the daemon's heartbeat writes its notes together)."""
        with self.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))

    def delete_meta(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def metas(self, *prefixes: str) -> dict[str, str]:
        """Every key/value whose key starts with one of ``prefixes``."""
        found: dict[str, str] = {}
        for prefix in prefixes:
            rows = self.conn.execute(
                "SELECT key, value FROM meta WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
            )
            found.update((str(k), str(v)) for k, v in rows)
        return found

    def last_crawl_started(self, source: str, *, not_outcomes: Sequence[str] = ()) -> str | None:
        """When the newest run of ``source`` started (ISO), leaving out runs with these outcomes."""
        marks = ",".join("?" * len(not_outcomes)) or "NULL"
        row = self.conn.execute(
            f"SELECT started FROM runs WHERE source = ? AND outcome NOT IN ({marks}) ORDER BY id DESC LIMIT 1",
            (source, *not_outcomes),
        ).fetchone()
        return str(row[0]) if row else None

    def failure_counts(self, source: str, *, max_attempts: int) -> tuple[int, int]:
        """(failures recorded, failures that used up their attempts) of ``source``."""
        total, given_up = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(attempts >= ?), 0) FROM failures WHERE source = ?",
            (max_attempts, source),
        ).fetchone()
        return int(total), int(given_up)

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def quick_check(self) -> str:
        """``PRAGMA quick_check``'s first line ("ok" when sound); reads the whole file."""
        return str(self.conn.execute("PRAGMA quick_check").fetchone()[0])

    def check(self) -> None:
        """Raise StateCorrupt unless a full quick_check finds the store sound."""
        verdict = self.quick_check()
        if verdict != "ok":
            raise StateCorrupt(self.path, verdict)
