"""The common steps of every Twilio messaging webhook: verify, parse, store-and-process, answer TwiML."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Response, request
from sqlalchemy.exc import OperationalError

from channels import twilio as tw
from channels.base import BadRequest, Incoming
from channels.inbound import SORRY, process
from channels.segments import split_for
from models import db

log = logging.getLogger(__name__)
TWIML = "application/xml; charset=utf-8"


def forbidden() -> Response:
    return Response("invalid signature\n", status=403, mimetype="text/plain")


def bad_request(reason: str) -> Response:
    return Response(f"bad request: {reason}\n", status=400, mimetype="text/plain")


def handle_messaging(parse: Callable[[dict], Incoming]) -> Response:
    """Verify the signature, parse the form, process it in one transaction, and answer with TwiML.

    403 for a missing or wrong signature, 400 for a malformed form; otherwise always 200 with TwiML
    (never 5xx or 429): with the database down the message is spooled to disk and the citizen gets
    an apology; it is processed when the database returns.
    """
    if not tw.signature_ok(request):
        return forbidden()
    try:
        msg = parse(request.form.to_dict())
    except BadRequest as exc:
        return bad_request(str(exc))
    try:
        with db.session() as s:
            texts = process(s, msg)
    except OperationalError:
        log.exception("database unavailable for %s; spooled", msg.sid)
        texts = _spool(msg)
    except Exception:  # a bug must not lose the message nor answer 5xx
        log.exception("processing %s failed; spooled", msg.sid)
        texts = _spool(msg)
    parts = [p for t in texts for p in split_for(msg.channel, t)]
    return Response(tw.twiml_message(parts), mimetype=TWIML)


def _spool(msg: Incoming) -> list[str]:
    from channels import spool

    try:
        spool.save(msg)
    except OSError:
        log.critical("could not spool %s: the message is lost unless Twilio retries", msg.sid, exc_info=True)
    return [SORRY["hi"]]
