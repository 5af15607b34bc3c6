"""The optional publish step: after a run that wrote posts, run ``[publish] command`` in the site.

Typically ``git add -A && git commit -m … && git push``. It runs under its own lock (two crawls
finishing together never push at once), with a timeout, and its failure is reported, never fatal:
the posts stay on disk and the next successful publish carries them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from typing import Any

from crawler.config import Config
from crawler.locks import EXIT_LOCKED, LockTimeout, source_lock
from crawler.state import StateStore
from crawler.timeutil import iso, now_beijing

log = logging.getLogger(__name__)

PUBLISH_LOCK = "publish"
META_KEY = "publish:last"
EXIT_TIMEOUT = 124  # what timeout(1) uses
EXIT_NOT_RUN = 127
_TAIL_LINES = 40


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _run(cfg: Config, command: str, wrote: int) -> tuple[int, str]:
    """Run the command in its own process group; return (exit code, last lines of its output)."""
    env = dict(os.environ, WIREMIRROR_PUBLISH_WROTE=str(wrote), WIREMIRROR_OUTPUT_DIR=str(cfg.output_dir))
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cfg.output_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as err:
        return EXIT_NOT_RUN, str(err)
    try:
        out, _ = proc.communicate(timeout=cfg.publish.timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc, 10.0)
        out, _ = proc.communicate()
        code = EXIT_TIMEOUT
        out += f"\n(timed out after {cfg.publish.timeout:g}s and was stopped)".encode()
    tail = "\n".join(out.decode("utf-8", "replace").splitlines()[-_TAIL_LINES:])
    return code, tail


def _record(cfg: Config, result: dict[str, Any]) -> None:
    try:
        with StateStore(cfg.db_path) as store:
            store.set_meta(META_KEY, json.dumps(result, ensure_ascii=False))
    except Exception:  # reporting must not turn a publish result into a crash
        log.exception("could not record the publish result in the state store")


def maybe_publish(cfg: Config, wrote: int) -> int:
    """Publish when a command is configured and ``wrote`` > 0; return its exit code (0 = nothing to do).

    A non-zero result means "the site is behind", never "posts were lost": nothing here touches
    the posts, and a later successful publish picks them up.
    """
    command = cfg.publish.command.strip()
    if not command or wrote <= 0:
        return 0
    started = time.monotonic()
    try:
        with source_lock(cfg.state_dir, PUBLISH_LOCK, cfg.publish.timeout):
            log.info("publishing %d new or updated posts: %s", wrote, command)
            code, tail = _run(cfg, command, wrote)
    except LockTimeout as err:
        code, tail = EXIT_LOCKED, str(err)
    duration = time.monotonic() - started
    if code == 0:
        log.info("publish finished in %.1fs", duration)
        if tail:
            log.debug("publish output:\n%s", tail)
    else:
        log.error(
            "publish failed (exit %d after %.1fs); the %d posts stay in %s and go out with the next"
            " successful publish. Output:\n%s",
            code,
            duration,
            wrote,
            cfg.output_dir,
            tail,
        )
    _record(
        cfg,
        {
            "at": iso(now_beijing()),
            "exit": code,
            "wrote": wrote,
            "duration": round(duration, 3),
            "output": tail[-2000:],
        },
    )
    return code
