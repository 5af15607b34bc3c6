"""``[sources.toywire]``."""

from __future__ import annotations

from dataclasses import dataclass

from crawler.config import SourceConfig, url


@dataclass(slots=True)
class ToyConfig(SourceConfig):
    base_url: str = url("https://toywire.example", "site")
