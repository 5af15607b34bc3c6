"""Synthetic upstream data: N Eastmoney list entries with GetNewsText bodies, and 中国新闻网 pages.

The bodies are the bundled real demo pages with a unique first paragraph, so cleaning, hashing and
rendering cost what real articles cost. Everything is served by :class:`IndexedLoopbackServer`, the
project's loopback server with an indexed route lookup (the stock one scans every route per
request, which would make a 5,000-article upstream the bottleneck of its own benchmark).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crawler.loopback import LoopbackServer, Route
from crawler.timeutil import BEIJING, now_beijing

DEMO = Path(__file__).resolve().parent.parent / "crawler" / "demo_data"
LIST_PATH = "/comm/web/getNewsByColumns"
TEXT_PATH = "/NewsData/GetNewsText.do"
MEDIA = ("中国新闻网", "上海证券报", "证券时报", "新华社", "第一财经", "东财滚动新闻")
JSON_TYPE = "application/json; charset=utf-8"


class IndexedLoopbackServer(LoopbackServer):
    """LoopbackServer whose route lookup is a dict probe per query-key signature, not a scan.

    Same rules as the base class: the route with the most matching query parameters wins; among
    equally specific routes the one added last wins; ``times`` limits still apply.
    """

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        # path -> signature (sorted query keys) -> values tuple -> [(order, route, used)]
        self._index: dict[
            str, dict[tuple[str, ...], dict[tuple[str, ...], list[tuple[int, Route, list[int]]]]]
        ] = {}
        self._order = 0

    def add(self, target: str, body: bytes | str = b"", **kwargs: Any) -> Route:
        route = super().add(target, body, **kwargs)
        with self._lock:
            rpath, rquery, _, used = self._routes[-1]
            keys = tuple(sorted(rquery))
            values = tuple(rquery[k] for k in keys)
            self._order += 1
            bucket = self._index.setdefault(rpath, {}).setdefault(keys, {}).setdefault(values, [])
            bucket.append((self._order, route, used))
        return route

    def _match(self, path: str, query: dict[str, str]) -> Route | None:
        best: tuple[int, int, Route, list[int]] | None = None
        with self._lock:
            for keys, table in self._index.get(path, {}).items():
                if any(k not in query for k in keys):
                    continue
                for order, route, used in table.get(tuple(query[k] for k in keys), []):
                    if route.times and used[0] >= route.times:
                        continue
                    rank = (len(keys), order)
                    if best is None or rank > best[:2]:
                        best = (len(keys), order, route, used)
            if best is None:
                return None
            best[3][0] += 1
            return best[2]


@dataclass(slots=True, frozen=True)
class EastmoneyArticle:
    article_id: str
    title: str
    media: str
    published: datetime
    body: str

    @property
    def info_code(self) -> str:
        return f"NW{self.article_id}"

    def list_record(self) -> dict[str, Any]:
        url = f"http://finance.eastmoney.com/a/{self.article_id}.html"
        return {
            "code": self.article_id,
            "showTime": self.published.strftime("%Y-%m-%d %H:%M:%S"),
            "title": self.title,
            "mediaName": self.media,
            "summary": f"合成摘要{self.article_id[-6:]}：新冠疫情此起彼伏，全国上下众志成城。",
            "image": "",
            "url": url,
            "uniqueUrl": url,
            "Np_dst": "CMS",
        }


def _demo_text_body() -> str:
    payload = json.loads((DEMO / "eastmoney" / "text-NW202204082336871455.json").read_text(encoding="utf-8"))
    return str(payload["text"])


_NEWEST = now_beijing().replace(microsecond=0) - timedelta(hours=1)


def eastmoney_articles(
    count: int, *, first: int = 0, newest: datetime | None = None, prefix: str = "2024"
) -> list[EastmoneyArticle]:
    """Articles ``first`` … ``first+count-1`` of one fixed sequence, newest first, 37 s apart."""
    template = _demo_text_body()
    start = newest.astimezone(BEIJING).replace(microsecond=0) - timedelta(hours=1) if newest else _NEWEST
    out = []
    for n in range(first, first + count):
        article_id = f"{prefix}{n + 1:014d}"
        lead = f"<p>　　合成正文第{n + 1}篇：本段让每篇文章的内容与哈希都不相同。编号{article_id}。</p>"
        out.append(
            EastmoneyArticle(
                article_id=article_id,
                title=f"合成新闻第{n + 1}号：短视频平台汇聚抗“疫”新暖流",
                media=MEDIA[n % len(MEDIA)],
                published=start - timedelta(seconds=37 * n),
                body=lead + template,
            )
        )
    return out


def list_payload(entries: list[EastmoneyArticle], *, page: int, page_size: int, total: int) -> dict[str, Any]:
    return {
        "code": "1",
        "message": "success",
        "data": {
            "page_index": page,
            "list": [a.list_record() for a in entries],
            "totle_hits": total,
            "page_size": page_size,
        },
    }


def serve_eastmoney(server: LoopbackServer, articles: list[EastmoneyArticle], *, page_size: int) -> int:
    """Add list pages (``page_index=1..``), an empty fallback page and one body per article."""
    total = len(articles)
    pages = max(1, -(-total // page_size))
    for page in range(1, pages + 1):
        chunk = articles[(page - 1) * page_size : page * page_size]
        server.add_json(
            f"{LIST_PATH}?page_index={page}", list_payload(chunk, page=page, page_size=page_size, total=total)
        )
    server.add_json(LIST_PATH, list_payload([], page=pages + 1, page_size=page_size, total=total))
    for article in articles:
        server.add_json(f"{TEXT_PATH}?id={article.info_code}", {"text": article.body})
    return pages


# -- 中国新闻网 ------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class ChinanewsArticle:
    article_id: str
    title: str
    published: datetime

    @property
    def path(self) -> str:
        return f"/cj/{self.published:%Y}/{self.published:%m-%d}/{self.article_id}.shtml"


def chinanews_articles(count: int, *, newest: datetime | None = None) -> list[ChinanewsArticle]:
    start = (newest or now_beijing()).astimezone(BEIJING).replace(second=0, microsecond=0) - timedelta(
        hours=1
    )
    return [
        ChinanewsArticle(
            article_id=str(9_800_000 + n + 1),
            title=f"中新网合成稿第{n + 1}号：快手多举措联动",
            published=start - timedelta(minutes=n),
        )
        for n in range(count)
    ]


def _chinanews_page(template: str, article: ChinanewsArticle) -> str:
    old_title = "短视频平台汇聚抗“疫”新暖流 快手多举措联动"
    page = template.replace(old_title, article.title).replace(
        "/cj/2022/04-08/", article.path.rsplit("/", 1)[0] + "/"
    )
    page = page.replace("2022-04-08 17:57:45", article.published.strftime("%Y-%m-%d %H:%M:%S"))
    page = page.replace("2022年04月08日 17:57", article.published.strftime("%Y年%m月%d日 %H:%M"))
    page = page.replace('value="2022-04-08"', f'value="{article.published:%Y-%m-%d}"')
    page = page.replace('value="17:57:45"', f'value="{article.published:%H:%M:%S}"')
    lead = f"<p>　　合成正文第{article.article_id}号，本段让每篇文章的内容不同。</p>"
    page = page.replace('<div class="left_zw">', f'<div class="left_zw">\n{lead}', 1)
    return page.replace("9724513", article.article_id)


def scroll_page(articles: list[ChinanewsArticle]) -> str:
    rows = "".join(
        f'<li><div class="dd_lm">[财经]</div><div class="dd_bt"><a href="{a.path}">{a.title}</a></div>'
        f'<div class="dd_time">{a.published.month}-{a.published:%d %H:%M}</div></li>\n'
        for a in articles
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="UTF-8"><title>即时新闻-中新网</title></head><body>\n'
        f'<div class="content_list"><ul>\n{rows}</ul></div>\n</body></html>\n'
    )


def rss_feed(articles: list[ChinanewsArticle], base_url: str) -> str:
    items = "".join(
        f"<item><title>{a.title}</title><link>{base_url}{a.path}</link><description>摘要</description>"
        f"<pubDate>{a.published:%a, %d %b %Y %H:%M:%S} +0800</pubDate></item>\n"
        for a in articles
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>中新网即时新闻</title>\n'
        f"{items}</channel></rss>\n"
    )


def serve_chinanews(server: LoopbackServer, articles: list[ChinanewsArticle], *, per_page: int = 50) -> None:
    """Scroll pages, the scroll-news RSS feed, today's and yesterday's day archive, the articles."""
    template = (DEMO / "chinanews" / "article-9724513.html").read_text(encoding="utf-8")
    pages = [articles[i : i + per_page] for i in range(0, len(articles), per_page)] or [[]]
    for n, chunk in enumerate(pages, start=1):
        server.add(f"/scroll-news/news{n}.html", scroll_page(chunk))
    server.add(
        "/rss/scroll-news.xml", rss_feed(articles[:per_page], server.base_url), content_type="application/xml"
    )
    today = now_beijing().date()
    for day in (today, today - timedelta(days=1)):
        same_day = [a for a in articles if a.published.date() == day]
        server.add(f"/scroll-news/{day:%Y}/{day:%m%d}/news.shtml", scroll_page(same_day))
    for article in articles:
        server.add(article.path, _chinanews_page(template, article))


def config_for(server: LoopbackServer | str, output: Path, state: Path, **crawl: Any) -> dict[str, Any]:
    """A wiremirror config dict aimed at ``server`` (every upstream URL on 127.0.0.1)."""
    b = server if isinstance(server, str) else server.base_url
    return {
        "output": {"dir": str(output)},
        "state": {"dir": str(state)},
        "crawl": {"loopback_only": True, "lock_timeout": 30.0, **crawl},
        "sources": {
            "eastmoney": {
                "list_url": f"{b}{LIST_PATH}",
                "fast_list_url": f"{b}/comm/web/getFastNewsList",
                "text_url": f"{b}{TEXT_PATH}?id={{id}}",
                "share_url": "http://finews.zning.xyz/html_News/NewsShare.html?infoCode={id}",
                "article_url": f"{b}/a/{{id}}.html",
            },
            "chinanews": {"base_url": b},
        },
    }


POLITENESS_OFF: dict[str, Any] = {
    "download_delay": 0.0,
    "autothrottle": False,
    "obey_robots": False,
    "concurrent_requests": 32,
    "concurrent_per_domain": 32,
    "retry_times": 1,
    "timeout": 30.0,
}
