"""Reading the crawl's own WARC capture files fast: the records of a ``.warc.gz``, streamed.

``archive rebuild`` reads every capture; warcio's pure-Python record and header parsing cost it
more than the replay of the callbacks. The capture writer's files are simple (a gzip member per
record, WARC headers, an HTTP response or a JSON metadata block), so this reads them with zlib
and a split on ``\\r\\n\\r\\n``, in bounded memory: a chunk of the file and the record being read.
A response whose HTTP headers say its body is still encoded (``Content-Encoding``,
``Transfer-Encoding``: never written by the capture writer, which stores bodies decoded) is parsed
by warcio instead, which decodes it as before.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import IO

CHUNK = 1 << 16  # compressed bytes read at a time (each gzip member copies what is left of it)
_MAX_OUT = 8 << 20  # decompressed bytes made from them at a time (a gzip bomb stays a chunk)
_END = b"\r\n\r\n"
_ENCODED = frozenset({"content-encoding", "transfer-encoding"})


@dataclass(slots=True)
class Record:
    """One WARC record: its headers (names lower-cased) and, for a response, the HTTP part."""

    type: str
    headers: dict[str, str]
    block: bytes  # the record's content; for a response, the HTTP body alone
    status: int = 0
    http_headers: list[tuple[str, str]] | None = None


def _line(raw: bytes) -> str:
    """A header line decoded as warcio decodes it: UTF-8, else ISO-8859-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def _inflated(handle: IO[bytes]) -> Iterator[bytes]:
    """The decompressed bytes of a file of gzip members; EOFError when it stops mid-member."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    fed = False
    while data := handle.read(CHUNK):
        while data:
            fed = True
            out = inflater.decompress(data, _MAX_OUT)
            if out:
                yield out
            if inflater.eof:
                data, inflater, fed = inflater.unused_data, zlib.decompressobj(zlib.MAX_WBITS | 16), False
            else:
                data = inflater.unconsumed_tail
    if fed and not inflater.eof:
        raise EOFError("the file ends inside a compressed record")


def _fields(text: bytes) -> list[tuple[str, str]]:
    """``Name: value`` lines (continuation lines appended, lines without a colon dropped), as
    warcio's StatusAndHeadersParser reads them."""
    if not text:
        return []
    try:
        lines = text.decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        lines = [_line(raw) for raw in text.split(b"\r\n")]
    fields: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.rstrip()
        if line[:1] in (" ", "\t"):
            if fields:
                fields[-1] = (fields[-1][0], fields[-1][1] + line)
            continue
        name, colon, value = line.partition(":")
        if colon:
            fields.append((name.rstrip(" \t"), value.lstrip()))
    return fields


def read_records(handle: IO[bytes]) -> Iterator[Record]:
    """Every record of a ``.warc.gz`` in file order. A damaged or cut tail raises (EOFError,
    zlib.error, ValueError) after the complete records before it."""
    chunks = _inflated(handle)
    buf, pos = b"", 0

    def more() -> bool:
        nonlocal buf, pos
        chunk = next(chunks, None)
        if chunk is None:
            return False
        buf, pos = buf[pos:] + chunk, 0
        return True

    while True:
        while True:  # records are separated by blank lines
            while buf.startswith(b"\r\n", pos):
                pos += 2
            if len(buf) - pos >= 2 or not more():
                break
        if pos >= len(buf):
            return
        head_end = buf.find(_END, pos)
        while head_end < 0:
            if not more():
                raise EOFError("the file ends inside a record's headers")
            head_end = buf.find(_END, pos)
        version, _, rest = buf[pos:head_end].partition(b"\r\n")
        if not version.startswith(b"WARC/"):
            raise ValueError(f"not a WARC record: {version[:40]!r}")
        headers = {name.lower(): value for name, value in _fields(rest)}
        start = head_end + 4
        end = start + int(headers.get("content-length", "0"))
        while len(buf) < end:
            if not more():
                raise EOFError("the file ends inside a record")
        block, pos = buf[start:end], end
        yield _record(headers, block)


def _record(headers: dict[str, str], block: bytes) -> Record:
    kind = headers.get("warc-type", "")
    if kind != "response":
        return Record(kind, headers, block)
    http_end = block.find(_END)
    if http_end < 0:
        return _with_warcio(headers, block)
    status_line, _, rest = block[:http_end].partition(b"\r\n")
    http_headers = _fields(rest)
    if any(name.lower() in _ENCODED for name, _ in http_headers):
        return _with_warcio(headers, block)
    parts = _line(status_line).strip().split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return Record(kind, headers, block[http_end + 4 :], status, http_headers)


def _with_warcio(headers: dict[str, str], block: bytes) -> Record:
    """A response record parsed (and its body decoded) by warcio, as every record once was."""
    from warcio.archiveiterator import ArchiveIterator

    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    raw = b"WARC/1.0\r\n" + head.encode("utf-8") + b"\r\n" + block + _END
    record = next(iter(ArchiveIterator(BytesIO(raw))))
    http = record.http_headers
    status = int(http.get_statuscode() or 0) if http is not None else 0
    return Record(
        "response", headers, record.content_stream().read(), status, list(http.headers) if http else []
    )
