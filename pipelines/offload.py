"""Work the item pipelines hand to worker threads, so it does not hold up the downloads.

Scrapy runs every pipeline on the reactor thread: cleaning (lxml, nh3), rendering and the fsynced
writes of a new article would otherwise serialise with every download. lxml, nh3, fsync and
SQLite release the GIL, so on two cores a worker thread runs beside the reactor. Stats, logging and
failure records stay on the reactor thread: pipelines await the work, then report.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from crawler.state import StateStore

_P = ParamSpec("_P")
_T = TypeVar("_T")

# Two threads: one writer committing a batch while another item is cleaned; more would only queue
# on the GIL. Idle threads cost nothing; a process that never has an item never starts one.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wiremirror-work")


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
