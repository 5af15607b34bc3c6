"""Work the item pipelines hand off, so it does not hold up the downloads.

Scrapy runs every pipeline on the reactor thread: cleaning (lxml, nh3), rendering and the fsynced
writes of a new article would otherwise serialise with every download. Two places take it:

- a worker process for pure CPU work (cleaning: a third of a crawl's CPU): it runs on the other
  core whatever the GIL does; an item costs a pickle each way. Started at the first item, so a
  run with nothing new never starts it.
- worker threads for work that waits on the disk or SQLite (rendering beside the state look-up,
  the group commit), which release the GIL meanwhile.

Stats, logging and failure records stay on the reactor thread: pipelines await the work, then report.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from crawler.state import StateStore

_P = ParamSpec("_P")
_T = TypeVar("_T")

# Two threads: one writer committing a batch while another item is cleaned; more would only queue
# on the GIL. Idle threads cost nothing; a process that never has an item never starts one.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wiremirror-work")


_process_pool: ProcessPoolExecutor | None = None


def _worker_start(crawl_pid: int) -> None:
    """Ctrl-C reaches the whole process group: the crawl decides when to stop, not its worker.
    And a crawl killed outright (SIGKILL, the OOM killer) never tells its worker: a watchdog ends
    the worker once the crawl is gone, so no killed run leaves a process behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while _crawl_alive(crawl_pid):
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="wiremirror-watchdog", daemon=True).start()


def _crawl_alive(pid: int) -> bool:
    """Whether the crawl still runs: a killed crawl its parent has not reaped yet is a zombie whose
    pid still answers (and the forkserver waits for this worker, which holds its pipe)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid is someone else's now
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: the signal test is all there is
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def in_worker_process(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)`` (picklable, pure) in the worker process, awaited from the reactor."""
    global _process_pool  # one per crawling process, started on first use
    if _process_pool is None:
        context = multiprocessing.get_context("forkserver")  # never fork a process with threads
        _process_pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
        )
    return await asyncio.get_running_loop().run_in_executor(
        _process_pool, functools.partial(fn, *args, **kwargs)
    )


def stop_worker_process() -> None:
    """End the worker process (at the end of a crawl; the next item starts another)."""
    global _process_pool
    if _process_pool is not None:
        _process_pool.shutdown(wait=True)
        _process_pool = None


async def off_reactor(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)`` on a worker thread, awaited from the reactor's event loop."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))


_stores: dict[tuple[int, Path], StateStore] = {}
_stores_lock = threading.Lock()


def thread_state(path: Path) -> StateStore:
    """This worker thread's own connection to the state store at ``path`` (opened on first use).

    A connection per thread keeps each transaction whole; SQLite's own locking orders the worker
    threads and the reactor thread's connection (WAL, ``BEGIN IMMEDIATE``), as it does processes.
    """
    key = (threading.get_ident(), Path(path))
    with _stores_lock:
        store = _stores.get(key)
    if store is None:
        store = StateStore(path)
        with _stores_lock:
            _stores[key] = store
    return store


def close_thread_states(path: Path) -> None:
    """Close the worker threads' connections to ``path`` (at the end of a crawl)."""
    with _stores_lock:
        closing = [key for key in _stores if key[1] == Path(path)]
        stores = [_stores.pop(key) for key in closing]
    for store in stores:
        store.close()
