"""``wiremirror.toml``: one typed configuration for the CLI, the spiders and the daemon.

A file only needs the keys it changes; everything else has a default. Unknown keys, wrong types,
numbers out of range, endpoint URLs without their ``{id}``, and unknown log levels are errors that
name the key, so a typo never silently falls back to a default or crawls nothing.
"""

from __future__ import annotations

import dataclasses
import os
import string
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

CONFIG_ENV = "WIREMIRROR_CONFIG"
DEFAULT_USER_AGENT = "wiremirror/0.1 (news archive mirror; +https://github.com/wiremirror/wiremirror)"


class ConfigError(ValueError):
    """A configuration problem, worded for the operator (it names the file and the key)."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(value: str) -> str:
    """The canonical name of a log level given in any case; ValueError names the choices."""
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"unknown log level {value!r} (use one of {', '.join(LOG_LEVELS)})")
    return value.upper()


@dataclass(slots=True, frozen=True)
class Range:
    """The values a numeric key may take; every number not given one must be >= 0."""

    low: float = 0
    high: float | None = None
    low_open: bool = False  # ``low`` itself is not allowed

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        if self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        return f"{'>' if self.low_open else '>='} {self.low:g}"


NON_NEGATIVE, POSITIVE, AT_LEAST_ONE, RATIO = Range(), Range(low_open=True), Range(1), Range(0, 1)


def limited(default: float, allowed: Range) -> Any:
    """A numeric field whose range is not the default ``>= 0``."""
    return field(default=default, metadata={"range": allowed})


# URL keys: "plain" (http(s), no placeholder), "template" (http(s) with {id}, nothing else),
# "site" (scheme and host only: paths are appended to it)
def url(default: str, kind: str = "plain") -> Any:
    return field(default=default, metadata={"url": kind})


def level(default: str = "INFO") -> Any:
    """A log level name (any case; stored upper-case)."""
    return field(default=default, metadata={"log_level": True})


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
    concurrent_per_domain: int = limited(1, AT_LEAST_ONE)  # 0 would never send a request
    concurrent_requests: int = limited(8, AT_LEAST_ONE)
    timeout: float = limited(30.0, POSITIVE)
    max_size: int = limited(8 * 1024 * 1024, AT_LEAST_ONE)  # bytes; a larger body is a failure, not a post
    retry_times: int = 3
    lock_timeout: float = 60.0  # seconds to wait for another crawl of the same source
    retry_backoff: float = 600.0  # seconds before a failed article is tried again (doubles)
    retry_max_attempts: int = limited(8, AT_LEAST_ONE)
    retry_after_max: float = 300.0  # longest 429/503 Retry-After waited for in a run; longer: retry next run
    captures: bool = True  # keep every response in WARC files under the state dir
    loopback_only: bool = False  # refuse every request not aimed at 127.0.0.1 (tests, demo, benchmarks)
    log_level: str = level()


@dataclass(slots=True)
class RevisionsConfig:
    """``[revisions]``: when a known article is fetched again to catch upstream corrections."""

    # seconds after an article was first mirrored; each age gives at most one re-fetch; [] = never
    recheck_after: list[float] = field(default_factory=lambda: [600.0, 3600.0, 21600.0, 86400.0])
    max_rechecks_per_run: int = limited(50, NON_NEGATIVE)  # body requests a run spends on rechecks
    sources: dict[str, list[float]] = field(default_factory=dict)  # a source's own ages, by name


@dataclass(slots=True)
class CapturesConfig:
    """How the WARC files of ``[crawl] captures`` roll and how long they are kept."""

    max_file_mb: int = limited(256, AT_LEAST_ONE)  # a run starts a new file once the day's file is this big
    # `archive captures prune` (and the daemon's daily job) deletes files older than this many Beijing
    # days; 0 keeps them forever: they are what `archive rebuild` restores posts from
    keep_days: int = 0


@dataclass(slots=True)
class SourceConfig:
    """What every ``[sources.<name>]`` table has; a source's own section adds its keys."""

    enabled: bool = True

    def can_backfill(self) -> bool:
        """Whether this configuration lets the source read past days (a source may switch it off)."""
        return True


class SourcesConfig(dict[str, Any]):
    """``[sources.<name>]`` of every registered source (crawler.sources), by name.

    Attribute access (``config.sources.eastmoney``) reads the same section as ``config.sources["eastmoney"]``.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _sources_section(data: Any) -> SourcesConfig:
    from crawler import sources  # the registry imports source packages, which import this module

    if not isinstance(data, dict):
        raise ConfigError(f"sources: expected a table, got {type(data).__name__}")
    known = sources.registry()
    if unknown := sorted(set(data) - set(known)):
        raise ConfigError(f"unknown source {'sources.' + unknown[0]!r} (known: {', '.join(known)})")
    return SourcesConfig(
        {
            name: _build(source.config, data.get(name) or {}, f"sources.{name}")
            for name, source in known.items()
        }
    )


@dataclass(slots=True)
class ScheduleJob:
    enabled: bool = True
    interval: float = 0.0  # seconds; 0 = use cron
    cron: str = ""  # five-field crontab expression, Beijing time
    jitter: float = 0.0


@dataclass(slots=True)
class ScheduleConfig:
    timezone: str = "Asia/Shanghai"
    crawl_timeout: float = limited(1800.0, POSITIVE)
    misfire_grace_time: float = 300.0
    shutdown_grace: float = 60.0
    heartbeat_interval: float = limited(30.0, POSITIVE)
    # the [schedule.<job>] tables, which sit beside the scalar keys in the file
    jobs: dict[str, ScheduleJob] = field(default_factory=dict, metadata={"inline": True})


@dataclass(slots=True)
class HealthConfig:
    empty_runs: int = limited(3, AT_LEAST_ONE)  # runs that listed articles but wrote nothing
    failure_ratio: float = limited(0.5, RATIO)
    max_silence: float = limited(6 * 3600.0, POSITIVE)  # seconds since a source last ran


@dataclass(slots=True)
class LoggingConfig:
    dir: str = ""  # "" → <state dir>/logs
    level: str = level()
    keep: int = limited(14, AT_LEAST_ONE)  # rotated files kept


@dataclass(slots=True)
class PublishConfig:
    command: str = ""  # run in the output dir after a run that wrote posts; "" = off
    timeout: float = limited(600.0, POSITIVE)


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
    captures: CapturesConfig = field(default_factory=CapturesConfig)
    sources: SourcesConfig = field(
        default_factory=lambda: _sources_section({}), metadata={"table": "sources"}
    )
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    revisions: RevisionsConfig = field(default_factory=RevisionsConfig)
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

    def recheck_ages(self, source: str) -> list[float]:
        """The recheck ages of ``source`` (seconds after first mirrored), sorted."""
        return sorted(self.revisions.sources.get(source, self.revisions.recheck_after))

    def enabled_sources(self) -> list[str]:
        return [name for name, section in self.sources.items() if section.enabled]


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
    sections = _sources_section(data.pop("sources", {}))
    config: Config = _build(Config, data, "")
    config.sources = sections
    config.base_dir = str(Path(base_dir).resolve())
    config.path = path
    _validate(config)
    return config


def _validate(config: Config) -> None:
    _check_values(config, "")
    for job, spec in config.schedule.jobs.items():
        if spec.enabled and not spec.interval and not spec.cron:
            raise ConfigError(f"schedule.{job}: set interval (seconds) or cron")
    for where, ages in [
        ("revisions.recheck_after", config.revisions.recheck_after),
        *((f"revisions.sources.{n}", ages) for n, ages in config.revisions.sources.items()),
    ]:
        if any(age < 0 for age in ages):
            raise ConfigError(f"{where}: ages are seconds after an article was first mirrored, not {ages!r}")
    if config.site.builder not in ("jekyll", "hugo"):
        raise ConfigError(f"site.builder: expected 'jekyll' or 'hugo', got {config.site.builder!r}")


def _check_values(obj: Any, where: str) -> None:
    """Every key of every table, by what its field declares: ranges, URL kinds, log levels."""
    for f in dataclasses.fields(obj):
        if f.metadata.get("internal"):
            continue
        key, value = f"{where}.{f.name}" if where else f.name, getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _check_values(value, key)
        elif isinstance(value, dict):
            table = where if f.metadata.get("inline") else key
            for name, sub in value.items():
                if dataclasses.is_dataclass(sub):  # tables of tables; plain values are checked by _validate
                    _check_values(sub, f"{table}.{name}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            allowed: Range = f.metadata.get("range", NON_NEGATIVE)
            if value not in allowed:
                raise ConfigError(f"{key}: {value!r} is out of range (allowed: {allowed})")
        elif f.metadata.get("log_level"):
            try:
                setattr(obj, f.name, log_level(value))
            except ValueError as err:
                raise ConfigError(f"{key}: {err}") from None
        if kind := f.metadata.get("url"):
            example = f.default if isinstance(f.default, str) else None
            for item in value if isinstance(value, list) else [value]:
                _check_url(item, kind, key, example)


def _check_url(value: str, kind: str, key: str, example: str | None) -> None:
    """Refuse a URL the crawl would misuse silently: one request for every article, or a 404 list."""
    like = f"; expected a URL like {example!r}" if example else ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}: expected an http(s) URL, got {value!r}{like}")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as err:
        raise ConfigError(f"{key}: {value!r} is not a valid URL template ({err}){like}") from None
    wanted = {"id"} if kind == "template" else set()
    if extra := sorted(fields - wanted):
        only = "only {id} is filled in" if wanted else "this URL takes no placeholder"
        raise ConfigError(f"{key}: unknown placeholder {{{extra[0]}}} in {value!r} ({only}){like}")
    if wanted - fields:
        raise ConfigError(
            f"{key}: {value!r} has no {{id}} placeholder, so every article would get the same URL{like}"
        )
    if kind == "site" and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise ConfigError(f"{key}: {value!r} has a path or query; give the site root only, e.g. {example!r}")


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
