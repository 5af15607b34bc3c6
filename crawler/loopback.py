"""A loopback HTTP server for recorded and hand-made upstream pages, with fault modes.

Tests, ``wiremirror demo`` and the benchmarks point every upstream URL here. It binds 127.0.0.1
only, records every request it serves (so tests can assert "no article was fetched"), and can
misbehave on purpose: slow answers, resets, truncated bodies, 429 with Retry-After, redirect loops.
A route with an ``ETag`` or ``Last-Modified`` header answers a matching conditional request 304.

Routes match on the path plus a subset of query parameters, the most specific route winning, so
``/list?page_index=2`` matches a request that also carries a varying ``req_trace``. Among equally
specific routes the one added last wins, so a test can change an answer between two runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FAULTS = ("reset", "truncate", "redirect_loop", "hang")


@dataclass(slots=True)
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds before answering (a slow upstream)
    fault: str = ""  # one of FAULTS
    times: int = 0  # answer this way only the first N times (0 = always), then fall through


@dataclass(slots=True, frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float

    @property
    def target(self) -> str:
        return self.path + ("?" + "&".join(f"{k}={v}" for k, v in self.query.items()) if self.query else "")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early (timeouts, cancelled crawls) are normal here, not errors."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """Serve routes on 127.0.0.1 in a background thread (``with LoopbackServer() as srv``)."""

    def __init__(self, port: int = 0) -> None:
        self._routes: list[tuple[str, dict[str, str], Route, list[int]]] = []
        self._lock = threading.Lock()
        self.requests: list[SeenRequest] = []
        self._httpd = _QuietServer(("127.0.0.1", port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- set-up ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def add(self, target: str, body: bytes | str = b"", **kwargs: Any) -> Route:
        """Serve ``body`` at ``target`` (a path, optionally with the query parameters to match)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        route = Route(body=data, **kwargs)
        parts = urlsplit(target)
        with self._lock:
            self._routes.append((parts.path, dict(parse_qsl(parts.query)), route, [0]))
        return route

    def add_json(self, target: str, payload: Any, **kwargs: Any) -> Route:
        kwargs.setdefault("content_type", "application/json; charset=utf-8")
        return self.add(target, json.dumps(payload, ensure_ascii=False), **kwargs)

    def load_manifest(self, folder: Path, base_url_placeholder: str = "{{BASE}}") -> int:
        """Add the routes of ``folder/routes.json``; ``{{BASE}}`` in bodies becomes this server's URL."""
        manifest = json.loads((folder / "routes.json").read_text(encoding="utf-8"))
        for entry in manifest["routes"]:
            body = (folder / entry["file"]).read_bytes() if entry.get("file") else b""
            body = body.replace(base_url_placeholder.encode(), self.base_url.encode())
            options = {k: v for k, v in entry.items() if k in Route.__slots__ and k != "body"}
            self.add(entry["path"], body, **options)
        return len(manifest["routes"])

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, path_prefix: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- matching -------------------------------------------------------------------------
    def _match(self, path: str, query: dict[str, str]) -> Route | None:
        best: tuple[int, Route, list[int]] | None = None
        with self._lock:
            for rpath, rquery, route, used in self._routes:
                if rpath != path or any(query.get(k) != v for k, v in rquery.items()):
                    continue
                if route.times and used[0] >= route.times:
                    continue
                score = len(rquery)
                if best is None or score >= best[0]:  # ties: the route added last wins
                    best = (score, route, used)
            if best is None:
                return None
            best[2][0] += 1
            return best[1]

    def _log(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="loopback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read server.requests
            return

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            server._log(SeenRequest("GET", parts.path, query, dict(self.headers.items()), time.time()))
            route = server._match(parts.path, query)
            if route is None:
                self._send(404, b"<html><title>404</title>not found</html>", "text/html; charset=utf-8", {})
                return
            if route.delay:
                time.sleep(route.delay)
            if route.fault == "hang":
                time.sleep(3600)
            if route.fault == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self._hang_up()
                return
            if route.fault == "redirect_loop":
                self._send(302, b"", "text/plain", {"Location": self.path})
                return
            if route.fault == "truncate":
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body) * 2 + 10))
                self.end_headers()
                self.wfile.write(route.body[: max(1, len(route.body) // 2)])
                self.wfile.flush()
                self._hang_up()
                return
            if route.status == 200 and self._not_modified(route.headers):
                self._send(304, b"", route.content_type, route.headers)
                return
            self._send(route.status, route.body, route.content_type, route.headers)

        def _not_modified(self, headers: dict[str, str]) -> bool:
            """A conditional request whose validator still matches, as a real server answers it."""
            etag, modified = headers.get("ETag"), headers.get("Last-Modified")
            if etag and self.headers.get("If-None-Match"):
                return self.headers["If-None-Match"] == etag
            return bool(modified) and self.headers.get("If-Modified-Since") == modified

        def _hang_up(self) -> None:
            # rfile (a makefile) keeps the socket open after close(), and keep-alive would wait
            # for a next request on it: close both and end the connection loop, so the client
            # really sees the reset / the early end of the body now.
            self.close_connection = True
            self.rfile.close()
            self.connection.close()

        def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


@contextmanager
def serving(folder: Path | None = None) -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        if folder is not None:
            srv.load_manifest(folder)
        yield srv


def main(argv: list[str] | None = None) -> int:
    """``python -m crawler.loopback FOLDER``: serve a manifest folder until interrupted."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    srv = LoopbackServer(args.port)
    srv.load_manifest(args.folder)
    print(srv.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        srv._httpd.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
