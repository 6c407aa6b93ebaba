"""Typed errors for media handling; each carries a short reason code that jobs and messages key on."""

from __future__ import annotations

# Reason codes (stable strings: jobs store them and pick the polite message by them).
EMPTY = "empty"  # 0 bytes
TOO_LARGE = "too_large"  # over the byte cap
TOO_LONG = "too_long"  # over the duration cap (claimed or decoded)
TOO_BIG_IMAGE = "too_big_image"  # width/height/pixels over the caps
TRUNCATED = "truncated"  # the stream ends early or is corrupt
NOT_AUDIO = "not_audio"  # no decodable audio stream
NOT_MEDIA = "not_media"  # unreadable by the prober
SILENT = "silent"  # decoded, but no signal
DECODE_TIMEOUT = "decode_timeout"  # over the wall-time cap
UNSUPPORTED_TYPE = "unsupported_type"  # sniffed bytes are not an accepted type (zip, exe, html...)
BAD_URL = "bad_url"  # scheme, userinfo, malformed
HOST_NOT_ALLOWED = "host_not_allowed"  # not the API host nor Twilio's media CDN
PRIVATE_ADDRESS = "private_address"  # resolves to loopback/private/link-local
TOO_MANY_REDIRECTS = "too_many_redirects"
HTTP_ERROR = "http_error"  # a 4xx answer (permanent)


class MediaRejected(Exception):
    """The media is refused for good (bad input); ``reason`` is one of this module's codes.

    Attributes:
        reason: the reason code, e.g. ``"silent"``.
        detail: a one-line explanation for logs (never shown to the citizen).
        retryable: always False: the same input fails the same way.
    """

    retryable = False

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class FetchFailed(Exception):
    """A download failed for a reason that may pass (timeout, connection reset, 5xx): retry the job.

    Attributes:
        retryable: True.
    """

    retryable = True
