"""A stand-in for a state's own SMS gateway, loaded by ``BHAROSA_SMS_SENDER`` in the tests."""

from __future__ import annotations


class StateGateway:
    """Implements :class:`channels.sender.SmsSender`; remembers what it was asked to send."""

    sent: list = []

    def send_sms(self, to, body, *, from_, status_callback=None, dlt_template_id=None):
        StateGateway.sent.append((to, body, dlt_template_id))
        return f"GW{len(StateGateway.sent):06d}"
