"""The predecessor's poll, replayed with plain urllib: list, then every listed article's body.

zning1994/finews fetched ``GetNewsText.do`` for every entry of every list on every poll and
rewrote every post (docs/predecessor.md §2, §8 defect 5). ``python -m bench.predecessor LIST_URL
TEXT_URL OUT_DIR`` does one such poll and prints its counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/96.0 Safari/537.36"


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=30) as response:
        data: bytes = response.read()
    return data


def poll(list_url: str, text_url: str, out_dir: Path) -> dict[str, float]:
    started = time.perf_counter()
    requests = 1
    listing = json.loads(get(list_url).decode("utf-8"))
    received = 0
    written = 0
    posts = out_dir / "_posts"
    posts.mkdir(parents=True, exist_ok=True)
    for record in listing["data"]["list"]:
        info_code = "NW" + str(record["code"])
        body = get(text_url.format(id=info_code))
        requests += 1
        received += len(body)
        text = json.loads(body.decode("utf-8"))["text"]
        date = str(record["showTime"]).split(" ")[0]
        front = f'---\nlayout: post\ntitle: "{record["title"]}"\ndate: {record["showTime"]} +0800\n---\n'
        # the predecessor's open(..., "w"): every post rewritten on every poll
        with open(posts / f"{date}-{info_code}.md", "w", encoding="utf-8") as handle:
            handle.write(front + text)
        written += 1
    return {
        "requests": requests,
        "article_fetches": requests - 1,
        "bytes": received,
        "files_written": written,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("list_url")
    parser.add_argument("text_url", help="with {id} for the infoCode")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    json.dump(poll(args.list_url, args.text_url, args.out_dir), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
