"""A registered ticket is routed by a real rq worker through the outbox and the citizen's SMS
reaches the Twilio recorder exactly once."""

from sqlalchemy import func, select

from bot.types import ComplaintDraft
from models import Complaint, Event, Message, Outbox
from tickets.actions import register_complaint

PHONE = "+919839012345"


def _register(db, **kw):
    draft = ComplaintDraft(description="mera phone chori ho gaya", district="jhansi", category="theft_mobile", **kw)
    with db.session() as s:
        c = register_complaint(s, draft, channel="sms", phone=PHONE)
        return c.id, c.ref


def test_register_route_and_alert(db, app, recorder, drain):
    cid, ref = _register(db)
    assert ref.startswith("JHS-") and len(ref) == 10
    drain()
    with db.session() as s:
        c = s.get(Complaint, cid)
        assert c.status == "routed" and c.station.code == "JHS-KOTWALI"
        assert c.due_at is not None and (c.due_at - c.registered_at).total_seconds() == 24 * 3600
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.complaint_id == cid).order_by(Event.id))]
        assert kinds[:2] == ["registered", "routed"]
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status != "done")) == 0
        out = s.scalars(select(Message).where(Message.direction == "out", Message.to_addr == PHONE)).all()
        assert len(out) == 1 and out[0].status == "sent" and out[0].sid.startswith("SM")
    to_citizen = recorder.to(PHONE)
    assert len(to_citizen) == 1
    assert ref in to_citizen[0]["Body"] and "कोतवाली" in to_citizen[0]["Body"]
    assert to_citizen[0]["StatusCallback"].startswith("https://bharosa.test/twilio/status?outbox=")
    # the station hears of it too, on its own phone
    assert any(ref in m["Body"] for m in recorder.messages if m["To"] != PHONE)


def test_jobs_are_idempotent_when_delivered_twice(db, app, recorder, drain):
    from tasks.jobs import run_outbox

    cid, ref = _register(db)
    drain()
    with db.session() as s:
        ids = [o.id for o in s.scalars(select(Outbox))]
    for oid in ids:  # rq delivers at least once: run every job again
        assert run_outbox(oid) == {"done": 1}
    assert len(recorder.to(PHONE)) == 1


def test_permanent_twilio_error_is_recorded_not_retried(db, app, recorder, drain):
    recorder.fail_to[PHONE] = (400, 21610)
    cid, ref = _register(db)
    drain()
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.kind == "send")).all()
        failed = [o for o in rows if o.status == "failed"]
        assert len(failed) == 1 and "21610" in failed[0].last_error
        ev = s.scalars(select(Event).where(Event.complaint_id == cid, Event.kind == "send_failed")).all()
        assert len(ev) == 1 and ev[0].data["code"] == 21610
    assert [r for r in recorder.requests if r.get("code") == 21610]


def test_status_callback_updates_delivery(db, app, recorder, drain, twilio):
    cid, ref = _register(db)
    drain()
    with db.session() as s:
        m = s.scalar(select(Message).where(Message.to_addr == PHONE))
        sid, oid = m.sid, m.outbox_id
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 30 + "01"}
    assert twilio.post(f"/twilio/status?outbox={oid}", form).status_code == 204
    late = dict(form, MessageStatus="sent")  # arrives after 'delivered': must not step back
    assert twilio.post(f"/twilio/status?outbox={oid}", late).status_code == 204
    with db.session() as s:
        assert s.scalar(select(Message.status).where(Message.sid == sid)) == "delivered"
    assert twilio.post(f"/twilio/status?outbox={oid}", form, signature="bad").status_code == 403
    assert twilio.post("/twilio/status?outbox=x", form).status_code == 400


def test_many_tickets_route_in_batches_once_each(db, app, recorder, drain):
    from tasks.jobs import JOB_SIZE

    ids = [_register(db)[0] for _ in range(JOB_SIZE["route"] + 7)]
    drain()
    with db.session() as s:
        routed = s.scalars(select(Event.complaint_id).where(Event.kind == "routed")).all()
        assert sorted(routed) == sorted(ids)
        assert s.scalar(select(func.count()).select_from(Complaint).where(Complaint.station_id.is_(None))) == 0
    assert len(recorder.to(PHONE)) == len(ids)


def test_relay_gives_up_after_max_attempts(db, app):
    from datetime import timedelta

    from models import utcnow
    from tasks import outbox

    with db.session() as s:
        outbox.add(s, "send:stuck", "send", {"text": "x", "to_phone": PHONE})
    with db.session() as s:
        row = s.scalar(select(Outbox).where(Outbox.key == "send:stuck"))
        row.status, row.attempts, row.enqueued_at = "enqueued", outbox.MAX_ATTEMPTS, utcnow() - timedelta(hours=1)
    handed = []
    with db.session() as s:
        assert outbox.relay_once(s, handed.extend, batch=True) == 0
    with db.session() as s:
        row = s.scalar(select(Outbox).where(Outbox.key == "send:stuck"))
        assert row.status == "failed" and "gave up" in row.last_error
    assert handed == []
