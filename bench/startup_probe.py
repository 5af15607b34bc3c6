"""``python -m bench.startup_probe POSTS_DIR ARGS…``: run ``wiremirror ARGS`` in this process with an
audit hook that counts every directory listing or file open under POSTS_DIR; print the count.

Audit events (``os.listdir``, ``os.scandir``, ``open``, ``glob.glob``) see what the CLI touches
without patching it, so "nothing scanned in _posts at start-up" is observed, not assumed.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any

WATCHED = ("os.listdir", "os.scandir", "open", "glob.glob", "os.walk")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    posts = os.path.realpath(args[0])
    touched: list[str] = []

    def hook(event: str, payload: tuple[Any, ...]) -> None:
        if event in WATCHED and payload:
            target = payload[0]
            if isinstance(target, (str, bytes, os.PathLike)):
                path = os.fsdecode(target)
                if os.path.realpath(path).startswith(posts):
                    touched.append(f"{event} {path}")

    sys.addaudithook(hook)
    from crawler.cli import main as cli_main

    code = 0
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli_main(args[1:])
        except SystemExit as exit_:  # --help exits
            code = int(exit_.code or 0)
    print(len(touched))
    for line in touched[:20]:
        print(line)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
