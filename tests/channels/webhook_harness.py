"""The case harness of the Twilio channels: a fixture through the real signed webhook, and what must come out.

Each channel's table lives with the channel (tests/channels/<name>/test_webhook_cases.py). A case names a
real-format Twilio form body (tests/channels/<channel>/fixtures/<name>.txt), how it is signed, and what must
come out: the status code, what the TwiML says, and the rows in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from channels.twilio import sign
from models import Attachment, Citizen, Conversation, Message, Outbox
from tests.conftest import CHANNEL_TESTS, PUBLIC, TOKEN, load_fixture


@dataclass
class Case:
    id: str
    channel: str  # fixture folder
    fixture: str
    path: str = ""  # default /twilio/<channel>
    override: dict = field(default_factory=dict)
    drop: tuple = ()  # form keys to remove
    signing: str = "ok"  # ok, missing, tampered, wrong_url, wrong_token, forwarded, port443
    headers: dict = field(default_factory=dict)
    public_base: bool = True  # PUBLIC_BASE_URL set (else the forwarded headers decide)
    status: int = 200
    twiml: tuple = ()  # substrings the answer must contain
    messages: int | None = None  # inbound Message rows with this sid
    attachments: int = 0
    outbox: dict = field(default_factory=dict)  # kind -> count
    citizen: dict | None = None  # expected Citizen columns
    setup_out: str | None = None  # status cases: an outbound message with this status exists first
    out_status: str | None = None  # ... and must end with this status


def _post(client, case: Case, form: dict, monkeypatch):
    from urllib.parse import urlencode

    path = case.path or f"/twilio/{case.channel}"
    if not case.public_base:
        from zone import settings

        monkeypatch.delenv("PUBLIC_BASE_URL")
        settings.load()
    sig_path = path.split("?")[0] if case.signing == "wrong_url" and "?" in path else path
    url = PUBLIC + sig_path
    signed = dict(form)
    sig: str | None
    if case.signing == "missing":
        sig = None
    elif case.signing == "tampered":
        sig = sign(url, signed, TOKEN)
        form = dict(form, Body=(form.get("Body") or "") + "!")
    elif case.signing == "wrong_url":
        sig = sign(url if "?" in path else "https://evil.example" + path, signed, TOKEN)
    elif case.signing == "wrong_token":
        sig = sign(url, signed, "another-accounts-token")
    elif case.signing == "forwarded":
        sig = sign("https://bharosa.example.in" + path, signed, TOKEN)
    elif case.signing == "port443":
        sig = sign("https://bharosa.test:443" + path, signed, TOKEN)
    else:
        sig = sign(url, signed, TOKEN)
    headers = dict(case.headers)
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    return client.post(path, data=urlencode(form), headers=headers, content_type="application/x-www-form-urlencoded")


def check(case: Case, db, client, spool_dir, monkeypatch) -> None:
    """Post the case's fixture as Twilio would and check the answer and the rows it left."""
    form = load_fixture(case.channel, case.fixture, **case.override)
    for k in case.drop:
        form.pop(k, None)
    sid = form.get("MessageSid")
    if case.setup_out:
        with db.session() as s:
            s.add(Message(sid=sid, direction="out", channel=case.channel, to_addr=form.get("To"), body="x",
                          status=case.setup_out))
    resp = _post(client, case, form, monkeypatch)
    body = resp.get_data(as_text=True)
    assert resp.status_code == case.status, body
    for text in case.twiml:
        assert text in body
    if case.status == 200:
        assert resp.mimetype == "application/xml" and body.startswith("<?xml")
    with db.session() as s:
        if case.messages is not None:
            n = s.scalar(select(func.count()).select_from(Message).where(Message.sid == sid, Message.direction == "in"))
            assert n == case.messages
        atts = s.scalar(select(func.count()).select_from(Attachment))
        assert atts == case.attachments
        kinds = dict(s.execute(select(Outbox.kind, func.count()).group_by(Outbox.kind)).all())
        for kind, n in case.outbox.items():
            assert kinds.get(kind, 0) == n, kinds
        if not case.outbox.get("route"):
            assert "route" not in kinds
        if case.citizen is not None:
            cit = s.scalar(select(Citizen))
            for k, v in case.citizen.items():
                assert getattr(cit, k) == v, k
            assert s.scalar(select(func.count()).select_from(Conversation)) == 1
        if case.out_status:
            assert s.scalar(select(Message.status).where(Message.sid == sid)) == case.out_status
    assert not list(spool_dir.glob("*.json")) if spool_dir.exists() else True


def fixtures_without_a_case(channel: str, cases: list[Case]) -> list[str]:
    """The channel's fixture files that no case of its table posts."""
    used = {c.fixture for c in cases if c.channel == channel}
    return sorted(f.name for f in (CHANNEL_TESTS / channel / "fixtures").glob("*.txt") if f.stem not in used)
