"""Optional image download: a real crawl stores the article's images in the site and rewrites their src."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawler.archive.rebuild import rebuild
from crawler.config import load_config
from crawler.state import StateStore
from pipelines.images import image_relpath, image_urls, localise_images
from tests.conftest import run_cli

ARTICLE_ID = "202205271234567001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class ImageHost:
    """An HTTPS image host on 127.0.0.1 (article images are always fetched over https) that logs Referers."""

    def __init__(self, tmp_path):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
        self.seen: list[tuple[str, str | None]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                host.seen.append((self.path, self.headers.get("Referer")))
                ok = self.path.startswith("/img/chart.png")
                body = PNG if ok else b"missing"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "image/png" if ok else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def image_host(tmp_path):
    host = ImageHost(tmp_path)
    yield host
    host.close()


def _upstream(loopback, image_host):
    b = f"http://127.0.0.1:{image_host.port}"  # the sanitiser upgrades image URLs to https
    body = (
        f'<p>第一段。</p><p><img src="{b}/img/chart.png?w=600&amp;h=400" alt="图"></p>'
        f'<p><img src="{b}/img/gone.jpg"></p><p>第二段。</p>'
    )
    loopback.add_json(
        "/comm/web/getNewsByColumns?page_index=1",
        {
            "code": "1",
            "message": "success",
            "data": {
                "page_index": 1,
                "totle_hits": 1,
                "list": [
                    {
                        "code": ARTICLE_ID,
                        "showTime": "2022-05-27 09:30:00",
                        "title": "带图的稿件",
                        "mediaName": "证券时报",
                        "summary": "摘要",
                        "url": f"http://finance.eastmoney.com/a/{ARTICLE_ID}.html",
                        "Np_dst": "CMS",
                    }
                ],
            },
        },
    )
    loopback.add_json(f"/NewsData/GetNewsText.do?id=NW{ARTICLE_ID}", {"text": body})
    return f"https://127.0.0.1:{image_host.port}/img/chart.png?w=600&h=400"


def _pipelines() -> str:
    from crawler import settings

    return json.dumps({**settings.ITEM_PIPELINES, "pipelines.images.ArticleImagesPipeline": 350})


def _crawl(toml, *extra):
    return run_cli(
        "crawl", "eastmoney", "--config", str(toml), "-s", f"ITEM_PIPELINES={_pipelines()}", *extra
    )


def test_images_are_stored_in_the_site_with_a_referer(loopback, image_host, make_config, tmp_path):
    image_url = _upstream(loopback, image_host)
    toml = make_config(images={"download": True}, sources={"eastmoney": {"fast_enabled": False}})
    result = _crawl(toml)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_config(toml)
    rel = image_relpath("eastmoney", ARTICLE_ID, image_url)
    stored = config.output_dir / "assets/images" / rel
    assert stored.read_bytes() == PNG
    (post,) = config.posts_dir.glob("*.md")
    text = post.read_text(encoding="utf-8")
    assert f'src="/assets/images/{rel}"' in text
    assert f'https://127.0.0.1:{image_host.port}/img/gone.jpg"' in text  # failed: the remote src stays
    referers = {path.split("?")[0]: referer for path, referer in image_host.seen}
    assert referers["/img/chart.png"] == f"{loopback.base_url}/a/{ARTICLE_ID}.html"
    # a rebuild keeps the local copies (nothing to rewrite)
    with StateStore(config.db_path) as state:
        report = rebuild(config, state)
    assert report.written == []


def test_off_by_default(loopback, image_host, make_config, tmp_path):
    _upstream(loopback, image_host)
    toml = make_config(sources={"eastmoney": {"fast_enabled": False}})
    assert _crawl(toml).returncode == 0
    config = load_config(toml)
    assert not (config.output_dir / "assets" / "images").exists()
    assert image_host.seen == []
    (post,) = config.posts_dir.glob("*.md")
    assert f"https://127.0.0.1:{image_host.port}/img/chart.png" in post.read_text(encoding="utf-8")


def test_localise_images_only_touches_stored_http_images(tmp_path):
    body = (
        '<p><img src="https://a.example/x.jpg?a=1&amp;b=2"></p><p><img src="https://a.example/y.gif"></p>'
        '<p><img src="/assets/images/old.png"></p>'
    )
    assert image_urls(body) == ["https://a.example/x.jpg?a=1&b=2", "https://a.example/y.gif"]
    rel = image_relpath("eastmoney", "1", "https://a.example/x.jpg?a=1&b=2")
    assert rel.endswith(".jpg")
    (tmp_path / "assets/images" / rel).parent.mkdir(parents=True)
    (tmp_path / "assets/images" / rel).write_bytes(b"x")
    out = localise_images(
        body, source="eastmoney", article_id="1", images_dir="assets/images", output_dir=tmp_path
    )
    assert out == body.replace("https://a.example/x.jpg?a=1&amp;b=2", f"/assets/images/{rel}")
