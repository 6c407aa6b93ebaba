"""Outbound: the route (WhatsApp window, SMS, template), splitting, DLT templates, the sender
interface, typed errors and retries, and the status callback's fallback — checked at the recorder."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from channels import segments
from models import Citizen, Event, Message, Outbox, utcnow
from models.tables import Contact
from tasks import outbox as ob
from tasks.jobs import run_outbox
from zone import get_zone, set_zone

PHONE = "+919839012345"
WA = "+919839012345"


def _add(db, key: str, payload: dict) -> int:
    with db.session() as s:
        ob.add(s, key, "send", payload)
    with db.session() as s:
        return s.scalar(select(Outbox.id).where(Outbox.key == key))


def _citizen(db, *, wa=WA, phone=PHONE, last_wa_hours: float | None = 1):
    with db.session() as s:
        cit = Citizen(phone=phone, wa_id=wa,
                      last_whatsapp_at=None if last_wa_hours is None else utcnow() - timedelta(hours=last_wa_hours))
        s.add(cit)
        s.flush()
        s.add_all([Contact(citizen_id=cit.id, scheme=sch, path=p)
                   for sch, p in (("whatsapp", wa), ("tel", phone)) if p])


# -- segments and splitting --------------------------------------------------------------------

@pytest.mark.parametrize("text,enc,n", [
    ("a" * 160, "gsm7", 1), ("a" * 161, "gsm7", 2), ("a" * 306, "gsm7", 2), ("a" * 307, "gsm7", 3),
    ("[" * 80, "gsm7", 1), ("[" * 81, "gsm7", 2),  # extension characters take two septets
    ("क" * 70, "ucs2", 1), ("क" * 71, "ucs2", 2), ("क" * 134, "ucs2", 2), ("क" * 135, "ucs2", 3),
    ("a" * 159 + "क", "ucs2", 3),  # one Devanagari letter turns the whole text into UCS-2
    ("😀" * 35, "ucs2", 1), ("😀" * 36, "ucs2", 2),  # outside the BMP: two UTF-16 units each
])
def test_segment_counting(text, enc, n):
    assert segments.segments(text) == (enc, n)


def test_split_on_word_boundaries_hindi_and_english():
    hindi = " ".join(["मेरा मोबाइल कल शाम रावतपुर बस स्टैंड पर चोरी हो गया"] * 40)
    parts = segments.split_sms(hindi)
    assert len(parts) > 1
    assert " ".join(parts) == hindi  # nothing lost, words whole
    for p in parts:
        assert len(p) <= 1600 and segments.segments(p)[1] <= segments.SMS_MAX_SEGMENTS
        assert segments.segments(p)[0] == "ucs2"
    english = "word " * 600
    eparts = segments.split_sms(english)
    assert all(segments.segments(p)[0] == "gsm7" and len(p) <= 1600 for p in eparts)
    assert " ".join(eparts) == english.strip()
    wparts = segments.split_whatsapp("शब्द " * 1000)
    assert all(len(p) <= 1600 for p in wparts) and len(wparts) == 4
    assert segments.split_sms("x" * 2000, max_segments=100) == ["x" * 1600, "x" * 400]  # one huge word is cut


def test_long_sms_reply_goes_out_in_parts(db, app, recorder, drain):
    text = " ".join(["आपकी शिकायत के बारे में जानकारी"] * 60)
    _add(db, "long:1", {"to_phone": PHONE, "to_chat": None, "text": text, "template": None, "lang": "hi"})
    drain()
    got = recorder.to(PHONE)
    assert len(got) > 1 and " ".join(m["Body"] for m in got) == text
    assert all(segments.segments(m["Body"])[1] <= 10 for m in got)
    assert all("part=" in m["StatusCallback"] and f"parts={len(got)}" in m["StatusCallback"] for m in got)
    with db.session() as s:
        rows = s.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)).all()
        assert [r.payload["part"] for r in rows] == list(range(len(got)))
        assert s.scalar(select(Outbox.status)) == "done"


def test_retry_after_a_failed_part_sends_only_the_rest(db, app, recorder):
    text = " ".join(["word"] * 500)  # 2 parts
    oid = _add(db, "long:2", {"to_phone": PHONE, "to_chat": None, "text": text, "template": None})
    # part 0 goes, part 1 meets a 503: retryable
    orig = recorder.fail_next

    class FailSecond(list):
        calls = 0

        def pop(self, i=0):
            return (503, 20503)

        def __bool__(self):
            FailSecond.calls += 1
            return FailSecond.calls == 2

    recorder.fail_next = FailSecond()
    try:
        with pytest.raises(Exception) as exc:
            run_outbox(oid)
        assert getattr(exc.value, "retryable", False) is True
    finally:
        recorder.fail_next = orig
    with db.session() as s:
        row = s.get(Outbox, oid)
        assert row.status == "enqueued" and "20503" in row.last_error
    assert len(recorder.to(PHONE)) == 1
    assert run_outbox(oid) == {"done": 1}
    got = recorder.to(PHONE)
    assert len(got) == 2 and " ".join(m["Body"] for m in got) == text
    with db.session() as s:  # Twilio said no, so nothing was in doubt: not a resend_unknown
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "resend_unknown")) == 0


def test_retryable_error_uses_rq_retry(db, app, recorder, redis_conn):
    from tasks.jobs import RETRY, enqueue_rows
    from tasks.queue import queues

    oid = _add(db, "r:1", {"to_phone": PHONE, "to_chat": None, "text": "hello", "template": None})
    recorder.fail_next.append((500, 20500))
    with pytest.raises(Exception) as exc:
        run_outbox(oid)
    assert exc.value.retryable and exc.value.code == 20500
    with db.session() as s:
        row = s.get(Outbox, oid)
        enqueue_rows(queues(redis_conn), [row])
    job = queues(redis_conn)["default"].jobs[0]
    assert job.retries_left == RETRY.max and job.retry_intervals == RETRY.intervals
    assert run_outbox(oid) == {"done": 1} and len(recorder.to(PHONE)) == 1


@pytest.mark.parametrize("code,status", [(21610, 400), (21211, 400), (63016, 400)])
def test_permanent_error_is_recorded_not_retried(db, app, recorder, code, status):
    recorder.fail_to[PHONE] = (status, code)
    oid = _add(db, f"p:{code}", {"to_phone": PHONE, "to_chat": None, "text": "hello", "template": None})
    assert run_outbox(oid) == {"failed": 1}  # handled: recorded as failed, not raised
    with db.session() as s:
        row = s.get(Outbox, oid)
        assert row.status == "failed" and str(code) in row.last_error
        m = s.scalar(select(Message).where(Message.outbox_id == oid))
        assert m.status == "failed" and m.error_code == str(code)
    assert run_outbox(oid) == {"failed": 1}
    assert len([r for r in recorder.requests if r.get("code") == code]) == 1


# -- DLT: every SMS text the system can produce ------------------------------------------------

SAMPLE = {"ref": "KNP-7F3K9Q", "station": "कोतवाली", "due": "22/11 18:30", "officer": "उप निरीक्षक राम सिंह",
          "phone": "+919839000111", "outcome": "समाधान हो गया", "rank": "पुलिस उपायुक्त", "category": "मोबाइल चोरी",
          "note": "गोपनीय। ", "district": "कानपुर नगर", "code": "482913", "rating": "4", "by": "23/11 10:00",
          "menu": "1 चोरी/गुम, 2 महिला/बच्चे, 3 घरेलू, 4 ज़मीन/पड़ोसी, 5 ऑनलाइन ठगी, 6 धमकी, 7 शोर/उपद्रव, 8 यातायात, "
                  "9 पुलिस, 0 अन्य"}


@pytest.mark.parametrize("name", sorted(get_zone().templates))
@pytest.mark.parametrize("lang", ["hi", "en"])
def test_every_sms_template_matches_its_dlt_template(db, app, recorder, drain, name, lang):
    tpl = get_zone().templates[name]
    names = set(re.findall(r"\{([a-z_]+)\}", tpl.text("hi") + tpl.text("en")))
    values = {k: SAMPLE[k] for k in names}
    _add(db, f"dlt:{name}:{lang}", {"to_phone": PHONE, "to_chat": None, "template": name, "lang": lang,
                                    "values": values})
    drain()
    got = recorder.to(PHONE)
    assert len(got) == 1, f"{name}/{lang} was not sent"
    assert tpl.pattern(lang).match(got[0]["Body"]), got[0]["Body"]
    assert segments.segments(got[0]["Body"])[1] <= segments.SMS_MAX_SEGMENTS
    with db.session() as s:
        assert s.scalar(select(Message.payload)).get("dlt_template_id") == tpl.dlt_template_id


def test_sms_not_matching_its_template_is_never_sent(db, app, recorder, drain, monkeypatch):
    from channels import outbound

    monkeypatch.setattr(outbound, "render", lambda p: "Bharosa: something else entirely")
    oid = _add(db, "dlt:bad", {"to_phone": PHONE, "to_chat": None, "template": "registered", "lang": "en",
                               "values": SAMPLE})
    drain()
    assert recorder.to(PHONE) == []
    with db.session() as s:
        assert s.get(Outbox, oid).status == "failed"
        assert s.scalar(select(Event.data).where(Event.kind == "send_failed"))["reason"] == "dlt_mismatch"


# -- the sender interface ------------------------------------------------------------------------

def test_state_gateway_replaces_twilio_for_sms(db, app, recorder, drain, settings_env):
    settings_env(BHAROSA_SMS_SENDER="tests.channels.state_gateway:StateGateway")
    from tests.channels.state_gateway import StateGateway

    StateGateway.sent.clear()
    _add(db, "gw:1", {"to_phone": PHONE, "to_chat": None, "template": "otp", "lang": "en", "values": {"code": "1234"}})
    drain()
    assert recorder.messages == []
    assert StateGateway.sent == [(PHONE, "Bharosa: your code is 1234. It is valid for 10 minutes. -UP Police",
                                  get_zone().templates["otp"].dlt_template_id)]
    with db.session() as s:
        assert s.scalar(select(Message.sid)) == "GW000001"


def test_bad_gateway_setting_fails_the_row_clearly(db, app, recorder, drain, settings_env):
    settings_env(BHAROSA_SMS_SENDER="no.such.module:Gateway")
    oid = _add(db, "gw:2", {"to_phone": PHONE, "to_chat": None, "text": "hi", "template": None})
    drain()
    with db.session() as s:
        row = s.get(Outbox, oid)
        assert row.status == "failed" and "BHAROSA_SMS_SENDER" in row.last_error


# -- the WhatsApp 24-hour window ------------------------------------------------------------------

def test_inside_window_whatsapp_free_form(db, app, recorder, drain):
    _citizen(db, last_wa_hours=23)
    _add(db, "w:1", {"to_phone": PHONE, "to_chat": f"whatsapp:{WA}", "template": "registered", "lang": "hi",
                     "values": {"ref": "KNP-AAAAAA", "station": "x", "due": "y"}})
    drain()
    got = recorder.to(PHONE)
    assert len(got) == 1 and got[0]["To"] == f"whatsapp:{WA}" and "KNP-AAAAAA" in got[0]["Body"]


def test_outside_window_goes_by_sms(db, app, recorder, drain):
    _citizen(db, last_wa_hours=25)
    _add(db, "w:2", {"to_phone": PHONE, "to_chat": f"whatsapp:{WA}", "template": "registered", "lang": "hi",
                     "values": {"ref": "KNP-AAAAAA", "station": "x", "due": "y"}})
    drain()
    got = recorder.to(PHONE)
    assert len(got) == 1 and got[0]["To"] == PHONE


@pytest.fixture
def wa_template():
    z = get_zone()
    wts = dict(z.whatsapp_templates)
    wts["registered"] = wts["registered"].model_copy(update={"content_sid": "HX" + "1" * 32})
    set_zone(z.model_copy(update={"whatsapp_templates": wts}))
    yield "HX" + "1" * 32
    set_zone(z)


def test_outside_window_wa_only_citizen_gets_the_approved_template(db, app, recorder, drain, wa_template):
    wa = "IN.1349120865530274191"
    _citizen(db, wa=wa, phone=None, last_wa_hours=30)
    _add(db, "w:3", {"to_phone": None, "to_chat": f"whatsapp:{wa}", "template": "registered", "lang": "hi",
                     "values": {"ref": "KNP-BBBBBB", "station": "Kotwali", "due": "22/11"}})
    drain()
    got = recorder.to(wa)
    assert len(got) == 1 and got[0]["ContentSid"] == wa_template
    assert '"1": "KNP-BBBBBB"' in got[0]["ContentVariables"] and not got[0]["Body"]


def test_whatsapp_63016_falls_back_to_sms(db, app, recorder, drain, twilio, fixture_form):
    _citizen(db, last_wa_hours=1)
    oid = _add(db, "w:4", {"to_phone": PHONE, "to_chat": f"whatsapp:{WA}", "template": "assigned", "lang": "en",
                           "values": {"ref": "KNP-CCCCCC", "officer": "SI Ram Singh", "phone": "+919839000111"}})
    drain()
    first = recorder.to(PHONE)
    assert len(first) == 1 and first[0]["To"].startswith("whatsapp:")
    form = fixture_form("whatsapp", "status_failed_63016", MessageSid=first[0]["sid"], SmsSid=first[0]["sid"])
    assert twilio.post(f"/twilio/status?outbox={oid}", form).status_code == 204
    assert twilio.post(f"/twilio/status?outbox={oid}", form).status_code == 204  # repeated: one fallback
    drain()
    got = recorder.to(PHONE)
    assert len(got) == 2 and got[1]["To"] == PHONE and "KNP-CCCCCC" in got[1]["Body"]
    with db.session() as s:
        assert s.scalar(select(Message.status).where(Message.sid == first[0]["sid"])) == "failed"


def test_lost_answer_window_closed_by_callback(db, app, recorder, twilio):
    """The send window: a row left 'sending' is not sent again when its status callback arrived."""
    oid = _add(db, "win:1", {"to_phone": PHONE, "to_chat": None, "text": "hello", "template": None})
    with db.session() as s:
        s.get(Outbox, oid).status = "sending"  # crashed after Twilio accepted, before the answer was stored
    form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "sent", "AccountSid": "AC" + "0" * 30 + "01"}
    assert twilio.post(f"/twilio/status?outbox={oid}", form).status_code == 204
    assert run_outbox(oid) == {"done": 1}
    assert recorder.to(PHONE) == []
    oid2 = _add(db, "win:2", {"to_phone": PHONE, "to_chat": None, "text": "hello", "template": None})
    with db.session() as s:
        s.get(Outbox, oid2).status = "sending"  # ... and no callback came: sent again, and counted
    assert run_outbox(oid2) == {"done": 1} and len(recorder.to(PHONE)) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "resend_unknown")) == 1


def test_sends_share_a_job_and_a_failure_does_not_stop_the_rest(db, app, recorder, redis_conn, drain):
    """Send rows go to rq in chunks (one job runs many); a retryable failure leaves only that row for a retry."""
    from tasks.jobs import enqueue_rows
    from tasks.queue import queues

    ids = [_add(db, f"chunk:{i}", {"to_phone": f"+91983901234{i}", "to_chat": None, "text": f"hello {i}",
                                    "template": None}) for i in range(3)]
    with db.session() as s:
        enqueue_rows(queues(redis_conn), s.scalars(select(Outbox).order_by(Outbox.id)).all())
    jobs = queues(redis_conn)["default"].jobs
    assert len(jobs) == 1 and jobs[0].args == (ids,)

    recorder.fail_to["+919839012341"] = (503, 20503)
    assert run_outbox(ids) == {"done": 2, "retry": 1}
    with db.session() as s:
        assert [s.get(Outbox, i).status for i in ids] == ["done", "enqueued", "done"]
    del recorder.fail_to["+919839012341"]
    assert run_outbox(ids) == {"done": 3}  # the two sent are not sent again
    for i in range(3):
        assert [m["Body"] for m in recorder.to(f"+91983901234{i}")] == [f"hello {i}"]
    with db.session() as s:
        assert all(s.get(Outbox, i).status == "done" for i in ids)
        assert s.get(Outbox, ids[0]).provider_id  # the provider's id is kept on the row


@pytest.mark.parametrize("raw,expected", [("", 15.0), ("4.5", 4.5), ("abc", 15.0), ("-1", 15.0), ("1e9", 15.0)])
def test_twilio_http_timeout_from_environment(settings_env, caplog, raw, expected):
    """A good value is used; a bad one stops a production start naming it, and in dev mode is warned about, 15 used."""
    from channels.twilio import TwilioSender, http_timeout
    from zone.settings import SettingsError

    bad = raw not in ("", "4.5")
    if bad:
        with pytest.raises(SettingsError, match="TWILIO_HTTP_TIMEOUT"):
            settings_env(TWILIO_HTTP_TIMEOUT=raw)
    settings_env(TWILIO_HTTP_TIMEOUT=raw, BHAROSA_ENV="dev" if bad else None)
    assert http_timeout() == expected
    assert ("TWILIO_HTTP_TIMEOUT" in caplog.text) == bad
    assert TwilioSender("AC" + "0" * 32, "tok", "http://127.0.0.1:9").client.http_client.timeout == expected


@pytest.mark.parametrize("state", ["delivered", "undelivered"])
def test_status_callback_before_the_send_is_recorded_is_not_lost(db, app, recorder, twilio, monkeypatch, state):
    """Twilio's callback can beat its own REST answer to us: the delivery state it reports must stick."""
    from channels import outbound

    oid = _add(db, f"early:{state}", {"to_phone": PHONE, "to_chat": None, "text": "hello", "template": None})
    real = outbound._send_part

    def send_then_callback(*a, **kw):
        sid, status = real(*a, **kw)
        form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": state, "SmsStatus": state, "To": PHONE,
                "From": "+15005550006", "AccountSid": "AC" + "0" * 30 + "01"}
        if state == "undelivered":
            form["ErrorCode"] = "30003"
        assert twilio.post(f"/twilio/status?outbox={oid}", form).status_code == 204
        return sid, status

    monkeypatch.setattr(outbound, "_send_part", send_then_callback)
    assert run_outbox(oid) == {"done": 1}
    [sent] = recorder.to(PHONE)
    with db.session() as s:
        rows = s.scalars(select(Message).where(Message.direction == "out")).all()
        assert len(rows) == 1
        m = rows[0]
        assert (m.sid, m.status, m.outbox_id, m.body, m.to_addr) == (sent["sid"], state, oid, "hello", PHONE)
        assert m.error_code == ("30003" if state == "undelivered" else None)
        assert s.get(Outbox, oid).status == "done"
