"""``wiremirror demo``: mirror the bundled recorded pages from a loopback server into a fresh folder.

Nothing leaves 127.0.0.1: the demo's config points every upstream URL at the local server and
turns on the loopback-only guard. It shows the whole path — lists, bodies, fallbacks, cleaning,
posts, state — in a few seconds, and a second run shows that nothing is fetched again.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

DEMO_DATA = Path(__file__).resolve().parent.parent / "demo_data"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="mirror bundled recorded pages from a loopback server", description=__doc__
    )
    parser.add_argument("--dir", default="demo-output", help="folder for the demo site, state and config")
    parser.set_defaults(func=run)


def demo_config(server_url: str, folder: Path) -> dict[str, Any]:
    return {
        "output": {"dir": str(folder / "output")},
        "state": {"dir": str(folder / "state")},
        "crawl": {
            "download_delay": 0.0,
            "autothrottle": False,
            "loopback_only": True,
            "concurrent_per_domain": 4,
        },
        "sources": {
            "eastmoney": {
                "list_url": f"{server_url}/comm/web/getNewsByColumns",
                "text_url": f"{server_url}/NewsData/GetNewsText.do?id={{id}}",
                "share_url": f"{server_url}/html_News/NewsShare.html?infoCode={{id}}",
                "article_url": f"{server_url}/a/{{id}}.html",
            },
            "chinanews": {
                "base_url": server_url,
                "enabled": (DEMO_DATA / "chinanews" / "routes.json").is_file(),
            },
        },
    }


def _is_article_request(path: str) -> bool:
    if "/NewsData/" in path:
        return True
    return path.endswith((".html", ".shtml")) and "/scroll-news/" not in path


def run(args: argparse.Namespace) -> int:
    import tomli_w

    from crawler.launch import wiremirror_command
    from crawler.loopback import LoopbackServer
    from crawler.site import init_site

    folder = Path(args.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    init_site(folder / "output")  # a buildable Jekyll site around the posts
    with LoopbackServer() as server:
        for manifest in sorted(DEMO_DATA.glob("*/routes.json")):
            server.load_manifest(manifest.parent)
        config_path = folder / "wiremirror.toml"
        config_path.write_text(tomli_w.dumps(demo_config(server.base_url, folder)), encoding="utf-8")
        print(f"demo: serving recorded pages at {server.base_url} (loopback only)")
        code = 0
        for attempt in ("first run", "second run (nothing new upstream)"):
            server.clear_requests()
            print(f"demo: {attempt}: wiremirror crawl --config {config_path}")
            code = subprocess.call(wiremirror_command("crawl", config_path=str(config_path)))
            articles = [r for r in server.requests if _is_article_request(r.path)]
            print(f"demo: {attempt}: {len(server.requests)} requests, {len(articles)} for article bodies")
            if code:
                break
    posts = sorted((folder / "output" / "_posts").glob("*.md"))
    print(f"demo: {len(posts)} posts in {folder / 'output' / '_posts'}")
    for post in posts:
        print(f"  {post.name}")
    print(f"demo: config {config_path}; try: wiremirror --config {config_path} status")
    print(f"demo: build the site with: cd {folder / 'output'} && jekyll build")
    return code
