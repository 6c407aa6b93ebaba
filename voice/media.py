"""Safe media download (Twilio media URLs), type sniffing from the bytes, and capped probing.

Rules (docs/architecture.md): media is fetched only from the host of ``TWILIO_API_BASE_URL`` or
Twilio's media CDN hosts; credentials go only to the former; every redirect hop is checked by the same
rules; private, loopback and link-local addresses are refused unless the host is exactly the
configured API host (tests run the Twilio recorder on 127.0.0.1); a CDN host is resolved once per hop
and the connection goes to the addresses that were checked (no second look-up: DNS rebinding), with TLS
and the Host header still naming the host; the body is streamed with a size cap; the type is sniffed
from the bytes, never taken from Content-Type.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import resource
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from voice.errors import (
    BAD_URL,
    EMPTY,
    HOST_NOT_ALLOWED,
    HTTP_ERROR,
    NOT_MEDIA,
    PRIVATE_ADDRESS,
    TOO_BIG_IMAGE,
    TOO_LARGE,
    TOO_LONG,
    TOO_MANY_REDIRECTS,
    UNSUPPORTED_TYPE,
    FetchFailed,
    MediaRejected,
)
from zone import settings

CDN_SUFFIXES = (".twiliocdn.com",)
MAX_REDIRECTS = 5
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Fetched:
    """A downloaded file.

    Attributes:
        path: where it was stored (``<dest_dir>/<sha256>.<ext>``).
        sha256: hex digest of the bytes (evidence).
        size: bytes.
        mime: the sniffed type (``audio/ogg``, ``video/mp4``, ``image/jpeg``...).
        kind: ``audio``, ``video``, ``image`` or ``document``.
        declared_type: the Content-Type the server claimed (kept for the record, not trusted).
    """

    path: Path
    sha256: str
    size: int
    mime: str
    kind: str
    declared_type: str = ""


# -- sniffing -------------------------------------------------------------------------------------

_EXT = {
    "audio/ogg": "ogg", "audio/amr": "amr", "audio/amr-wb": "awb", "audio/mpeg": "mp3", "audio/aac": "aac",
    "audio/mp4": "m4a", "audio/wav": "wav", "audio/webm": "webm", "video/webm": "webm", "video/x-matroska": "mkv",
    "video/mp4": "mp4", "video/quicktime": "mov", "video/3gpp": "3gp", "video/ogg": "ogv", "image/jpeg": "jpg",
    "image/png": "png", "image/gif": "gif", "image/webp": "webp", "application/pdf": "pdf",
}


def media_dir() -> Path:
    """Where every file a citizen or officer sent is kept: ``BHAROSA_MEDIA_DIR``, default ``var/media``."""
    return settings.get().media_dir


# Files no channel accepts, named only when a caller keeps any file (an officer's evidence in the console):
# (offset, magic, mime), the first match wins.
_OTHER_MAGIC = (
    (0, b"%!", "application/postscript"), (0, b"{\\rtf", "application/rtf"),
    (0, b"II*\x00", "image/tiff"), (0, b"MM\x00*", "image/tiff"), (0, b"8BPS", "image/vnd.adobe.photoshop"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"), (0, b"fLaC", "audio/x-flac"), (0, b"MThd", "audio/midi"),
    (0, b"FLV\x01", "video/x-flv"), (0, b"\x00\x00\x01\xba", "video/mpeg"), (0, b"\x00\x00\x01\xb3", "video/mpeg"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video/x-ms-wmv"), (0, b"\x1f\x8b\x08", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"), (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/x-rar-compressed"), (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd"), (257, b"ustar", "application/x-tar"),
    (0, b"MZ", "application/x-msdownload"), (0, b"\x7fELF", "application/x-executable"),
    (0, b"SQLite format 3\x00", "application/x-sqlite3"), (0, b"wOFF", "application/font-woff"),
    (0, b"wOF2", "application/font-woff"), (0, b"OTTO", "application/font-sfnt"),
    (0, b"\x00\x01\x00\x00\x00", "application/font-sfnt"),
)
_ISO_IMAGES = {b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heic", b"avif": "image/avif"}
_OOXML = ((b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
          (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
          (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"))
_OLE = ((b"\xec\xa5\xc1\x00", "application/msword"), (b"\x09\x08\x10\x00\x00\x06\x05\x00", "application/vnd.ms-excel"),
        (b"\xa0\x46\x1d\xf0", "application/vnd.ms-powerpoint"), (b"\x00\x6e\x1e\xf0", "application/vnd.ms-powerpoint"),
        (b"\x0f\x00\xe8\x03", "application/vnd.ms-powerpoint"))


def _other(h: bytes) -> str | None:
    """The type of a file no channel accepts (archives, office documents, programs, other images and sounds)."""
    if h.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        if h[30:38] == b"mimetype":  # OpenDocument / EPUB: the first entry names the type, stored
            name = h[38:120].split(b"PK", 1)[0]
            for t in (b"application/vnd.oasis.opendocument.text", b"application/vnd.oasis.opendocument.spreadsheet",
                      b"application/vnd.oasis.opendocument.presentation", b"application/epub+zip"):
                if name.startswith(t):
                    return t.decode()
        if h[30:49] == b"[Content_Types].xml" or h[30:41] == b"_rels/.rels" or h[30:38] == b"docProps":
            for part, mime in _OOXML:
                if any(h[i + 30:i + 30 + len(part)] == part for i in _zip_entries(h)):
                    return mime
        return "application/zip"
    if h.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # an OLE2 compound file: old Office formats
        return next((m for sig, m in _OLE if h[512:512 + len(sig)] == sig), None)
    if h.startswith(b"BM") and len(h) >= 10 and h[6:10] == b"\x00\x00\x00\x00":  # reserved words zero
        return "image/bmp"
    if h.startswith(b"RIFF") and h[8:12] == b"AVI ":
        return "video/x-msvideo"
    if h.startswith(b"FORM") and h[8:12] in (b"AIFF", b"AIFC"):
        return "audio/x-aiff"
    for off, magic, mime in _OTHER_MAGIC:
        if h[off:off + len(magic)] == magic:
            return mime
    return None


def _zip_entries(h: bytes):
    """Offsets of the zip local headers in ``h``."""
    i = h.find(b"PK\x03\x04")
    while i != -1:
        yield i
        i = h.find(b"PK\x03\x04", i + 4)


def sniff(head: bytes, any_type: bool = False) -> tuple[str, str] | None:
    """The real type of a file from its first bytes.

    Args:
        head: at least the first few hundred bytes (4 KiB is plenty).
        any_type: also name the files no channel accepts (``(mime, kind)``, kind ``image``, ``audio``,
            ``video`` or ``document`` by the mime), for a caller that keeps any file.

    Returns:
        ``(mime, kind)`` for an accepted type, or None (zip, executables, HTML, anything else; with
        ``any_type``, None for what is not known at all).
    """
    h = head
    if any_type:
        if len(h) >= 12 and h[4:8] == b"ftyp" and h[8:12] in _ISO_IMAGES:  # a still image, not the video below
            return _ISO_IMAGES[h[8:12]], "image"
        got = sniff(h)
        if got is not None:
            return got
        mime = _other(h)
        if mime is None:
            return None
        top = mime.split("/", 1)[0]
        return mime, top if top in ("image", "audio", "video") else "document"
    if h.startswith(b"OggS"):
        if b"\x80theora" in h[:512]:
            return "video/ogg", "video"
        return "audio/ogg", "audio"  # OpusHead / vorbis / speex
    if h.startswith(b"#!AMR-WB\n"):
        return "audio/amr-wb", "audio"
    if h.startswith(b"#!AMR\n"):
        return "audio/amr", "audio"
    if h.startswith(b"ID3"):
        return "audio/mpeg", "audio"
    if len(h) >= 2 and h[0] == 0xFF and (h[1] & 0xE0) == 0xE0:
        if (h[1] >> 1) & 3 == 0:  # layer bits 00: ADTS AAC
            return "audio/aac", "audio"
        return "audio/mpeg", "audio"
    if len(h) >= 12 and h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A "):
            return "audio/mp4", "audio"
        if brand.startswith(b"3g"):
            return "video/3gpp", "video"
        if brand == b"qt  ":
            return "video/quicktime", "video"
        return "video/mp4", "video"
    if len(h) >= 12 and h.startswith(b"RIFF"):
        if h[8:12] == b"WAVE":
            return "audio/wav", "audio"
        if h[8:12] == b"WEBP":
            return "image/webp", "image"
        return None
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return ("video/webm", "video") if b"webm" in h[:64] else ("video/x-matroska", "video")
    if h.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "image"
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "image"
    if h.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif", "image"
    if h.startswith(b"%PDF-"):
        return "application/pdf", "document"
    return None


def sniff_file(path: str | os.PathLike) -> tuple[str, str]:
    """Like :func:`sniff` for a file.

    Raises:
        MediaRejected: ``empty`` or ``unsupported_type``.
    """
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise MediaRejected(EMPTY, "0 bytes")
    got = sniff(head)
    if got is None:
        raise MediaRejected(UNSUPPORTED_TYPE, _describe(head))
    return got


def _describe(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if head[:1] == b"<":
        return "markup (HTML/XML)"
    return f"unknown bytes {head[:8].hex()}"


# -- URL rules ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int


def _origin(url: str) -> _Origin:
    parts = urlsplit(url)
    if any(c in url for c in "\\\r\n\t ") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise MediaRejected(BAD_URL, "control characters or backslashes in URL")
    if parts.scheme not in ("http", "https"):
        raise MediaRejected(BAD_URL, f"scheme {parts.scheme!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise MediaRejected(BAD_URL, "userinfo in URL")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise MediaRejected(BAD_URL, str(e)) from None
    if not host:
        raise MediaRejected(BAD_URL, "no host")
    return _Origin(parts.scheme, host.lower().rstrip("."), port or (443 if parts.scheme == "https" else 80))


def _is_cdn(host: str, suffixes: tuple[str, ...]) -> bool:
    return any(host.endswith(s) or host == s.lstrip(".") for s in suffixes)


def _check_addresses(host: str, port: int) -> tuple[str, ...]:
    """Resolve ``host`` once, refuse it unless every address is global, and return them (to connect to)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchFailed(f"cannot resolve {host}: {e}") from None
    if not infos:
        raise FetchFailed(f"cannot resolve {host}: no addresses")
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise MediaRejected(PRIVATE_ADDRESS, f"{host} resolves to {ip}")
    return tuple(dict.fromkeys(info[4][0] for info in infos))


def check_url(url: str, api_base_url: str, *, cdn_suffixes: tuple[str, ...] = CDN_SUFFIXES,
              resolve: bool = True) -> bool:
    """Check one URL against the rules; return whether credentials may be sent to it.

    Args:
        url: the URL to fetch.
        api_base_url: ``TWILIO_API_BASE_URL``; its exact scheme, host and port get credentials.
        cdn_suffixes: host suffixes of Twilio's media CDN (https only, never credentials).
        resolve: also resolve the host and refuse private addresses (never for the exact API host).

    Returns:
        True for the API host (send credentials), False for a CDN host.

    Raises:
        MediaRejected: ``bad_url``, ``host_not_allowed`` or ``private_address``.
    """
    return _check(url, api_base_url, cdn_suffixes, resolve)[0]


def _check(url: str, api_base_url: str, cdn_suffixes: tuple[str, ...],
           resolve: bool) -> tuple[bool, tuple[str, ...] | None]:
    """:func:`check_url`, also returning the checked addresses a CDN host must be reached at (None for the
    API origin, and when not resolving)."""
    o, api = _origin(url), _origin(api_base_url)
    if o == api:
        return True, None
    if o.host == api.host:
        raise MediaRejected(HOST_NOT_ALLOWED, f"{o.scheme}://{o.host}:{o.port} is not the API origin")
    if not _is_cdn(o.host, cdn_suffixes) or o.scheme != "https" or o.port != 443:
        raise MediaRejected(HOST_NOT_ALLOWED, f"{o.scheme}://{o.host}:{o.port}")
    try:
        ipaddress.ip_address(o.host)
        raise MediaRejected(HOST_NOT_ALLOWED, "IP literal")
    except ValueError:
        pass
    return False, (_check_addresses(o.host, o.port) if resolve else None)


# -- pinning: connect to the addresses that were checked -------------------------------------------

def _pinned_adapter(addresses: tuple[str, ...]):
    """A ``requests`` adapter whose https connections go to ``addresses`` (those :func:`_check_addresses`
    approved, tried in order) instead of resolving the host name again, so a resolver cannot answer public for the check
    and private for the connection (DNS rebinding). Everything else still uses the URL's host name: the
    TLS server name (SNI), the certificate's hostname check and the Host header.
    """
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPSConnection
    from urllib3.connectionpool import HTTPSConnectionPool
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util.connection import create_connection

    class PinnedConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:  # urllib3's, with the checked addresses for the host name
            err: Exception = NewConnectionError(self, f"no address for {self.host}")
            for address in addresses:
                try:
                    return create_connection((address, self.port), self.timeout,
                                             source_address=self.source_address, socket_options=self.socket_options)
                except TimeoutError:
                    err = ConnectTimeoutError(self, f"Connection to {self.host} ({address}) timed out")
                except OSError as e:
                    err = NewConnectionError(self, f"Failed to connect to {self.host} at {address}: {e}")
            raise err

    class PinnedPool(HTTPSConnectionPool):
        ConnectionCls = PinnedConnection

    class PinnedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"https": PinnedPool}  # CDN hops are https only

    return PinnedAdapter()


# -- fetching -------------------------------------------------------------------------------------

def fetch(url: str, dest_dir: str | os.PathLike, *, api_base_url: str, auth: tuple[str, str] | None = None,
          max_bytes: int = 16 * 1024 * 1024, timeout: float = 20.0, total_timeout: float = 120.0,
          cdn_suffixes: tuple[str, ...] = CDN_SUFFIXES, session=None) -> Fetched:
    """Download one Twilio media URL safely and store it under its sha256.

    Args:
        url: the MediaUrl / RecordingUrl.
        dest_dir: folder for the file (created if needed).
        api_base_url: ``TWILIO_API_BASE_URL``: the only origin that gets ``auth`` (and the only one that may
            be a private address).
        auth: ``(account_sid, auth_token)`` for HTTP basic auth, sent only to the API origin.
        max_bytes: size cap (Content-Length and streamed bytes).
        timeout: connect/read timeout per request.
        total_timeout: wall-clock cap for the whole download.
        cdn_suffixes: accepted CDN host suffixes.
        session: a ``requests.Session`` to use (default a new one).

    Returns:
        The stored file.

    Raises:
        MediaRejected: the URL, a redirect, the size or the sniffed type is refused (permanent).
        FetchFailed: network trouble or a 5xx/429 answer (retryable).
    """
    import requests

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    sess = session or requests.Session()
    sess.trust_env = False  # no proxies or .netrc credentials from the environment
    started = time.monotonic()
    current = url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            with_auth, addresses = _check(current, api_base_url, cdn_suffixes, True)
            with contextlib.ExitStack() as hop:
                try:
                    req = sess.prepare_request(requests.Request("GET", current, auth=auth if with_auth else None,
                                                                headers={"Accept-Encoding": "identity"}))
                    extra = {}
                    if addresses is not None:  # a CDN host: connect to the addresses just checked, this URL only
                        adapter = _pinned_adapter(addresses)
                        hop.callback(adapter.close)
                        sess.mount(req.url, adapter)  # the exact prepared URL: the longest prefix, so it is chosen
                        hop.callback(sess.adapters.pop, req.url, None)
                        if sess.get_adapter(req.url) is not adapter:
                            raise FetchFailed(f"GET {_safe(current)}: could not pin {addresses}")
                        extra["proxies"] = {}  # a proxy would resolve the name again
                    resp = sess.send(req, stream=True, allow_redirects=False, timeout=timeout, **extra)
                except requests.RequestException as e:
                    raise FetchFailed(f"GET {_safe(current)}: {e.__class__.__name__}") from None
                resp = hop.enter_context(resp)
                if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
                    loc = resp.headers.get("Location")
                    if not loc:
                        raise MediaRejected(HTTP_ERROR, f"{resp.status_code} without Location")
                    current = urljoin(current, loc)
                    continue
                if resp.status_code >= 500 or resp.status_code == 429:
                    raise FetchFailed(f"GET {_safe(current)}: HTTP {resp.status_code}")
                if resp.status_code != 200:
                    raise MediaRejected(HTTP_ERROR, f"HTTP {resp.status_code}")
                return _store(resp, dest_dir, max_bytes, started, total_timeout)
        raise MediaRejected(TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS}")
    finally:
        if session is None:
            sess.close()


def _safe(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}{p.path}"


def _store(resp, dest_dir: Path, max_bytes: int, started: float, total_timeout: float) -> Fetched:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise MediaRejected(TOO_LARGE, f"Content-Length {length} > {max_bytes}")
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=dest_dir)
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in resp.raw.stream(65536, decode_content=False):
                size += len(chunk)
                if size > max_bytes:
                    raise MediaRejected(TOO_LARGE, f"more than {max_bytes} bytes")
                if time.monotonic() - started > total_timeout:
                    raise FetchFailed(f"download took over {total_timeout} s")
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise MediaRejected(EMPTY, "0 bytes")
        got = sniff(head)
        if got is None:
            raise MediaRejected(UNSUPPORTED_TYPE, _describe(head))
        mime, kind = got
        sha = digest.hexdigest()
        path = dest_dir / f"{sha}.{_EXT.get(mime, 'bin')}"
        os.replace(tmp, path)
        return Fetched(path, sha, size, mime, kind, resp.headers.get("Content-Type", ""))
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- probing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeLimits:
    """Caps for :func:`probe`.

    Attributes:
        max_seconds: longest audio/video accepted (claimed duration).
        max_width: widest image/video frame.
        max_height: tallest image/video frame.
        max_pixels: largest width × height.
        max_bytes: largest file.
        timeout: wall-clock seconds for ffprobe.
        memory_bytes: address-space cap for ffprobe.
    """

    max_seconds: float = 600.0
    max_width: int = 8192
    max_height: int = 8192
    max_pixels: int = 40_000_000
    max_bytes: int = 16 * 1024 * 1024
    timeout: float = 10.0
    memory_bytes: int = 1024 * 1024 * 1024

    @classmethod
    def from_zone(cls) -> ProbeLimits:
        """Caps from config.yaml ``limits`` (media_max_seconds, media_max_bytes)."""
        from zone import get_zone

        lim = get_zone().limits
        return cls(max_seconds=lim.media_max_seconds, max_bytes=lim.media_max_bytes)


@dataclass(frozen=True)
class StreamInfo:
    """One stream found by the prober."""

    type: str
    codec: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class Probe:
    """What a media file holds.

    Attributes:
        mime: sniffed type.
        kind: ``audio``, ``video``, ``image`` or ``document`` (an MP4/3GP with no video stream is ``audio``).
        duration: seconds, when it has any.
        width: pixels, images and video.
        height: pixels, images and video.
        container: ffprobe's format name.
        streams: the streams.
    """

    mime: str
    kind: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    container: str = ""
    streams: tuple[StreamInfo, ...] = field(default_factory=tuple)

    @property
    def has_audio(self) -> bool:
        """Whether there is an audio stream."""
        return any(s.type == "audio" for s in self.streams)

    @property
    def has_video(self) -> bool:
        """Whether there is a video stream."""
        return any(s.type == "video" for s in self.streams)


def image_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from an image header (PNG, GIF, WebP, JPEG), without decoding pixels."""
    try:
        if head.startswith(b"\x89PNG") and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head.startswith((b"GIF87a", b"GIF89a")):
            return struct.unpack("<HH", head[6:10])
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            chunk = head[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(head[24:27], "little") + 1
                h = int.from_bytes(head[27:30], "little") + 1
                return w, h
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", head[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                b = int.from_bytes(head[21:25], "little")
                return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
        if head.startswith(b"\xff\xd8"):
            i = 2
            while i + 9 < len(head):
                if head[i] != 0xFF:
                    i += 1
                    continue
                marker = head[i + 1]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", head[i + 5:i + 9])
                    return w, h
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                i += 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    except struct.error:
        return None
    return None


def _limit_child(memory_bytes: int, cpu_seconds: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    return apply


def run_limited(cmd: list[str], *, timeout: float, memory_bytes: int) -> subprocess.CompletedProcess:
    """Run an ffmpeg-family command with wall-time, CPU-time and memory caps.

    Raises:
        MediaRejected: ``not_media`` when it runs out of time.
    """
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
                              preexec_fn=_limit_child(memory_bytes, max(1, int(timeout))))
    except subprocess.TimeoutExpired:
        raise MediaRejected(NOT_MEDIA, f"{Path(cmd[0]).name} took over {timeout} s") from None


def probe(path: str | os.PathLike, *, limits: ProbeLimits | None = None) -> Probe:
    """Identify a media file and check it against the caps, within a CPU and memory budget.

    The type is sniffed from the bytes first (a zip renamed ``.mp4`` stops here); images are measured
    from their header without decoding; audio and video go to ``ffprobe`` under a wall-time, CPU and
    address-space limit, and their claimed duration and frame size are checked.

    Args:
        path: the file.
        limits: the caps; default :class:`ProbeLimits` defaults.

    Returns:
        The probe.

    Raises:
        MediaRejected: ``empty``, ``too_large``, ``unsupported_type``, ``not_media``, ``too_long`` or
            ``too_big_image``.
    """
    limits = limits or ProbeLimits()
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise MediaRejected(EMPTY, "0 bytes")
    if size > limits.max_bytes:
        raise MediaRejected(TOO_LARGE, f"{size} bytes > {limits.max_bytes}")
    mime, kind = sniff_file(path)
    if kind == "document":
        return Probe(mime, kind)
    if kind == "image":
        with open(path, "rb") as fh:
            head = fh.read(65536)
        wh = image_size(head)
        if wh is None:
            raise MediaRejected(NOT_MEDIA, f"cannot read the {mime} header")
        _check_frame(*wh, limits)
        return Probe(mime, kind, None, wh[0], wh[1], mime.split("/")[1])
    proc = run_limited(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                        "-probesize", "5000000", "-analyzeduration", "5000000", str(path)],
                       timeout=limits.timeout, memory_bytes=limits.memory_bytes)
    try:
        info = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or "format" not in info:
        raise MediaRejected(NOT_MEDIA, (proc.stderr or b"").decode(errors="replace").strip()[:200])
    streams = []
    durations = []
    for s in info.get("streams", []):
        d = _num(s.get("duration"))
        if d is not None:
            durations.append(d)
        streams.append(StreamInfo(s.get("codec_type", ""), s.get("codec_name", ""), d, s.get("width"),
                                  s.get("height"), int(s["sample_rate"]) if s.get("sample_rate") else None,
                                  s.get("channels")))
    fmt_d = _num(info["format"].get("duration"))
    if fmt_d is not None:
        durations.append(fmt_d)
    duration = max(durations) if durations else None
    if duration is not None and duration > limits.max_seconds:
        raise MediaRejected(TOO_LONG, f"claims {duration:.0f} s > {limits.max_seconds:.0f} s")
    video = [s for s in streams if s.type == "video" and s.codec not in ("mjpeg", "png")]  # cover art is not video
    width = height = None
    if video:
        width, height = video[0].width, video[0].height
        _check_frame(width or 0, height or 0, limits)
    elif not any(s.type == "audio" for s in streams):
        raise MediaRejected(NOT_MEDIA, "no audio or video stream")
    if kind == "video" and not video:
        kind = "audio"
    elif kind == "audio" and video:
        kind = "video"
    return Probe(mime, kind, duration, width, height, info["format"].get("format_name", ""), tuple(streams))


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _check_frame(w: int, h: int, limits: ProbeLimits) -> None:
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_pixels:
        raise MediaRejected(TOO_BIG_IMAGE, f"{w}x{h}")
