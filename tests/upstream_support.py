"""A hand-made Eastmoney upstream on the loopback server, for the fault, crash, concurrency,
disk, hostile-input and politeness tests (shapes from docs/upstream-eastmoney.md §2–§3).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.loopback import LoopbackServer, SeenRequest
from crawler.state import StateStore
from tests.conftest import read_post, run_cli

LIST = "/comm/web/getNewsByColumns"


@dataclass(frozen=True)
class Article:
    article_id: str
    title: str
    body: str
    media: str = "新华社"
    published: str = "2022-05-26 08:00:00"

    @property
    def key(self) -> str:
        return f"eastmoney:{self.article_id}"

    @property
    def post_name(self) -> str:
        return f"{self.published[:10]}-NW{self.article_id}.md"

    @property
    def text_path(self) -> str:
        return f"/NewsData/GetNewsText.do?id=NW{self.article_id}"

    @property
    def page_path(self) -> str:
        return f"/a/{self.article_id}.html"

    def record(self) -> dict[str, Any]:
        return {
            "code": self.article_id,
            "showTime": self.published,
            "title": self.title,
            "mediaName": self.media,
            "url": f"http://finance.eastmoney.com/a/{self.article_id}.html",
        }


def articles(n: int, *, prefix: str = "2022052600000") -> list[Article]:
    """``n`` distinct plain articles, one minute apart."""
    out = []
    for i in range(n):
        article_id = f"{prefix}{i + 1:05d}"
        out.append(
            Article(
                article_id,
                f"测试文章{i + 1}",
                f"<p>　　第{i + 1}篇的正文。</p>",
                published=f"2022-05-26 {8 + i // 60:02d}:{i % 60:02d}:00",
            )
        )
    return out


def serve(server: LoopbackServer, items: list[Article], *, bodies: bool = True) -> None:
    """List every article on one page (page 1 and beyond) and serve their GetNewsText bodies."""
    server.add_json(
        LIST, {"code": "1", "data": {"list": [a.record() for a in items], "totle_hits": len(items)}}
    )
    if bodies:
        for article in items:
            server.add_json(article.text_path, {"text": article.body})


def article_page(title: str, when: str, body_html: str, *, charset: str = "utf-8") -> str:
    """A current-layout finance.eastmoney.com/a/<id>.html page (upstream-eastmoney.md §3)."""
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{title}_东方财富网</title></head><body>"
        f'<div class="zwinfos"><div class="title">{title}</div>'
        f'<div class="infos"><div class="item">{when}</div><div class="item">来源：新华社</div></div>'
        f'<div class="txtinfos" id="ContentBody">{body_html}</div></div></body></html>'
    )


def crawl(config: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli("crawl", "eastmoney", "--config", str(config), *extra, timeout=timeout)


def state_at(root: Path) -> StateStore:
    return StateStore(root / "state" / "wiremirror.sqlite3")


def post_files(output: Path) -> list[Path]:
    folder = output / "_posts"
    return sorted(folder.glob("*.md")) if folder.is_dir() else []


def assert_complete_posts(output: Path) -> dict[str, Path]:
    """Every file Jekyll would read under _posts is a whole post; returns article_id → path.

    Jekyll skips dot-files, so the only thing allowed besides posts is a ``.wm-*.tmp`` left by a
    writer killed mid-write. No article may have two posts.
    """
    by_id: dict[str, Path] = {}
    folder = output / "_posts"
    if not folder.is_dir():
        return by_id
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            assert path.name.startswith(".wm-") and path.name.endswith(".tmp"), path
            continue
        assert path.suffix == ".md", f"unexpected file visible to Jekyll: {path}"
        text = path.read_text(encoding="utf-8")
        post = read_post(path)
        assert post["layout"] == "post" and post["title"] and post["date"], path
        assert text.rstrip().endswith("[返回首页](//finews.withounder.com/)"), f"partial post {path}"
        article_id = str(post["article_id"])
        assert article_id not in by_id, f"{article_id} written twice: {by_id[article_id]} and {path}"
        by_id[article_id] = path
    return by_id


def hits(server: LoopbackServer, target: str) -> list[SeenRequest]:
    """Requests the server saw for ``target`` (a path, with its query when it has one)."""
    return [r for r in list(server.requests) if r.target == target or (r.path == target and not r.query)]
