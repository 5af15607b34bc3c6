"""wiremirror.toml: defaults, partial files, and errors that name the key."""

from __future__ import annotations

import pytest

from crawler.config import ConfigError, load_config, parse_config
from tests.conftest import run_cli


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WIREMIRROR_CONFIG", raising=False)
    config = load_config()
    assert config.posts_dir == tmp_path / "output" / "_posts"
    assert config.site.url == "//finews.withounder.com"
    assert config.enabled_sources() == ["eastmoney", "chinanews"]


def test_a_file_only_needs_the_keys_it_changes(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text(
        '[sources.eastmoney]\nmedia_allow = ["中国新闻网"]\ncolumns = [344, "350"]\n', encoding="utf-8"
    )
    config = load_config(path)
    assert config.sources.eastmoney.media_allow == ["中国新闻网"]
    assert config.sources.eastmoney.columns == ["344", "350"]
    assert config.output_dir == tmp_path / "output"  # relative to the file, not the cwd


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sources": {"eastmoney": {"list_ulr": "x"}}}, "unknown key 'sources.eastmoney.list_ulr'"),
        ({"crawl": {"timeout": "fast"}}, "crawl.timeout: expected float"),
        ({"crawl": {"obey_robots": "yes"}}, "crawl.obey_robots: expected bool"),
        ({"sources": {"chinanews": {"base_url": "ftp://x"}}}, "sources.chinanews.base_url"),
        ({"schedule": {"eastmoney": {"jitter": 5}}}, "schedule.eastmoney: set interval"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_config(data)


def test_cli_reports_a_config_error_in_one_line(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text("[output]\ndri = 'x'\n")
    result = run_cli("--config", str(path), "crawl")
    assert result.returncode == 2
    assert "unknown key 'output.dri'" in result.stderr
    assert "Traceback" not in result.stderr
