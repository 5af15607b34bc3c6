"""Test-only hooks for child processes (``wiremirror`` subprocesses the tests start), none in production.

tests/conftest.py (or a test) puts this folder on the PYTHONPATH of the crawls it starts; Python
imports ``sitecustomize`` at start-up. Two hooks, each off unless its variable is set:

- ``WIREMIRROR_TEST_CLOCK_OFFSET`` (seconds from the real clock to the test's clock): the child's wall
  clock runs at the same fake time as the test process (``make clock-tests``, "later" crawls).
- ``WIREMIRROR_TEST_KILL_WRITING`` (a text): the child SIGKILLs itself the moment it is about to write
  a post holding that text, before any byte of it is on disk: a crash at an exact point.
"""

from __future__ import annotations

import os

_offset = os.environ.get("WIREMIRROR_TEST_CLOCK_OFFSET")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()

_kill_marker = os.environ.get("WIREMIRROR_TEST_KILL_WRITING")
if _kill_marker:
    import signal

    from pipelines.store import PostStore

    _stage = PostStore._stage

    def _stage_or_die(self, relpath, text, *, flush):  # type: ignore[no-untyped-def]
        if _kill_marker in text:
            os.kill(os.getpid(), signal.SIGKILL)
        return _stage(self, relpath, text, flush=flush)

    PostStore._stage = _stage_or_die  # type: ignore[method-assign]
