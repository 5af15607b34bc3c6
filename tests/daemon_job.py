"""A stand-in for ``python -m crawler`` in the daemon tests: a real child process, no Scrapy.

The daemon starts it through ``WIREMIRROR_JOB_PREFIX``. It behaves like a crawl where it matters
to the daemon: it records a run in the real state store, writes posts atomically one by one
(then marks them known), and on the first SIGTERM/SIGINT finishes the post in hand and exits 0,
as Scrapy does. Every step is appended to a JSON-lines event file the test reads.

Environment: DAEMON_JOB_EVENTS (event file), DAEMON_JOB_SECONDS / DAEMON_JOB_SECONDS_<SOURCE>
(run length), DAEMON_JOB_ITEMS (posts per run), DAEMON_JOB_IGNORE_TERM=1 (keep going on signals),
DAEMON_JOB_KNOWN (comma-separated command prefixes that exist, default "crawl").
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from crawler.config import load_config
from crawler.state import StateStore


def event(kind: str, **fields: object) -> None:
    line = json.dumps({"event": kind, "pid": os.getpid(), "t": time.time(), **fields}) + "\n"
    with open(os.environ["DAEMON_JOB_EVENTS"], "a", encoding="utf-8") as fh:
        fh.write(line)


def main(argv: list[str]) -> int:
    config = None
    if argv[:1] == ["--config"]:
        config, argv = argv[1], argv[2:]
    known = os.environ.get("DAEMON_JOB_KNOWN", "crawl").split(",")
    if "--help" in argv:
        if any(" ".join(argv).startswith(k) for k in known):
            print(f"usage: wiremirror {argv[0]} ...")
            return 0
        print(f"wiremirror: error: argument COMMAND: invalid choice: {argv[0]!r}", file=sys.stderr)
        return 2
    command = argv[0]
    job = " ".join(argv)
    source = argv[1] if command == "crawl" and len(argv) > 1 else command
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        event("signal", job=job, signal=signum)
        if os.environ.get("DAEMON_JOB_IGNORE_TERM") != "1":
            stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cfg = load_config(config)
    store = StateStore(cfg.db_path)
    run_id = store.start_run(source)
    event("start", job=job, run=run_id)
    seconds = float(
        os.environ.get(f"DAEMON_JOB_SECONDS_{source.upper()}", os.environ.get("DAEMON_JOB_SECONDS", "0.2"))
    )
    items = int(os.environ.get("DAEMON_JOB_ITEMS", "2"))
    posts = cfg.posts_dir
    posts.mkdir(parents=True, exist_ok=True)
    written = 0
    for i in range(items):
        if stopping:
            break
        time.sleep(seconds / items)  # a signal runs the handler, then the sleep resumes
        name = f"{source}-{run_id}-{i}.md"
        tmp = posts / f".{name}.tmp"
        body = f"---\ntitle: run {run_id} item {i}\n---\n" + "x" * 4096 + "\nend\n"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, posts / name)
        store.record_article(
            key=f"{source}:{run_id}-{i}",
            source=source,
            article_id=f"{run_id}-{i}",
            media="",
            url="",
            title=f"run {run_id} item {i}",
            published="",
            content_hash=str(len(body)),
            post_path=f"_posts/{name}",
        )
        written += 1
    outcome = "interrupted" if stopping else "ok"
    store.finish_run(run_id, outcome, {"listed": items, "new": written, "duration": seconds})
    event("end", job=job, run=run_id, outcome=outcome, written=written)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
