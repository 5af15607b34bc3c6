"""PostStore: the only code that writes files under the output folder.

Writes are atomic (a dot-named temporary file in the same folder, fsync, ``os.replace``), so
Jekyll never sees a half-written post, even after SIGKILL, and they happen only when the bytes
change: an unchanged article is never rewritten.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

_TMP_PID = re.compile(r"^\.wm-(\d+)-")


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o644 & ~umask


_FILE_MODE = _file_mode()


_counter = itertools.count()


def _create_temporary(folder: Path) -> tuple[int, str]:
    """A new ``.wm-<pid>-<n>.tmp`` in ``folder``, readable by the web server (0644 less umask).

    The writer's pid in the name lets a sweep tell a killed writer's leftover from a live write;
    a counter rather than mkstemp's random names, which this file system creates more slowly.
    """
    while True:
        tmp = os.path.join(folder, f".wm-{os.getpid()}-{next(_counter)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE), tmp
        except FileExistsError:  # a leftover of an earlier process with the same pid
            continue


class UnsafePathError(ValueError):
    """A path that would land outside the output folder (traversal, absolute path, NUL)."""


class PostStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._folders: dict[Path, Path] = {}

    def path_for(self, relpath: str) -> Path:
        """Resolve ``relpath`` inside the root, refusing anything that escapes it.

        The folder is resolved (symlinks followed) once per folder and remembered; the file name
        itself is not followed: writes replace a link rather than write through it.
        """
        rel = Path(relpath)
        if "\0" in relpath or not relpath or rel.is_absolute() or ".." in rel.parts:
            raise UnsafePathError(f"refusing unsafe post path {relpath!r}")
        folder = self._folders.get(rel.parent)
        if folder is None:
            folder = (self.root / rel.parent).resolve()
            if not folder.is_relative_to(self.root):
                raise UnsafePathError(f"refusing post path outside {self.root}: {relpath!r}")
            self._folders[rel.parent] = folder
        return folder / rel.name

    def read(self, relpath: str) -> str | None:
        try:
            return self.path_for(relpath).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def exists(self, relpath: str) -> bool:
        return self.path_for(relpath).exists()

    def write(self, relpath: str, text: str) -> bool:
        """Write ``text`` atomically; return False (and touch nothing) when the file already holds it."""
        staged = self._stage(relpath, text, flush=True)
        if staged is None:
            return False
        tmp, path = staged
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
        return True

    def write_many(self, posts: Iterable[tuple[str, str]]) -> list[bool]:
        """Write a batch of ``(relpath, text)`` with one group commit; which ones changed.

        The guarantees of :meth:`write` — no rename ever points at data that is not on disk, and
        the renames are on disk when this returns — for one flush per batch instead of one per
        file: every temporary file is written, the file system is flushed once (``syncfs``), then
        all are renamed and each folder is fsynced. Callers record the batch in the state store
        only after this returns. For bulk writers (rebuild), where per-file fsyncs dominate.
        """
        staged: list[tuple[str, Path] | None] = []
        try:
            for relpath, text in posts:
                staged.append(self._stage(relpath, text, flush=False))
            pending = [entry for entry in staged if entry is not None]
            if pending:
                _sync_filesystem(pending[0][1].parent)
            for tmp, path in pending:
                os.replace(tmp, path)
        except BaseException:
            for entry in staged:
                if entry is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry[0])
            raise
        for folder in {path.parent for _, path in pending}:
            _fsync_dir(folder)
        return [entry is not None for entry in staged]

    def _stage(self, relpath: str, text: str, *, flush: bool) -> tuple[str, Path] | None:
        """A temporary file beside ``relpath`` holding ``text`` (fsynced when ``flush``), to be
        renamed over it; None when the file already holds exactly ``text``."""
        path = self.path_for(relpath)
        data = text.encode("utf-8")
        try:
            if path.read_bytes() == data:
                return None
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        _note_folder(self.root, path.parent)
        fd, tmp = _create_temporary(path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if flush:
                    handle.flush()
                    os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return tmp, path

    def move(self, src_relpath: str, dst_relpath: str) -> None:
        """Move a post atomically (same filesystem), e.g. into the archive folder."""
        src, dst = self.path_for(src_relpath), self.path_for(dst_relpath)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        _fsync_dir(dst.parent)

    def remove(self, relpath: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(relpath).unlink()

    def stale_temporaries(self) -> list[Path]:
        """Every temporary file a killed writer left behind, wherever it is (a live writer's are not
        stale): a walk of the writers' folders, for ``archive verify``."""
        return [tmp for tmp in _temporaries(self.root) if not _writer_alive(tmp.name)]

    def sweep_temporaries(self, *, everywhere: bool = False) -> int:
        """Remove temporary files a killed writer left behind; returns how many.

        A crawl calls this at every start, so it costs the same whatever the archive's size: it
        lists only the output folder itself for writer records (:func:`_note_folder`) of dead
        writers, then only the folders each of those wrote in. ``everywhere`` walks every folder
        instead (verify --fix: leftovers of writers that kept no record).

        Safe while another process writes (a crawl of the other source): a file whose writer is
        still running is left alone. This process's own leftovers count as stale: call it before
        writing, not during.
        """
        stale = _recorded_leftovers(self.root)
        if everywhere:
            stale = sorted(set(self.stale_temporaries()).difference(stale)) + stale  # records last
        count = 0
        for tmp in stale:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                count += tmp.parent.name != RECORDS
        return count


# -- writer records: where a writer may have left temporaries ---------------------------------

RECORDS = ".wiremirror-writers"  # in the output folder; a dot folder, so Jekyll and Hugo skip it
_records: dict[tuple[Path, int], set[str]] = {}  # (root, pid) → folders named in that process's record


def _note_folder(root: Path, folder: Path) -> None:
    """Before this process's first temporary in ``folder``: name the folder in its writer record
    ``<root>/.wiremirror-writers/<pid>`` (flushed), so that after a kill a sweep knows where to look
    without listing the archive. Once per folder and process; the record goes at a normal exit."""
    pid = os.getpid()
    noted = _records.get((root, pid))
    rel = os.path.relpath(folder, root)
    if noted is not None and rel in noted:
        return
    records = root / RECORDS
    if noted is None:
        noted = _records[(root, pid)] = set()
        atexit.register(_drop_record, root, pid)
        if not records.is_dir():
            records.mkdir(exist_ok=True)
            _fsync_dir(root)
    with open(records / str(pid), "a", encoding="utf-8") as handle:
        handle.write(rel + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    if not noted:
        _fsync_dir(records)
    noted.add(rel)


def _drop_record(root: Path, pid: int) -> None:
    """At a normal exit: every temporary was renamed or removed, so the record is not needed."""
    if os.getpid() == pid:
        with contextlib.suppress(OSError):
            (root / RECORDS / str(pid)).unlink()


def _recorded_leftovers(root: Path) -> list[Path]:
    """The records of dead writers and the temporaries those writers left in the folders they
    named: one listing of the records' folder, then only the folders named."""
    found: list[Path] = []
    try:
        with os.scandir(root / RECORDS) as entries:
            names = [e.name for e in entries if e.name.isdigit()]
    except FileNotFoundError:
        return found
    for name in names:
        pid = int(name)
        if ((root, pid) in _records and pid == os.getpid()) or _pid_alive(pid):
            continue  # this process's own record, or a writer still running
        record = root / RECORDS / name
        try:
            folders = record.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            continue
        prefix = f".wm-{pid}-"
        for rel in dict.fromkeys(folders):
            folder = root / rel
            if not folder.resolve().is_relative_to(root):
                continue  # a record names folders inside root only; never follow one out
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
                found += [
                    Path(e.path) for e in entries if e.name.startswith(prefix) and e.name.endswith(".tmp")
                ]
        found.append(record)  # last: removed once its temporaries are
    return found


# Folders no writer of ours writes into, which may hold more files than the site itself: a
# temporary sits beside the file it replaces, so a sweep never needs to list them.
NOT_OURS = frozenset({"_site"})


def _temporaries(root: Path) -> list[Path]:
    """Every ``.wm-*.tmp`` in the folders our writers write: the tree, less dot folders (``.git``,
    the build cache) and the builders' output (NOT_OURS), one non-recursive listing each."""
    found: list[Path] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".wm-") and name.endswith(".tmp"):
                    found.append(Path(entry.path))
                elif name[0] != "." and name not in NOT_OURS and entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
    return sorted(found)


def _writer_alive(name: str) -> bool:
    """True when the temporary file ``name`` (``.wm-<pid>-….tmp``) belongs to another live process."""
    match = _TMP_PID.match(name)
    return match is not None and _pid_alive(int(match.group(1)))


def _pid_alive(pid: int) -> bool:
    """True when ``pid`` is another process that is running."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _sync_filesystem(folder: Path) -> None:
    """Flush the whole file system holding ``folder`` and wait for it (Linux syncfs; else sync)."""
    syncfs = _libc_syncfs()
    if syncfs is not None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()  # flushes every file system; on Linux it waits for the writes to finish


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None
    func = getattr(libc, "syncfs", None) if libc is not None else None
    return cast("Callable[[int], int] | None", func)


def _fsync_dir(path: Path) -> None:
    # The rename itself must survive a power cut, not only the file contents.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
