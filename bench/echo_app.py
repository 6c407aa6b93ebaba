"""The baseline: a bare Flask app on the same gunicorn settings, answering a fixed TwiML reply."""

from flask import Flask, Response

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>ok</Message></Response>'


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/twilio/<channel>")
    def echo(channel):
        return Response(TWIML, mimetype="application/xml")

    @app.get("/healthz")
    def health():
        return "ok"

    return app
