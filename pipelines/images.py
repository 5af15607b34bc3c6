"""ArticleImagesPipeline: optionally keep article images in the site and point the posts at them.

Off unless ``[images] download = true``. Built on Scrapy's FilesPipeline (ImagesPipeline would
need Pillow and re-encodes; the bytes are kept as served). Each image is requested with the
article as Referer — image hosts refuse hotlinks — and stored at
``<output>/<images.dir>/<source>/<article id>/<sha1 of URL>.<ext>``; the post's ``src`` becomes
``/<images.dir>/…``. An image that fails keeps its remote ``src``. ``localise_images`` is the
offline half, used again by ``archive rebuild`` so a rebuild keeps the local copies.
Runs after cleaning and deduplication, before the post is rendered.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.pipelines.files import FilesPipeline

from crawler.runtime import get_config, switched_off

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.pipelines.media import MediaPipeline

    from crawler.items import ArticleItem

logger = logging.getLogger(__name__)

_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]*)(")', re.IGNORECASE)
_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".bmp", ".avif"})


def image_relpath(source: str, article_id: str, url: str) -> str:
    """Where one image of one article lives under the images folder (stable: the same URL, the same file)."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix not in _EXTENSIONS:
        suffix = ".img"
    digest = hashlib.sha1(url.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{source}/{article_id}/{digest}{suffix}"


def image_urls(body: str) -> list[str]:
    """The remote (http/https) image URLs of a cleaned body, in order, without repeats."""
    found = (html.unescape(m.group(2)) for m in _IMG_SRC.finditer(body))
    return list(dict.fromkeys(u for u in found if u.startswith(("http://", "https://"))))


def localise_images(body: str, *, source: str, article_id: str, images_dir: str, output_dir: Path) -> str:
    """Point every ``src`` whose image is already stored in the site at the local copy."""
    folder = "/" + images_dir.strip("/")

    def swap(match: re.Match[str]) -> str:
        url = html.unescape(match.group(2))
        if not url.startswith(("http://", "https://")):
            return match.group(0)
        rel = image_relpath(source, article_id, url)
        if not (output_dir / images_dir / rel).is_file():
            return match.group(0)
        return f"{match.group(1)}{folder}/{rel}{match.group(3)}"

    return _IMG_SRC.sub(swap, body)


class ArticleImagesPipeline(FilesPipeline):
    """Reads ``[images] download`` and ``dir`` and ``[output] dir``; NotConfigured when off."""

    output_dir: Path
    images_dir: str

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = get_config(crawler)
        if not config.images.download:
            raise switched_off(cls.__name__, "[images] download = false")
        store = config.output_dir / config.images.dir
        store.mkdir(parents=True, exist_ok=True)
        pipeline = cls(str(store), crawler=crawler)
        pipeline.output_dir = config.output_dir
        pipeline.images_dir = config.images.dir
        return pipeline

    def get_media_requests(self, item: ArticleItem, info: MediaPipeline.SpiderInfo) -> list[Request]:
        return [
            Request(url, headers={"Referer": item.url}, meta={"wm_kind": "image", "wm_image_of": item.key})
            for url in image_urls(item.body)
        ]

    def file_path(
        self,
        request: Request,
        response: Response | None = None,
        info: MediaPipeline.SpiderInfo | None = None,
        *,
        item: Any = None,
    ) -> str:
        source, _, article_id = str(request.meta.get("wm_image_of", "unknown:0")).partition(":")
        if item is not None:
            source, article_id = item.source, item.article_id
        # from the URL alone, so a rebuild finds the file again without the response
        return image_relpath(source, article_id, request.url)

    def item_completed(
        self, results: list[Any], item: ArticleItem, info: MediaPipeline.SpiderInfo
    ) -> ArticleItem:
        failed = sum(1 for ok, _ in results if not ok)
        if failed:
            logger.info(
                "%s: %d of %d images not downloaded; their remote src stays", item.key, failed, len(results)
            )
        item.body = localise_images(
            item.body,
            source=item.source,
            article_id=item.article_id,
            images_dir=self.images_dir,
            output_dir=self.output_dir,
        )
        return item
