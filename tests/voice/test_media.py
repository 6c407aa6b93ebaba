"""voice.media: the fetcher's host, redirect, address and size rules; sniffing; capped probing."""

from __future__ import annotations

import io
import shutil
import socket
import struct
import subprocess
import threading
import zipfile
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from voice.errors import FetchFailed, MediaRejected
from voice.media import check_url, fetch, probe, sniff

AUTH = ("AC" + "0" * 32, "token")


class _Server:
    def __init__(self, routes):
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []
        self.hosts: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append((self.path, self.headers.get("Authorization")))
                server.hosts.append(self.headers.get("Host"))
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


# -- DNS rebinding: a CDN name is resolved once, and the connection goes to the address that was checked --

def _rebinding_dns(monkeypatch, answers: dict[str, list[str | list[str]]]) -> Counter:
    """Fake DNS for the names in ``answers``: the n-th look-up of a name gets its n-th answer (the last one
    repeats; an answer may be a list of addresses), like a hostile resolver that answers public first and
    private after. Returns the look-up counts."""
    real = socket.getaddrinfo
    asked: Counter = Counter()

    def fake(host, port, *a, **kw):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *a, **kw)
        asked[name] += 1
        answer = answers[name][min(asked[name], len(answers[name])) - 1]
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)) if ":" in ip
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in ([answer] if isinstance(answer, str) else answer)]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


def _record_connects(monkeypatch) -> list[tuple]:
    """Every address a socket tries to connect to, in order; each attempt is refused (no network here)."""
    connects: list[tuple] = []

    def refuse(self, addr):
        connects.append(tuple(addr[:2]))
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return connects


@pytest.mark.parametrize("url", [
    "https://media.twiliocdn.com/AC1/ME1",
    "https://MEDIA.twiliocdn.com:443/AC1/ME1",
    "https://media.twiliocdn.com/AC1/mé|dia?x=ü&y=^#frag",  # requests re-quotes this URL: still pinned
])
def test_cdn_host_is_resolved_once_and_the_checked_address_is_connected_to(monkeypatch, tmp_path, url):
    asked = _rebinding_dns(monkeypatch, {"media.twiliocdn.com": ["54.1.2.3", "127.0.0.1"]})
    connects = _record_connects(monkeypatch)
    with pytest.raises(FetchFailed):
        fetch(url, tmp_path, api_base_url="https://api.twilio.com", auth=AUTH)
    assert connects == [("54.1.2.3", 443)]  # not the second answer, 127.0.0.1
    assert asked == {"media.twiliocdn.com": 1}


def test_every_checked_address_is_tried_and_nothing_else(monkeypatch, tmp_path):
    asked = _rebinding_dns(monkeypatch, {"media.twiliocdn.com": [["54.1.2.3", "54.1.2.4"], ["10.0.0.1"]]})
    connects = _record_connects(monkeypatch)
    with pytest.raises(FetchFailed):
        fetch("https://media.twiliocdn.com/AC1/ME1", tmp_path, api_base_url="https://api.twilio.com")
    assert connects == [("54.1.2.3", 443), ("54.1.2.4", 443)] and asked == {"media.twiliocdn.com": 1}


@pytest.fixture(scope="module")
def cdn_cert(tmp_path_factory):
    """A test CA and a certificate for a.twiliocdn.com and b.twiliocdn.com signed by it (openssl)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed")
    d = tmp_path_factory.mktemp("tls")

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Bharosa test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=a.twiliocdn.com")
    (d / "ext.cnf").write_text("subjectAltName=DNS:a.twiliocdn.com,DNS:b.twiliocdn.com\n"
                               "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                               "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                               "authorityKeyIdentifier=keyid,issuer\n")
    ssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem",
        "-days", "2", "-extfile", "ext.cnf")
    return d


@pytest.fixture
def cdn(cdn_cert):
    """An https server on loopback posing as Twilio's CDN; records SNI names and (Host, path, Authorization)."""
    import ssl

    s = _Server({
        "/first": (302, {"Location": "https://b.twiliocdn.com/clip"}, b""),
        "/clip": (200, {"Content-Type": "audio/ogg"}, b"OggS" + b"\0" * 200),
    })
    s.sni = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cdn_cert / "leaf.pem", cdn_cert / "leaf.key")
    ctx.sni_callback = lambda sock, name, _ctx: s.sni.append(name)
    s.httpd.socket = ctx.wrap_socket(s.httpd.socket, server_side=True)
    s.port = s.httpd.server_address[1]
    yield s
    s.httpd.shutdown()


def _route_to(monkeypatch, public: set[str], port: int) -> list:
    """Connections to ``public`` addresses on 443 go to 127.0.0.1:``port`` instead; returns where they were
    aimed."""
    connects = []
    real = socket.socket.connect

    def connect(self, addr):
        connects.append(tuple(addr[:2]))
        if addr[0] in public and addr[1] == 443:
            addr = ("127.0.0.1", port)
        return real(self, addr)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return connects


def test_pinned_cdn_fetch_keeps_sni_certificate_and_host_and_repins_each_hop(cdn, cdn_cert, monkeypatch,
                                                                             tmp_path):
    import requests

    asked = _rebinding_dns(monkeypatch, {"a.twiliocdn.com": ["54.1.2.3", "10.0.0.1"],
                                         "b.twiliocdn.com": ["54.4.5.6", "127.0.0.1"]})
    connects = _route_to(monkeypatch, {"54.1.2.3", "54.4.5.6"}, cdn.port)
    sess = requests.Session()
    sess.verify = str(cdn_cert / "ca.pem")
    f = fetch("https://a.twiliocdn.com/first", tmp_path, api_base_url="https://api.twilio.com", auth=AUTH,
              session=sess)
    assert f.mime == "audio/ogg"
    assert connects == [("54.1.2.3", 443), ("54.4.5.6", 443)]  # each hop to its own checked address
    assert asked == {"a.twiliocdn.com": 1, "b.twiliocdn.com": 1}
    assert cdn.sni == ["a.twiliocdn.com", "b.twiliocdn.com"]  # TLS still names the host, not the address
    assert cdn.requests == [("/first", None), ("/clip", None)]  # no credentials to the CDN
    assert cdn.hosts == ["a.twiliocdn.com", "b.twiliocdn.com"]
    assert sorted(sess.adapters) == ["http://", "https://"]  # the caller's session is left as it was


def test_pinned_cdn_fetch_still_verifies_the_certificate_against_the_name(cdn, cdn_cert, monkeypatch, tmp_path):
    import requests

    _rebinding_dns(monkeypatch, {"c.twiliocdn.com": ["54.7.7.7"]})
    _route_to(monkeypatch, {"54.7.7.7"}, cdn.port)
    sess = requests.Session()
    sess.verify = str(cdn_cert / "ca.pem")
    with pytest.raises(FetchFailed) as e:  # the certificate is for a. and b.twiliocdn.com only
        fetch("https://c.twiliocdn.com/clip", tmp_path, api_base_url="https://api.twilio.com", session=sess)
    assert "SSLError" in str(e.value) and cdn.requests == []


def test_api_origin_redirect_to_the_cdn_is_pinned(server, cdn, cdn_cert, monkeypatch, tmp_path):
    import requests

    server.routes["/Media/to-cdn"] = (302, {"Location": "https://b.twiliocdn.com/clip"}, b"")
    asked = _rebinding_dns(monkeypatch, {"b.twiliocdn.com": ["54.4.5.6", "127.0.0.1"]})
    connects = _route_to(monkeypatch, {"54.4.5.6"}, cdn.port)
    sess = requests.Session()
    sess.verify = str(cdn_cert / "ca.pem")
    f = fetch(server.base + "/Media/to-cdn", tmp_path, api_base_url=server.base, auth=AUTH, session=sess)
    assert f.mime == "audio/ogg"
    assert connects == [("127.0.0.1", server.httpd.server_address[1]), ("54.4.5.6", 443)]
    assert asked == {"b.twiliocdn.com": 1}
    assert server.requests[0][1].startswith("Basic ") and cdn.requests == [("/clip", None)]


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


def _zip(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n in names:
            z.writestr(n, "<x/>" * 40)
    return buf.getvalue()


def _odf(mime: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mime)  # stored, first: the OpenDocument rule
        z.writestr("content.xml", "<x/>")
    return buf.getvalue()


OOXML = "application/vnd.openxmlformats-officedocument."


@pytest.mark.parametrize(("head", "mime", "kind"), [
    (_zip("[Content_Types].xml", "_rels/.rels", "word/document.xml"), OOXML + "wordprocessingml.document",
     "document"),
    (_zip("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml"), OOXML + "spreadsheetml.sheet", "document"),
    (_zip("[Content_Types].xml", "_rels/.rels", "ppt/presentation.xml"), OOXML + "presentationml.presentation",
     "document"),
    (_odf("application/vnd.oasis.opendocument.text"), "application/vnd.oasis.opendocument.text", "document"),
    (_zip("a.txt"), "application/zip", "document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + b"\xec\xa5\xc1\x00" + b"\0" * 16, "application/msword",
     "document"),
    (b"\0\0\0\x18ftypheic\0\0\0\0", "image/heic", "image"),  # not the video/mp4 of the ISO rule
    (b"\0\0\0\x18ftypavif\0\0\0\0", "image/avif", "image"),
    (b"BM\x36\0\x0c\0\0\0\0\0\x36\0", "image/bmp", "image"),
    (b"II*\x00\x08\0\0\0", "image/tiff", "image"),
    (b"fLaC\0\0\0\x22", "audio/x-flac", "audio"),
    (b"RIFF\0\0\0\0AVI LIST", "video/x-msvideo", "video"),
    (b"{\\rtf1\\ansi hello}", "application/rtf", "document"),
    (b"\x1f\x8b\x08\0", "application/gzip", "document"),
    (b"\0" * 257 + b"ustar\x0000", "application/x-tar", "document"),
    (b"MZ\x90\0", "application/x-msdownload", "document"),
    (b"\x7fELF\x02\x01", "application/x-executable", "document"),
    (b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg", "image"),  # an accepted type: as sniff names it
    (b"\0\0\0\x20ftypisom\0\0\0\0", "video/mp4", "video"),
    (b"<!DOCTYPE html>", None, None),
    (b"plain words", None, None),
])
def test_sniff_any_type_names_what_no_channel_accepts(head, mime, kind):
    """``any_type`` (the console keeps an officer's evidence of any type) names more files; without it the
    channels' accepted set is unchanged (None for all but the accepted ones)."""
    assert sniff(head, any_type=True) == ((mime, kind) if mime else None)
    plain = sniff(head)
    if kind is None or mime not in ("image/jpeg", "video/mp4"):
        assert plain is None or head[4:8] == b"ftyp"  # an ISO still image is still the channels' video/mp4


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
