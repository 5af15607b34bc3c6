"""Fake clock for child processes of the fixed-clock test pass (``make clock-tests``), test-only.

tests/conftest.py puts this folder on the PYTHONPATH of the crawls it starts and sets
``WIREMIRROR_TEST_CLOCK_OFFSET`` (seconds from the real clock to the test's clock). Python imports
``sitecustomize`` at start-up, so the child's wall clock runs at the same fake time as the test
process, while the production code has no test hook at all.
"""

from __future__ import annotations

import os

_offset = os.environ.get("WIREMIRROR_TEST_CLOCK_OFFSET")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
