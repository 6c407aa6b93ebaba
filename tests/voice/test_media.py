"""voice.media: the fetcher's host, redirect, address and size rules; sniffing; capped probing."""

from __future__ import annotations

import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from voice.errors import FetchFailed, MediaRejected
from voice.media import check_url, fetch, probe, sniff

AUTH = ("AC" + "0" * 32, "token")


class _Server:
    def __init__(self, routes):
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append((self.path, self.headers.get("Authorization")))
                status, headers, body = server.routes.get(self.path, (404, {}, b"nope"))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server(clips):
    ogg = clips["en.ogg"].read_bytes()
    s = _Server({})
    s.routes.update({
        "/Media/lying": (200, {"Content-Type": "text/plain"}, ogg),
        "/Media/zip": (200, {"Content-Type": "video/mp4"}, b"PK\x03\x04" + b"\0" * 200),
        "/Media/big": (200, {"Content-Type": "audio/ogg"}, b"OggS" + b"\0" * 5000),
        "/Media/empty": (200, {"Content-Type": "audio/ogg"}, b""),
        "/Media/to-private": (302, {"Location": "http://10.0.0.1/Media/x"}, b""),
        "/Media/to-metadata": (307, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/Media/to-other-port": (302, {"Location": "http://127.0.0.1:1/Media/x"}, b""),
        "/Media/to-self": (302, {"Location": "/Media/lying"}, b""),
        "/Media/loop": (302, {"Location": "/Media/loop"}, b""),
        "/Media/gone": (404, {}, b""),
        "/Media/busy": (503, {}, b""),
    })
    yield s
    s.httpd.shutdown()


def test_lying_content_type_is_sniffed_and_stored_by_hash(server, tmp_path):
    f = fetch(server.base + "/Media/to-self", tmp_path, api_base_url=server.base, auth=AUTH)
    assert (f.mime, f.kind, f.declared_type) == ("audio/ogg", "audio", "text/plain")
    assert f.path.name == f"{f.sha256}.ogg" and f.path.stat().st_size == f.size
    assert all(a and a.startswith("Basic ") for _, a in server.requests)  # credentials to the API host


@pytest.mark.parametrize(("path", "reason"), [
    ("/Media/to-private", "host_not_allowed"),
    ("/Media/to-metadata", "host_not_allowed"),
    ("/Media/to-other-port", "host_not_allowed"),
    ("/Media/zip", "unsupported_type"),
    ("/Media/big", "too_large"),
    ("/Media/empty", "empty"),
    ("/Media/loop", "too_many_redirects"),
    ("/Media/gone", "http_error"),
])
def test_refused(server, tmp_path, path, reason):
    with pytest.raises(MediaRejected) as e:
        fetch(server.base + path, tmp_path, api_base_url=server.base, auth=AUTH, max_bytes=4096)
    assert e.value.reason == reason
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left


def test_server_errors_are_retryable(server, tmp_path):
    with pytest.raises(FetchFailed) as e:
        fetch(server.base + "/Media/busy", tmp_path, api_base_url=server.base, auth=AUTH)
    assert e.value.retryable


@pytest.mark.parametrize("url", [
    "https://api.twilio.com@evil.com/2010-04-01/Media/x",
    "https://user:pw@api.twilio.com/Media/x",
    "ftp://api.twilio.com/Media/x",
    "file:///etc/passwd",
    "https://evil.com/Media/x",
    "https://twiliocdn.com.evil.com/x",
    "http://media.twiliocdn.com/x",
    "https://media.twiliocdn.com:8443/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/x",
    "http://[::1]/x",
    "https://api.twilio.com\\@evil.com/x",
])
def test_url_rules(url):
    with pytest.raises(MediaRejected):
        check_url(url, "https://api.twilio.com", resolve=False)


def test_userinfo_trick_sends_nothing(server, tmp_path):
    trick = server.base.replace("http://", "http://127.0.0.1@")
    with pytest.raises(MediaRejected) as e:
        fetch(trick + "/Media/lying", tmp_path, api_base_url=server.base, auth=AUTH)
    assert e.value.reason == "bad_url" and server.requests == []


def test_credentials_only_to_the_api_origin():
    assert check_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Media/ME1", "https://api.twilio.com") is True
    assert check_url("https://media.twiliocdn.com/AC1/abc", "https://api.twilio.com", resolve=False) is False
    assert check_url("https://mms.twiliocdn.com/AC1/abc", "https://api.twilio.com", resolve=False) is False


def _png(w: int, h: int) -> bytes:
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("head", "mime"), [
    (b"OggS\0\x02" + b"\0" * 22 + b"OpusHead", "audio/ogg"),
    (b"#!AMR\n\x3c", "audio/amr"),
    (b"ID3\x04\0", "audio/mpeg"),
    (b"\xff\xfb\x90\x00", "audio/mpeg"),
    (b"\0\0\0\x20ftypM4A \0\0\0\0", "audio/mp4"),
    (b"\0\0\0\x20ftypisom\0\0\0\0", "video/mp4"),
    (b"\0\0\0\x20ftyp3gp4\0\0\0\0", "video/3gpp"),
    (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
    (b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg"),
    (b"GIF89a\x01\0\x01\0", "image/gif"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
    (b"%PDF-1.7\n", "application/pdf"),
    (b"PK\x03\x04\x14\0", None),
    (b"<!DOCTYPE html>", None),
    (b"MZ\x90\0", None),
])
def test_sniff(head, mime):
    got = sniff(head)
    assert (got[0] if got else None) == mime


def test_probe(clips, tmp_path):
    p = probe(clips["video.mp4"])
    assert (p.kind, p.width, p.height, p.has_audio) == ("video", 320, 240, True)
    assert probe(clips["en.amr"]).kind == "audio"
    assert probe(clips["en.m4a"]).kind == "audio"
    (tmp_path / "ok.png").write_bytes(_png(640, 480))
    assert (probe(tmp_path / "ok.png").width, probe(tmp_path / "ok.png").height) == (640, 480)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda c: _png(30000, 30000), "too_big_image"),
    (lambda c: b"PK\x03\x04" + b"\0" * 100, "unsupported_type"),
    (lambda c: c["claims10h.ogg"].read_bytes(), "too_long"),
    (lambda c: b"\0\0\0\x20ftypisom" + b"\xde\xad" * 500, "not_media"),
    (lambda c: b"", "empty"),
])
def test_probe_rejects(clips, tmp_path, make, reason):
    f = tmp_path / "x.mp4"
    f.write_bytes(make(clips))
    with pytest.raises(MediaRejected) as e:
        probe(f)
    assert e.value.reason == reason
