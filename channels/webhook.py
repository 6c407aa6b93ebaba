"""The common steps of every Twilio messaging webhook: verify, parse, store-and-process, answer TwiML."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Response, request
from sqlalchemy.exc import OperationalError

from channels import twilio as tw
from channels.base import BadRequest, Incoming
from channels.inbound import SORRY, process
from models import db

log = logging.getLogger(__name__)
TWIML = "application/xml; charset=utf-8"


def forbidden() -> Response:
    return Response("invalid signature\n", status=403, mimetype="text/plain")


def bad_request(reason: str) -> Response:
    return Response(f"bad request: {reason}\n", status=400, mimetype="text/plain")


def handle_messaging(parse: Callable[[dict], Incoming]) -> Response:
    """Verify the signature, parse the form, process it in one transaction, and answer with TwiML."""
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
        log.exception("database unavailable for %s", msg.sid)
        from channels import spool

        spool.save(msg)
        texts = [SORRY["hi"]]
    return Response(tw.twiml_message(texts), mimetype=TWIML)
