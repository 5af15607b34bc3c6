"""``wiremirror.toml``: one typed configuration for the CLI, the spiders and the daemon.

A file only needs the keys it changes; everything else has a default. Unknown keys and wrong
types are errors that name the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

CONFIG_ENV = "WIREMIRROR_CONFIG"
DEFAULT_USER_AGENT = "wiremirror/0.1 (news archive mirror; +https://github.com/wiremirror/wiremirror)"


class ConfigError(ValueError):
    """A configuration problem, worded for the operator (it names the file and the key)."""


@dataclass(slots=True)
class OutputConfig:
    dir: str = "output"  # the Jekyll site root; posts go to <dir>/_posts
    archive_dir: str = "old_post"  # rotated posts, relative to dir (the predecessor's old_post/)


@dataclass(slots=True)
class StateConfig:
    dir: str = "state"  # SQLite store, locks, captures, logs


@dataclass(slots=True)
class SiteConfig:
    url: str = "//finews.withounder.com"  # address used in post footers
    title: str = "金融消息"
    builder: str = "jekyll"  # `wiremirror site build`: jekyll (GitHub Pages' own) or hugo (large archives)


@dataclass(slots=True)
class CrawlConfig:
    user_agent: str = DEFAULT_USER_AGENT
    obey_robots: bool = True
    download_delay: float = 2.0  # seconds between requests to one host (upstream bans fast clients)
    autothrottle: bool = True
    concurrent_per_domain: int = 1
    concurrent_requests: int = 8
    timeout: float = 30.0
    max_size: int = 8 * 1024 * 1024  # bytes; a larger body is a failure, not a post
    retry_times: int = 3
    lock_timeout: float = 60.0  # seconds to wait for another crawl of the same source
    retry_backoff: float = 600.0  # seconds before a failed article is tried again (doubles)
    retry_max_attempts: int = 8
    retry_after_max: float = 300.0  # longest 429/503 Retry-After waited for in a run; longer: retry next run
    captures: bool = True  # keep every response in WARC files under the state dir
    loopback_only: bool = False  # refuse every request not aimed at 127.0.0.1 (tests, demo, benchmarks)
    log_level: str = "INFO"


@dataclass(slots=True)
class EastmoneyConfig:
    enabled: bool = True
    # column list API (getNewsByColumns), paged
    columns_enabled: bool = True
    list_url: str = "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns"
    columns: list[str] = field(default_factory=lambda: ["344", "345", "350", "351", "353"])
    page_size: int = 50
    max_pages: int = 5
    # 7×24 fast news (getFastNewsList), sortEnd cursor
    fast_enabled: bool = False  # off by default: flash news are short items without media or body
    fast_list_url: str = "https://np-weblist.eastmoney.com/comm/web/getFastNewsList"
    fast_column: str = "102"
    fast_max_pages: int = 3
    # the predecessor's feeds (type=102 records, type=45 nodeList, marketType record): full URLs
    legacy_urls: list[str] = field(default_factory=list)
    # body and link endpoints; {id} is the infoCode (NW…) or the bare id as the URL expects
    text_url: str = "http://choicewzp1.eastmoney.com/NewsData/GetNewsText.do?id={id}"
    share_url: str = "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode={id}"
    article_url: str = "https://finance.eastmoney.com/a/{id}.html"
    media_allow: list[str] = field(default_factory=list)  # empty: every media
    media_deny: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ChinanewsConfig:
    enabled: bool = True
    base_url: str = "https://www.chinanews.com.cn"
    scroll_enabled: bool = True
    scroll_pages: int = 10
    # RSS repeats the first scroll page; off by default so a no-change run costs one request
    rss_enabled: bool = False
    rss_feeds: list[str] = field(default_factory=lambda: ["scroll-news"])
    day_archive_enabled: bool = True
    # today's and yesterday's day archives are read at most this often (seconds), and always on the
    # first run after a longer pause: the catch-up after downtime without a cost on every run
    day_archive_interval: float = 3600.0
    channels: list[str] = field(default_factory=list)  # empty: every channel
    skip_video: bool = True
    skip_photo: bool = True


@dataclass(slots=True)
class SourcesConfig:
    eastmoney: EastmoneyConfig = field(default_factory=EastmoneyConfig)
    chinanews: ChinanewsConfig = field(default_factory=ChinanewsConfig)


@dataclass(slots=True)
class ScheduleJob:
    enabled: bool = True
    interval: float = 0.0  # seconds; 0 = use cron
    cron: str = ""  # five-field crontab expression, Beijing time
    jitter: float = 0.0


@dataclass(slots=True)
class ScheduleConfig:
    timezone: str = "Asia/Shanghai"
    crawl_timeout: float = 1800.0
    misfire_grace_time: float = 300.0
    shutdown_grace: float = 60.0
    heartbeat_interval: float = 30.0
    jobs: dict[str, ScheduleJob] = field(default_factory=dict)


@dataclass(slots=True)
class HealthConfig:
    empty_runs: int = 3  # runs that listed articles but wrote nothing
    failure_ratio: float = 0.5
    max_silence: float = 6 * 3600.0  # seconds since a source last ran


@dataclass(slots=True)
class LoggingConfig:
    dir: str = ""  # "" → <state dir>/logs
    level: str = "INFO"
    keep: int = 14  # rotated files kept


@dataclass(slots=True)
class PublishConfig:
    command: str = ""  # run in the output dir after a run that wrote posts; "" = off
    timeout: float = 600.0


@dataclass(slots=True)
class ImagesConfig:
    download: bool = False
    dir: str = "assets/images"  # relative to the output dir


@dataclass(slots=True)
class Config:
    output: OutputConfig = field(default_factory=OutputConfig)
    state: StateConfig = field(default_factory=StateConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    # where relative paths are resolved: the config file's folder, or the cwd without a file
    base_dir: str = field(default=".", metadata={"internal": True})
    path: str = field(default="", metadata={"internal": True})

    # -- resolved paths ---------------------------------------------------------------------
    def resolve(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (Path(self.base_dir) / path).resolve()

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.output.dir)

    @property
    def posts_dir(self) -> Path:
        return self.output_dir / "_posts"

    @property
    def archive_dir(self) -> Path:
        return self.output_dir / self.output.archive_dir

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.state.dir)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "wiremirror.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.resolve(self.logging.dir) if self.logging.dir else self.state_dir / "logs"

    def enabled_sources(self) -> list[str]:
        return [name for name in SOURCE_NAMES if getattr(self.sources, name).enabled]


SOURCE_NAMES = ("eastmoney", "chinanews")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and build nested dataclasses."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin in (Union, types.UnionType):
        for option in get_args(tp):
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not one of {get_args(tp)}")
    if origin is list:
        (inner,) = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, inner = get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return {str(k): _coerce(v, inner, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, int) and not isinstance(value, bool) and where.endswith("]"):
        return str(value)  # column ids may be written as numbers
    if tp is type(None) and value is None:
        return None
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    public = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{where}.{key}" if where else key
        if key not in public:
            known = ", ".join(sorted(public))
            raise ConfigError(f"unknown key {dotted!r} (known here: {known})")
        kwargs[key] = _coerce(value, hints[key], dotted)
    return cls(**kwargs)


def _schedule_from(data: dict[str, Any]) -> dict[str, Any]:
    """``[schedule.<job>]`` tables sit beside the scalar schedule keys; gather them into ``jobs``."""
    scalar_keys = {f.name for f in dataclasses.fields(ScheduleConfig)} - {"jobs"}
    out: dict[str, Any] = {k: v for k, v in data.items() if k in scalar_keys or not isinstance(v, dict)}
    jobs = {k: v for k, v in data.items() if k not in scalar_keys and isinstance(v, dict)}
    if jobs:
        out["jobs"] = {**out.get("jobs", {}), **jobs}
    return out


def parse_config(data: dict[str, Any], *, base_dir: str = ".", path: str = "") -> Config:
    data = dict(data)
    if isinstance(data.get("schedule"), dict):
        data["schedule"] = _schedule_from(data["schedule"])
    config: Config = _build(Config, data, "")
    config.base_dir = str(Path(base_dir).resolve())
    config.path = path
    _validate(config)
    return config


def _validate(config: Config) -> None:
    for name in SOURCE_NAMES:
        src = getattr(config.sources, name)
        for key in ("list_url", "fast_list_url", "text_url", "share_url", "article_url", "base_url"):
            url = getattr(src, key, None)
            if url is not None and not url.startswith(("http://", "https://")):
                raise ConfigError(f"sources.{name}.{key}: expected an http(s) URL, got {url!r}")
    for job, spec in config.schedule.jobs.items():
        if spec.enabled and not spec.interval and not spec.cron:
            raise ConfigError(f"schedule.{job}: set interval (seconds) or cron")
    if config.site.builder not in ("jekyll", "hugo"):
        raise ConfigError(f"site.builder: expected 'jekyll' or 'hugo', got {config.site.builder!r}")
    if config.crawl.download_delay < 0 or config.crawl.timeout <= 0:
        raise ConfigError("crawl.download_delay must be >= 0 and crawl.timeout > 0")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load ``path``, else ``$WIREMIRROR_CONFIG``, else ``./wiremirror.toml`` if present, else defaults."""
    chosen = (
        path
        or os.environ.get(CONFIG_ENV)
        or ("wiremirror.toml" if Path("wiremirror.toml").is_file() else None)
    )
    if not chosen:
        return parse_config({}, base_dir=".")
    file = Path(chosen)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}") from None
    try:
        return parse_config(data, base_dir=str(file.resolve().parent), path=str(file.resolve()))
    except ConfigError as err:
        raise ConfigError(f"{file}: {err}") from None
