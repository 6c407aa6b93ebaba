"""Nothing lost, nothing doubled: concurrent repeats, the spool when the database is down, the
flood limit (with and without Redis) and the blocklist — all through real signed webhooks."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select

from channels import spool
from channels.inbound import BLOCKED, FLOODED, SORRY
from channels.twilio import sign
from models import Attachment, Citizen, Complaint, Conversation, Message, Outbox
from tasks import flood
from tests.conftest import PUBLIC, TOKEN, free_port


def _count(s, model, *where):
    return s.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("kind", ["media_image", "text"])
def test_same_message_sid_50_times_concurrently(db, live_server, fake_engine, fixture_form, kind):
    """One stored message, one reply, one state change, one job. A text message takes PostgreSQL's
    two-statement path; a message with media the general one."""
    form = fixture_form("whatsapp", kind, Body="register jhansi theft_mobile")
    data = urlencode(form)
    headers = {"X-Twilio-Signature": sign(PUBLIC + "/twilio/whatsapp", form, TOKEN),
               "Content-Type": "application/x-www-form-urlencoded"}
    gate = threading.Barrier(50)

    def hit(_):
        gate.wait()
        return requests.post(live_server + "/twilio/whatsapp", data=data, headers=headers, timeout=60)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(hit, range(50)))
    assert {r.status_code for r in answers} == {200}
    bodies = {r.text for r in answers}
    assert len(bodies) == 1 and "registered JHS-" in bodies.pop()  # one reply text, given to every delivery
    with db.session() as s:
        assert _count(s, Message, Message.sid == form["MessageSid"]) == 1
        assert _count(s, Citizen) == 1 and _count(s, Conversation) == 1 and _count(s, Complaint) == 1
        assert _count(s, Outbox, Outbox.kind == "route") == 1
        assert _count(s, Attachment) == _count(s, Outbox, Outbox.kind == "media") == (kind == "media_image")
        assert s.scalar(select(Conversation.state)) == {"turns": 1}


# -- the spool ---------------------------------------------------------------------------------

def _dead_url(db) -> str:
    if db.backend == "sqlite":
        return "sqlite:////nonexistent-bharosa-dir/down.db"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"


def test_database_down_spools_then_replays_nothing_lost_nothing_doubled(db, app, fake_engine, fixture_form,
                                                                        spool_dir):
    from app import create_app
    from tests.conftest import SignedClient

    good = (db.engine, db._factory, db.url)
    down = SignedClient(create_app(_dead_url(db), check_env=False, TESTING=True).test_client())
    forms = [fixture_form("sms", "text"), fixture_form("sms", "hindi_text"), fixture_form("whatsapp", "voice_note"),
             fixture_form("whatsapp", "text", Body="register kanpur_nagar theft_mobile")]
    try:
        for f in forms + forms[:2]:  # Twilio retries two of them while we are down
            t0 = time.monotonic()
            r = down.post("/twilio/whatsapp" if f["From"].startswith("whatsapp:") else "/twilio/sms", f)
            assert r.status_code == 200 and SORRY["hi"] in r.get_data(as_text=True)
            assert time.monotonic() - t0 < 5
        files = sorted(p.name for p in spool_dir.glob("*.json"))
        assert files == sorted(f"{f['MessageSid']}.json" for f in forms)
        assert spool.replay() == 0  # still down: nothing replayed, nothing removed
        assert len(list(spool_dir.glob("*.json"))) == 4
    finally:
        db.engine, db._factory, db.url = good
    assert spool.replay() == 4
    assert not list(spool_dir.glob("*.json"))
    assert spool.replay() == 0
    with db.session() as s:
        assert _count(s, Message, Message.direction == "in") == 4
        assert _count(s, Complaint) == 1 and _count(s, Attachment) == 1
        assert _count(s, Outbox, Outbox.kind == "media") == 1
        # the citizen got an apology at the time; the real replies follow as messages
        followups = s.scalars(select(Outbox).where(Outbox.key.like("reply:%"))).all()
        assert len(followups) == 4 and any("echo[text]: मेरा मोबाइल" in o.payload["text"] for o in followups)
    # Twilio's late retry, after recovery: the stored answer, nothing new
    again = SignedClient(app.test_client()).post("/twilio/sms", forms[0])
    assert "echo[text]: mera phone chori ho gaya" in again.get_data(as_text=True)
    with db.session() as s:
        assert _count(s, Message, Message.direction == "in") == 4


def test_spool_followups_reach_the_citizen(db, app, fake_engine, fixture_form, spool_dir, recorder, drain):
    from app import create_app
    from tests.conftest import SignedClient

    good = (db.engine, db._factory, db.url)
    try:
        down = SignedClient(create_app(_dead_url(db), check_env=False, TESTING=True).test_client())
        assert down.post("/twilio/sms", fixture_form("sms", "text")).status_code == 200
    finally:
        db.engine, db._factory, db.url = good
    assert spool.replay() == 1
    drain()
    [m] = recorder.to("+919839012345")
    assert m["Body"] == "echo[text]: mera phone chori ho gaya" and m["To"] == "+919839012345"


# -- flooding and the blocklist ------------------------------------------------------------------

@pytest.fixture
def low_limit():
    from zone import get_zone, set_zone

    z = get_zone()
    set_zone(z.model_copy(update={"limits": z.limits.model_copy(update={"per_sender_per_minute": 3})}))
    flood._down_until = 0.0
    yield 3
    set_zone(z)


def test_flood_is_stored_and_answered_politely_never_429(db, app, twilio, fake_engine, fixture_form, low_limit,
                                                         redis_conn):
    answers = []
    for i in range(6):
        sid = f"SM{i:032d}"
        r = twilio.post("/twilio/sms", fixture_form("sms", "text", MessageSid=sid, SmsSid=sid, Body=f"msg {i}"))
        assert r.status_code == 200
        answers.append(r.get_data(as_text=True))
    assert all("echo[text]" in a for a in answers[:3])
    assert all(FLOODED["hi"] in a or FLOODED["en"] in a for a in answers[3:])
    other = twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "text", From="whatsapp:+919415000000"))
    assert "echo[text]" in other.get_data(as_text=True)  # another sender is not slowed
    # the same phone on WhatsApp counts together with its SMS
    sid = "SM" + "7" * 32
    same = twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "text", MessageSid=sid, SmsSid=sid,
                                                        SmsMessageSid=sid))
    assert "echo[text]" not in same.get_data(as_text=True)
    with db.session() as s:
        assert _count(s, Message, Message.status == "flooded") == 4
        assert _count(s, Message, Message.direction == "in") == 8
        assert s.scalar(select(Conversation.state).join(Citizen, Citizen.id == Conversation.citizen_id)
                        .where(Citizen.phone == "+919839012345")) == {"turns": 3}


def test_flood_limit_without_redis_does_not_fail_the_webhook(db, app, twilio, fake_engine, fixture_form,
                                                            low_limit, settings_env):
    settings_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    t0 = time.monotonic()
    for i in range(6):
        sid = f"SM{i:032d}"
        r = twilio.post("/twilio/sms", fixture_form("sms", "text", MessageSid=sid, SmsSid=sid))
        assert r.status_code == 200 and "echo[text]" in r.get_data(as_text=True)
    assert time.monotonic() - t0 < 5
    flood._down_until = 0.0


def test_the_flood_limit_uses_the_one_redis_client_factory(settings_env):
    """tasks.queue.get_redis builds every Redis client: the flood limit's is the factory's 0.2 s one, cached per
    URL and timeout beside the 2 s client of the queues."""
    from tasks import queue

    url = f"redis://127.0.0.1:{free_port()}/0"  # building a client connects nowhere
    settings_env(REDIS_URL=url)
    try:
        c = flood._redis()
        assert c is flood._redis() is queue.get_redis(flood.TIMEOUT_S) and c is not queue.get_redis()
        kw = c.connection_pool.connection_kwargs
        assert kw["socket_timeout"] == kw["socket_connect_timeout"] == flood.TIMEOUT_S == 0.2
        assert queue.get_redis().connection_pool.connection_kwargs["socket_timeout"] == 2.0
    finally:
        queue.forget(url)
    assert not any(k[0] == url for k in queue._REDIS)


def test_no_module_builds_its_own_redis_client():
    root = Path(__file__).resolve().parents[2]
    files = [root / "app.py", root / "worker.py"] + [p for d in ("ops", "console", "api", "channels", "tickets",
                                                                 "tasks", "bot", "voice", "models", "zone")
                                                    for p in (root / d).rglob("*.py")]
    builds = re.compile(r"\b(?:Strict)?Redis\s*\(|\bRedis\.from_url\b|\bredis\.from_url\b")
    found = sorted(str(p.relative_to(root)) for p in files if builds.search(p.read_text(encoding="utf-8")))
    assert found == ["tasks/queue.py"]


def test_whatsapp_address_already_on_another_row_is_the_same_citizen(db, app, twilio, fake_engine, fixture_form):
    """A citizen row holding this WhatsApp address but no number (PostgreSQL's one-statement upsert meets the
    wa_id unique key and hands over to the general path): one citizen, the message on it, nothing lost."""
    with db.session() as s:
        s.add(Citizen(wa_id="+919839012345", phone=None, language="en"))
    r = twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "text", Body="hello"))
    assert r.status_code == 200 and "<Message>" in r.get_data(as_text=True)
    with db.session() as s:
        cits = s.scalars(select(Citizen)).all()
        assert len(cits) == 1 and cits[0].wa_id == "+919839012345" and cits[0].last_whatsapp_at is not None
        m = s.scalar(select(Message).where(Message.direction == "in"))
        assert m.citizen_id == cits[0].id and m.status == "received" and m.reply
        assert _count(s, Conversation) == 1


def test_blocked_sender_is_stored_not_engaged(db, app, twilio, fake_engine, fixture_form):
    with db.session() as s:
        s.add(Citizen(phone="+919839012345", blocked=True))
    r = twilio.post("/twilio/sms", fixture_form("sms", "text", Body="register jhansi theft_mobile"))
    assert r.status_code == 200 and BLOCKED["hi"] in r.get_data(as_text=True)
    with db.session() as s:
        m = s.scalar(select(Message))
        assert m.status == "blocked" and m.body == "register jhansi theft_mobile"
        assert _count(s, Complaint) == 0 and _count(s, Conversation) == 0
    # the same number on WhatsApp is the same (blocked) citizen
    r = twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "text"))
    assert BLOCKED["hi"] in r.get_data(as_text=True)


def test_engine_crash_never_answers_5xx(db, app, twilio, fake_engine, fixture_form, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("bug")

    from channels import inbound

    monkeypatch.setattr(inbound, "_engine", boom)
    r = twilio.post("/twilio/sms", fixture_form("sms", "text"))
    assert r.status_code == 200 and SORRY["hi"] in r.get_data(as_text=True)
    with db.session() as s:
        assert s.scalar(select(Message.status)) == "error"


def test_same_phone_on_sms_and_whatsapp_is_one_citizen_one_conversation(db, app, twilio, fake_engine, fixture_form):
    twilio.post("/twilio/sms", fixture_form("sms", "text"))
    twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "text"))
    with db.session() as s:
        [cit] = s.scalars(select(Citizen)).all()
        assert cit.phone == "+919839012345" and cit.wa_id == "+919839012345" and cit.last_whatsapp_at
        [conv] = s.scalars(select(Conversation)).all()
        assert conv.state == {"turns": 2} and conv.channel == "whatsapp"


def test_wa_only_citizen_alert_phone_gets_sms_alerts(db, app, twilio, fake_engine, fixture_form, recorder, drain):
    sid2 = "SM" + "9" * 32
    twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "wa_id_only", Body="phone +919839055555"))
    r = twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "wa_id_only", MessageSid=sid2, SmsSid=sid2,
                                                     Body="register kanpur_nagar theft_other"))
    assert "registered KNP-" in r.get_data(as_text=True)
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c.phone == "+919839055555" and c.chat_address == "whatsapp:IN.1349120865530274191"
        assert s.scalar(select(Citizen.sms_ok)) is True


def test_a_text_turn_on_postgres_is_two_statements(db, app, twilio, fixture_form):
    """The hot path: a text message from a known citizen costs two statements on PostgreSQL (find-or-create
    and lock, then store-and-update); SQLite takes the general path."""
    from sqlalchemy import event

    if db.backend == "sqlite":
        pytest.skip("PostgreSQL's fast path")
    twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "text", Body="namaste"))
    seen: list[str] = []

    def log(conn, cursor, statement, *a):
        seen.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", log)
    try:
        r = twilio.post("/twilio/whatsapp", fixture_form("whatsapp", "text", Body="mera phone chori ho gaya",
                                                         MessageSid="SM" + "7" * 32))
    finally:
        event.remove(db.engine, "before_cursor_execute", log)
    assert r.status_code == 200 and "<Message>" in r.get_data(as_text=True)
    assert [s for s in seen if s not in ("SELECT", "BEGIN", "COMMIT")] == ["WITH", "WITH"], seen
    assert len(seen) <= 3, seen  # the two, and the pool's ping at most
    with db.session() as s:
        assert _count(s, Message, Message.direction == "in") == 2


def test_spool_replays_a_citizens_messages_in_the_order_they_came(db, app, fake_engine, fixture_form, spool_dir):
    """The engine must see the answers in the order they were written, not in the order of their sids."""
    from app import create_app
    from tests.conftest import SignedClient

    sids = ["SM" + c * 32 for c in "c1a"]  # arrival order differs from the sids' alphabetical order
    bodies = ["mera phone chori ho gaya", "kal shaam", "Rawatpur bus stand"]
    good = (db.engine, db._factory, db.url)
    try:
        down = SignedClient(create_app(_dead_url(db), check_env=False, TESTING=True).test_client())
        for sid, body in zip(sids, bodies, strict=True):
            form = fixture_form("sms", "text", MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, Body=body)
            assert down.post("/twilio/sms", form).status_code == 200
            time.sleep(0.01)
    finally:
        db.engine, db._factory, db.url = good
    assert spool.replay() == 3
    with db.session() as s:
        stored = s.scalars(select(Message.body).where(Message.direction == "in").order_by(Message.id)).all()
    assert stored == bodies


def test_spooled_message_answered_live_first_gets_no_second_reply(db, app, fake_engine, fixture_form, spool_dir):
    """Twilio's retry reached us after the database came back and was answered in TwiML: the replay of the
    spooled copy must not send the same reply again as a follow-up."""
    from app import create_app
    from tests.conftest import SignedClient

    form = fixture_form("sms", "text")
    good = (db.engine, db._factory, db.url)
    try:
        down = SignedClient(create_app(_dead_url(db), check_env=False, TESTING=True).test_client())
        assert SORRY["hi"] in down.post("/twilio/sms", form).get_data(as_text=True)
    finally:
        db.engine, db._factory, db.url = good
    live = SignedClient(app.test_client()).post("/twilio/sms", form).get_data(as_text=True)
    assert "echo[text]: mera phone chori ho gaya" in live
    assert spool.replay() == 1
    assert not list(spool_dir.glob("*.json"))
    with db.session() as s:
        assert _count(s, Message, Message.direction == "in") == 1
        assert _count(s, Outbox, Outbox.key.like("reply:%")) == 0
