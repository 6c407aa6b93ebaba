"""The sender interface: how an outbound message leaves Bharosa.

SMS goes through :class:`SmsSender` so a state's own SMS gateway can replace Twilio: set
``BHAROSA_SMS_SENDER=package.module:ClassName``; the class is built with no arguments (it reads
its own settings) and must implement ``send_sms``. Every SMS carries its DLT
template id (TRAI), which Indian gateways require and Twilio ignores. WhatsApp always goes through
Twilio. Errors are :class:`channels.twilio.SendError`: ``retryable`` decides rq's Retry.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

from channels import twilio as tw
from zone import settings


@runtime_checkable
class SmsSender(Protocol):
    """What an SMS gateway must offer."""

    def send_sms(self, to: str, body: str, *, from_: str, status_callback: str | None = None,
                 dlt_template_id: str | None = None) -> str:
        """Send one SMS (at most 1600 characters); return the gateway's message id.

        Raises:
            channels.twilio.SendError: ``retryable`` True for transient failures (network, 5xx,
                throttling), False for permanent ones (bad or unsubscribed number, DLT mismatch).
        """


class TwilioSmsSender:
    """The default :class:`SmsSender`: Twilio's Messages API at ``TWILIO_API_BASE_URL``."""

    def __init__(self) -> None:
        creds = tw.credentials()
        if creds is None:
            raise tw.SendError("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set", None, False)
        self.twilio = tw.get_sender()  # shared: one kept-alive HTTP session per process

    def send_sms(self, to: str, body: str, *, from_: str, status_callback: str | None = None,
                 dlt_template_id: str | None = None) -> str:
        """Send through Twilio (the DLT id is registered with Twilio's Indian route, not sent per message)."""
        return self.twilio.send(to, body, from_=from_, status_callback=status_callback)


_cache: dict[str, SmsSender] = {}


def get_sms_sender() -> SmsSender:
    """The configured SMS sender (never asked in dev mode: see :func:`channels.twilio.records_only`).

    Raises:
        channels.twilio.SendError: (permanent) ``BHAROSA_SMS_SENDER`` names nothing importable, or
            production lacks Twilio credentials.
    """
    s = settings.get()
    spec = s.sms_sender
    if not spec:
        key = "twilio:" + s.twilio_api_base_url + (s.twilio_account_sid or "")
        if key not in _cache:
            _cache[key] = TwilioSmsSender()
        return _cache[key]
    if spec not in _cache:
        mod, _, cls = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(mod), cls)()
        except (ImportError, AttributeError, ValueError) as exc:
            raise tw.SendError(f"BHAROSA_SMS_SENDER={spec}: {exc}", None, False) from None
        if not isinstance(obj, SmsSender):
            raise tw.SendError(f"BHAROSA_SMS_SENDER={spec}: no send_sms method", None, False)
        _cache[spec] = obj
    return _cache[spec]
