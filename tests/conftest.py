"""Shared fixtures: a real Redis, a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is
set), the Twilio recorder, the app, a signed-webhook client, and a network guard.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.faults.harness import free_port  # noqa: F401 - tests import it from here
from tests.redis_server import start_redis

ROOT = Path(__file__).resolve().parent.parent
CHANNEL_TESTS = ROOT / "tests" / "channels"  # each channel's fixtures: tests/channels/<name>/fixtures/
PUBLIC = "https://bharosa.test"
ACCOUNT = "AC" + "0" * 30 + "01"
TOKEN = "test-auth-token-0123456789abcdef"  # noqa: S105
ARTIFACTS = ROOT / "test-artifacts"

os.environ.setdefault("BHAROSA_SPOOL_DIR", str(ROOT / "var" / "test-spool"))
os.environ["PUBLIC_BASE_URL"] = PUBLIC
os.environ["TWILIO_ACCOUNT_SID"] = ACCOUNT
os.environ["TWILIO_AUTH_TOKEN"] = TOKEN
os.environ["TWILIO_SMS_FROM"] = "+15005550006"
os.environ["TWILIO_WHATSAPP_FROM"] = "whatsapp:+14155238886"
os.environ.pop("BHAROSA_ENV", None)


# -- the network guard: tests may reach loopback only ------------------------------------------
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(addr) -> None:
    if isinstance(addr, (str, bytes)):  # unix socket
        return
    host = addr[0]
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        if host in ("localhost",):
            return
        raise OSError(f"test tried to reach the network: {host}") from None
    if not ip.is_loopback:
        raise OSError(f"test tried to reach the network: {host}")


def _guarded_connect(self, addr):
    _loopback_only(addr)
    return _real_connect(self, addr)


def _guarded_connect_ex(self, addr):
    _loopback_only(addr)
    return _real_connect_ex(self, addr)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex



# -- the settings: read from the environment, as a start-up reads them -------------------------
@pytest.fixture(autouse=True)
def _settings_from_environment():
    """Each test starts, and ends, with the settings of the environment as it is (zone.settings)."""
    from zone import settings

    settings.load()
    yield
    settings.load()


@pytest.fixture
def settings_env(monkeypatch):
    """``settings_env(NAME="value", OTHER=None)``: set (None: unset) environment variables for this test and read
    the settings again, as a start-up would; returns them (raises ``SettingsError`` as the start-up would)."""
    from zone import settings

    def set_env(**env):
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))
        return settings.load()

    return set_env


# -- Redis: our own server on a free port unless REDIS_URL is given ----------------------------
@pytest.fixture(scope="session")
def redis_server():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    try:
        server = start_redis()
    except FileNotFoundError as e:
        pytest.exit(str(e), 2)
    os.environ["REDIS_URL"] = server.url
    yield server.url
    server.proc.terminate()
    server.proc.wait(5)
    os.environ.pop("REDIS_URL", None)


@pytest.fixture
def redis_conn(redis_server):
    import redis

    r = redis.Redis.from_url(redis_server)
    r.flushdb()
    return r


# -- the Twilio recorder ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def recorder_server():
    from tests.twilio_recorder import RecorderServer

    srv = RecorderServer().start()
    os.environ["TWILIO_API_BASE_URL"] = srv.url
    yield srv
    srv.stop()


@pytest.fixture
def recorder(recorder_server):
    recorder_server.recorder.clear()
    recorder_server.recorder.media.clear()
    return recorder_server.recorder


# -- the database -----------------------------------------------------------------------------
DB_PARAMS = ["sqlite"] + (["postgres"] if os.environ.get("TEST_DATABASE_URL") else [])


def _pg_url(worker: str) -> tuple[str, str]:
    base = os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    return base, f"t_{worker}_{os.getpid()}"  # the pid: test runs side by side never share a schema


@pytest.fixture(params=DB_PARAMS)
def db(request, tmp_path, worker_id):
    """The bound :class:`models.Database`, empty but for the zone's stations."""
    from models import Base
    from models import db as database
    from tickets.stations import sync_stations

    if request.param == "sqlite":
        database.init(f"sqlite:///{tmp_path / 'test.db'}")
        Base.metadata.create_all(database.engine)
    else:
        import sqlalchemy as sa

        base, schema = _pg_url(worker_id)
        eng = sa.create_engine(base)
        with eng.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
        eng.dispose()
        database.init(base, connect_args={"options": f"-csearch_path={schema}", "connect_timeout": 3})
        Base.metadata.create_all(database.engine)
    with database.session() as s:
        sync_stations(s)
    database.backend = request.param
    database.pg_schema = None if request.param == "sqlite" else schema
    yield database
    database.dispose()
    database.engine = None
    database.url = None
    if request.param != "sqlite":
        import sqlalchemy as sa

        eng = sa.create_engine(base)
        with eng.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        eng.dispose()


@pytest.fixture(scope="session")
def worker_id(request):
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


# -- the app ----------------------------------------------------------------------------------
@pytest.fixture
def app(db, redis_conn, recorder):
    from app import create_app

    application = create_app(db.url, check_env=False, TESTING=True)
    return application


class SignedClient:
    """Posts forms the way Twilio does: signed with X-Twilio-Signature for the public URL."""

    def __init__(self, client, token: str = TOKEN) -> None:
        self.client, self.token = client, token

    def post(self, path: str, form: dict, *, signature: str | None = None, token: str | None = None,
             url: str | None = None, headers: dict | None = None):
        from channels.twilio import sign

        sig = signature if signature is not None else sign(url or PUBLIC + path, form, token or self.token)
        h = {"X-Twilio-Signature": sig, **(headers or {})}
        return self.client.post(path, data=urlencode(form), headers=h,
                                content_type="application/x-www-form-urlencoded")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def twilio(client):
    return SignedClient(client)


@pytest.fixture
def drain(app):
    """Relay the outbox and run a real rq worker (burst) until nothing is pending."""
    import worker

    return worker.drain


def load_fixture(channel: str, name: str, **override) -> dict:
    """A real-format Twilio form body from tests/channels/<channel>/fixtures/<name>.txt, with overrides."""
    from urllib.parse import parse_qsl

    text = (CHANNEL_TESTS / channel / "fixtures" / f"{name}.txt").read_text(encoding="utf-8").strip()
    form = dict(parse_qsl(text, keep_blank_values=True))
    form.update({k: str(v) for k, v in override.items()})
    return form


@pytest.fixture
def fixture_form():
    return load_fixture


@pytest.fixture
def live_server(app):
    """The app on a real threaded HTTP server (werkzeug), for browsers and concurrent requests."""
    import threading

    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    t.join(5)


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright, offline (never `playwright install`)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def media_dir(tmp_path, settings_env):
    """Media files of this test go to their own folder."""
    d = tmp_path / "media"
    settings_env(BHAROSA_MEDIA_DIR=d)
    return d


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
