"""Bharosa's web app: ``create_app()`` registers every blueprint; ``python app.py`` serves it.

``python app.py`` — serve on $PORT (development server; ``make run`` uses gunicorn)
``python app.py check`` — validate config.yaml, stations.csv and the environment (one line if wrong)
``python app.py init`` — migrate the database and load the zone's stations
``python app.py chat`` — a terminal chat as a citizen, through the real webhook (dev mode only)
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from datetime import timedelta

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import channels
from models import db
from zone import ConfigError, get_zone, settings
from zone.settings import Settings

log = logging.getLogger("bharosa")

# Blueprints outside the channels registry: module path -> attribute.
EXTRA_BLUEPRINTS = ["ops.health", "api.v1", "console.auth", "console.views",
                    "console.dashboard", "console.export", "api.open311"]


def load_settings() -> Settings:
    """Read the environment once (zone.settings), every channel's own section registered first.

    Raises:
        SettingsError: (production) every bad variable, named (dev mode logs them and uses the defaults).
    """
    channels.register_settings()
    return settings.load()


def check_environment(s: Settings | None = None) -> None:
    """Stop start-up with one clear line when production lacks what it needs (the values themselves were checked
    by :func:`load_settings`).

    Args:
        s: the loaded settings (default: read the environment now, as start-up does).
    """
    s = s or load_settings()
    if s.dev:
        return
    need = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM"]
    if not s.sms_sender:  # SMS through Twilio: from our number, not a test one
        need.append("TWILIO_SMS_FROM")
    # Every web node hashes the web page's codes and signs console sessions with this one secret: a key
    # generated per host (dev mode's var/secret_key) would make a code sent by one node wrong on the next.
    need.append("BHAROSA_SECRET_KEY")
    missing = [k for k in need if not s.is_set(k)]
    if missing:
        raise ConfigError(f"environment: {', '.join(missing)} not set (set them, or BHAROSA_ENV=dev to try it out)")


# One policy for every page (console, citizen web, errors): only our own scripts and styles, no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def security_headers(resp: Response) -> Response:
    """Headers for every response: no framing, no sniffing, same-origin referrers; a CSP and no-store on
    everything but static files (pages hold complainants' names, phones and stories; webhooks lose nothing)."""
    h = resp.headers
    h["X-Frame-Options"] = "DENY"
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "same-origin"
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return resp
    # The dev-only simulator page carries its own inline script and style: framing is all it forbids.
    h["Content-Security-Policy"] = "frame-ancestors 'none'" if request.blueprint == "simulator" else CSP
    h["Cache-Control"] = "no-store"
    h.pop("Expires", None)
    return resp


def secret_key() -> str:
    """``BHAROSA_SECRET_KEY``, else a key kept in var/secret_key so every worker process shares it."""
    key = settings.get().secret_key
    if key:
        return key
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "var", "secret_key")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # another process may be writing it right now
            with open(path, encoding="ascii") as fh:
                key = fh.read().strip()
            if key:
                return key
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it or set BHAROSA_SECRET_KEY") from None
    key = os.urandom(32).hex()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    return key


def create_app(database_url: str | None = None, *, check_env: bool = True, **overrides) -> Flask:
    """Build the Flask app.

    Args:
        database_url: overrides ``DATABASE_URL``.
        check_env: stop when production lacks Twilio credentials (tests turn it off).
        **overrides: Flask config values.

    Raises:
        ConfigError: config.yaml, stations.csv or the environment is invalid; the message names the key or
            the variable (``SettingsError``, every bad variable at once).
    """
    s = load_settings()  # the environment, read once for this app
    get_zone()  # validate the zone before serving anything
    if check_env:
        check_environment(s)
    proxies = s.trusted_proxies
    from console.auth import SESSION_HOURS

    app = Flask(__name__, static_folder=None)
    app.config.update(SECRET_KEY=secret_key(),
                      MAX_CONTENT_LENGTH=64 * 1024 * 1024, JSON_AS_ASCII=False,
                      # The console's cookie: https only outside dev mode (http://127.0.0.1 in dev), never read
                      # by scripts, not sent on cross-site posts; the server ends the session behind it.
                      SESSION_COOKIE_SECURE=not s.dev, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))
    app.config.update(overrides)
    if proxies:  # request.remote_addr (rate limits, sign-in budgets) and the scheme as the client sent them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    app.after_request(security_headers)
    app.json.ensure_ascii = False
    db.init(database_url or s.database_url)
    for bp in channels.blueprints():
        app.register_blueprint(bp)
    for mod in EXTRA_BLUEPRINTS:
        app.register_blueprint(importlib.import_module(mod).bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify({"error": exc.name, "detail": exc.description}), exc.code

    from bot import engine
    from channels import inbound

    inbound.use_engine(engine.handle, replace=False)  # the channels run turns through it; a test may give its own
    # The one warm-up: load the dialogue engine's models now, not on the first citizen's message
    # (BHAROSA_WARM=0 skips it, e.g. for a quick `app.py check`).
    if s.warm:
        try:
            engine.warm()
        except Exception:  # noqa: BLE001 - a cold engine is slower, not broken
            log.exception("bot warm-up failed; the engine will load on first use")
    return app


def init_database() -> None:
    """Migrate to the newest schema and load the stations."""
    # alembic talks at INFO about each plugin it sets up (on import); `make run`'s console wants one line
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    from tickets.stations import sync_stations

    db.init(settings.get().database_url)
    cfg = Config(os.path.join(os.path.dirname(os.path.abspath(__file__)), "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    command.upgrade(cfg, "head")
    with db.session() as s:
        n = sync_stations(s)
    print(f"database ready (schema {_schema_head(cfg)}); {n} stations loaded from the zone")


def _schema_head(cfg) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(cfg).get_current_head() or "?"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if argv[:1] == ["check"]:  # the zone and the environment, before anything starts
            s = load_settings()
            get_zone()
            check_environment(s)
            print("configuration ok")
            return 0
        if argv[:1] == ["init"]:
            load_settings()
            get_zone()
            init_database()
            return 0
        if argv[:1] == ["chat"]:
            from channels.simulator import chat_main

            return chat_main(argv[1:])
        app = create_app()
    except ConfigError as exc:
        print(f"bharosa: {exc}", file=sys.stderr)
        return 2
    s = settings.get()
    app.run(host=s.host, port=s.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
