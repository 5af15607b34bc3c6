"""The fixed-clock test pass: a child process started by the tests sees the same fake time."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from tests.conftest import CLOCK_OFFSET_ENV, child_pythonpath

NOW = "import datetime; print(datetime.datetime.now(datetime.UTC).isoformat())"


def child_now(monkeypatch: pytest.MonkeyPatch, offset: float | None) -> datetime:
    """What ``datetime.now()`` says in a child started the way run_cli starts crawls."""
    if offset is None:
        monkeypatch.delenv(CLOCK_OFFSET_ENV, raising=False)
    else:
        monkeypatch.setenv(CLOCK_OFFSET_ENV, repr(offset))
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    out = subprocess.run([sys.executable, "-c", NOW], env=env, capture_output=True, text=True, check=True)
    return datetime.fromisoformat(out.stdout.strip())


def test_children_run_on_the_offset_clock_and_on_the_real_one_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shift = timedelta(days=400)
    before = child_now(monkeypatch, None)  # real clock (independent of this process's own)
    shifted = child_now(monkeypatch, -shift.total_seconds())
    after = child_now(monkeypatch, None)
    assert before - shift <= shifted <= after - shift
    assert after - before < timedelta(minutes=5)
