"""The baselines the webhook benchmarks compare against, on the same gunicorn settings as the real app.

``create_app()``: a bare Flask app answering every POST with a fixed TwiML reply (no work at all).

``create_durable_app()``: the least a durable webhook must do: verify the Twilio signature, store the
message with one INSERT (committed before answering) in a table of the same kind of database as the real
app (``DATABASE_URL``: the SQLite file or the PostgreSQL database, through the app's own engine settings:
WAL, ``synchronous=NORMAL``, ``BEGIN IMMEDIATE`` on SQLite; the same pool on PostgreSQL), and answer a fixed
TwiML reply. No dialogue, no citizen or conversation, no Redis. ``create_durable_table()`` makes its table
(the benchmark calls it once before gunicorn starts, so workers do not race on DDL).
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>ok</Message></Response>'
TABLE = "bench_inbound"
DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (sid VARCHAR(64) PRIMARY KEY, sender VARCHAR(80) NOT NULL, "
       "body TEXT NOT NULL, received_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)")
INSERT = f"INSERT INTO {TABLE} (sid, sender, body) VALUES (:sid, :sender, :body) ON CONFLICT (sid) DO NOTHING"  # noqa: S608


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/twilio/<channel>")
    def echo(channel):
        return Response(TWIML, mimetype="application/xml")

    @app.get("/healthz")
    def health():
        return "ok"

    return app


def _database(url: str | None = None):
    """The app's engine settings (models.db) on ``url`` (default ``DATABASE_URL``)."""
    from models.db import Database

    return Database().init(url or os.environ.get("DATABASE_URL") or None)


def create_durable_table(url: str | None = None) -> None:
    from sqlalchemy import text

    d = _database(url)
    with d.engine.begin() as c:
        c.execute(text(DDL))
    d.dispose()


def create_durable_app(url: str | None = None) -> Flask:
    """Signature check (twilio's RequestValidator, as the real app), one INSERT, fixed TwiML."""
    from sqlalchemy import text
    from twilio.request_validator import RequestValidator

    d = _database(url)
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    base = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
    insert = text(INSERT)
    app = Flask(__name__)

    @app.post("/twilio/<channel>")
    def store(channel):
        url_called = (base + request.full_path if request.query_string else base + request.path) if base \
            else request.url
        if not validator.validate(url_called, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        f = request.form
        with d.engine.begin() as c:
            c.execute(insert, {"sid": f.get("MessageSid", ""), "sender": f.get("From", ""), "body": f.get("Body", "")})
        return Response(TWIML, mimetype="application/xml")

    @app.get("/healthz")
    def health():
        return "ok"

    return app
