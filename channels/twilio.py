"""Everything Twilio-specific, in one place: signatures, TwiML, the REST sender and its errors."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from flask import Request, current_app
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from zone import settings

DEV_TOKEN = "bharosa-dev-token"  # noqa: S105 - the simulators' token, accepted in dev mode only

# Twilio error codes that will never succeed on retry (unsubscribed, unreachable, bad number...).
PERMANENT_CODES = {21211, 21408, 21610, 21612, 21614, 30003, 30004, 30005, 30006, 30007, 63016, 63024}


def is_dev() -> bool:
    """Development mode: simulators allowed, outbound recorded instead of sent."""
    return settings.get().dev


def records_only() -> bool:
    """True when outbound messages are recorded and never sent: dev mode, whatever credentials are set.

    The one send-or-record decision (``channels.outbound._send_part`` asks it before any sender is
    built): dev mode with real ``TWILIO_*`` credentials, or a state gateway, still sends nothing.
    """
    return is_dev()


def from_loopback(request: Request) -> bool:
    """True when ``request`` came from this machine (127.0.0.0/8 or ::1).

    Both the socket's peer and, behind ``ProxyFix``, the client it names must be loopback: a forged
    ``X-Forwarded-For: 127.0.0.1`` from outside does not pass, nor does a remote client behind a local proxy.
    """
    orig = request.environ.get("werkzeug.proxy_fix.orig") or {}
    addrs = [request.remote_addr, orig.get("REMOTE_ADDR", request.remote_addr)]
    for addr in addrs:
        try:
            ip = ipaddress.ip_address((addr or "").split("%")[0])
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)
        if not (mapped or ip).is_loopback:
            return False
    return True


def auth_token() -> str | None:
    """The token webhooks are signed with; the dev token in dev mode when none is set."""
    tok = settings.get().twilio_auth_token
    if tok:
        return tok
    return DEV_TOKEN if is_dev() else None


def api_base_url() -> str:
    return settings.get().twilio_api_base_url


def public_url(request: Request) -> str:
    """The URL Twilio called: ``PUBLIC_BASE_URL`` + path, else what the (proxied) request says."""
    base = settings.get().public_base_url
    full = request.full_path if request.query_string else request.path
    if base:
        return base.rstrip("/") + full
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{proto}://{host}{full}"


def signature_ok(request: Request) -> bool:
    """True when X-Twilio-Signature is valid for the URL Twilio called and the posted form."""
    token = auth_token()
    sig = request.headers.get("X-Twilio-Signature", "")
    if not token or not sig:
        return False
    validator = RequestValidator(token)
    url = public_url(request)
    # The MultiDict itself: the validator reads repeated keys with getlist (a dict of lists crashed it: a 500
    # for any unsigned request that repeated a form key).
    flat = request.form
    if validator.validate(url, flat, sig):
        return True
    # Twilio signs the URL with the port where one was given and without it where not; try the other form.
    parts = urlsplit(url)
    if parts.port in (80, 443):
        alt = urlunsplit(parts._replace(netloc=parts.hostname or ""))
        return validator.validate(alt, flat, sig)
    return False


def sign(url: str, params: dict[str, str], token: str | None = None) -> str:
    """Compute X-Twilio-Signature for a request (simulators, tests, benchmarks)."""
    return RequestValidator(token or auth_token() or DEV_TOKEN).compute_signature(url, params)


def twiml_message(texts: list[str]) -> str:
    """A TwiML <Response> with one <Message> per text (none: an empty response)."""
    resp = MessagingResponse()
    for t in texts:
        resp.message(t)
    return str(resp)


@dataclass
class SendError(Exception):
    """A failed send. ``retryable`` decides whether rq retries the job."""

    message: str
    code: int | None = None
    retryable: bool = True

    def __str__(self) -> str:
        return f"{self.code or ''} {self.message}".strip()


class TwilioSender:
    """Sends WhatsApp and SMS messages through Twilio's REST API at ``TWILIO_API_BASE_URL``."""

    def __init__(self, account_sid: str, token: str, base_url: str | None = None) -> None:
        base = base_url or api_base_url()
        http = TwilioHttpClient(timeout=http_timeout(), proxy=_proxies_for(base))
        # Proxies and the CA bundle are set here, once: requests would otherwise walk the whole environment twice
        # on every message (a tenth of a worker's time).
        http.session.trust_env = False
        s = settings.get()
        ca = s.requests_ca_bundle or s.curl_ca_bundle
        http.session.verify = str(ca) if ca else True
        self.client = Client(account_sid, token, http_client=http)
        self.client.api.base_url = base

    def send(self, to: str, body: str, *, from_: str, status_callback: str | None = None,
             media_urls: list[str] | None = None, content_sid: str | None = None,
             content_variables: str | None = None) -> str:
        """Send one message; returns Twilio's Message SID.

        Raises:
            SendError: typed by Twilio's error code; ``retryable`` is False for permanent errors.
        """
        kw: dict = {"to": to, "from_": from_}
        if content_sid:
            kw["content_sid"] = content_sid
            if content_variables:
                kw["content_variables"] = content_variables
        else:
            kw["body"] = body
        if status_callback:
            kw["status_callback"] = status_callback
        if media_urls:
            kw["media_url"] = media_urls
        try:
            msg = self.client.messages.create(**kw)
        except TwilioRestException as exc:
            code = exc.code
            retry = exc.status >= 500 or exc.status == 429 or (code is not None and code not in PERMANENT_CODES
                                                                and exc.status not in (400, 401, 403, 404))
            raise SendError(exc.msg or "twilio error", code, retry) from None
        except Exception as exc:  # network errors: retry
            raise SendError(f"{type(exc).__name__}: {exc}"[:300], None, True) from None
        return msg.sid


def http_timeout() -> float:
    """``TWILIO_HTTP_TIMEOUT`` in seconds (default 15; a bad value stops start-up, or in dev mode is warned about
    and 15 used: :mod:`zone.settings`)."""
    return settings.get().twilio_http_timeout


def _proxies_for(url: str) -> dict[str, str]:
    """The environment's HTTP(S) proxies for ``url`` (none where NO_PROXY says so)."""
    from urllib.request import getproxies, proxy_bypass

    host = urlsplit(url).hostname or ""
    if not host or proxy_bypass(host):
        return {}
    return {k: v for k, v in getproxies().items() if k in ("http", "https")}


def credentials() -> tuple[str, str] | None:
    s = settings.get()
    sid, tok = s.twilio_account_sid, s.twilio_auth_token
    return (sid, tok) if sid and tok else None


def get_sender() -> TwilioSender:
    """The process's Twilio sender (never asked in dev mode: see :func:`records_only`).

    Raises:
        SendError: (permanent) TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set.
    """
    creds = credentials()
    if creds is None:
        raise SendError("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set", None, False)
    return _sender(*creds, api_base_url())


@lru_cache(maxsize=8)
def _sender(account_sid: str, token: str, base_url: str) -> TwilioSender:
    """One sender per credentials and base URL: its HTTP session keeps the connection to Twilio open."""
    return TwilioSender(account_sid, token, base_url)


def app_logger():
    return current_app.logger
