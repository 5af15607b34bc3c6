"""Shared vocabulary of the extractors: their errors and their cleaned-body result."""

from __future__ import annotations

from dataclasses import dataclass


class ExtractionError(ValueError):
    """The page or payload looks like an article but a required part is missing or malformed."""


class UpstreamFormatError(ExtractionError):
    """A list or body payload is not in any shape we know (broken JSON, wrong success code …)."""


class NotAnArticle(ExtractionError):
    """The page is not an article we mirror (photo gallery, video id space, channel page)."""


class SoftNotFound(ExtractionError):
    """A normal 200 page that is really "not found" (中国新闻网-404页面, 404missing)."""


@dataclass(slots=True)
class CleanedBody:
    """The result of a site-specific pre-pass: body HTML plus the lines moved to front matter."""

    html: str
    origin: str = ""  # 文章来源 / 来源
    editor: str = ""  # 责任编辑 / 编辑
    author: str = ""
