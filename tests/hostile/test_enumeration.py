"""Ticket-reference enumeration (tests/corpus/enumeration.yaml): asking about someone else's reference
gets exactly the answer a well-formed nonexistent reference gets, and leaks nothing."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import select

from tests.hostile.corpus import entries, ids
from tests.hostile.test_text import Env
from tickets.actions import REF_ALPHABET

VICTIM, ATTACKER = "+919839077777", "+919839088888"
ENUM = entries("enumeration")


def _fake_ref(real: str) -> str:
    while True:
        ref = real[:4] + "".join(secrets.choice(REF_ALPHABET) for _ in range(6))
        if ref != real:
            return ref


def _blank(text: str, *refs: str) -> str:
    for r in refs:
        text = text.replace(r, "REF").replace(r.lower(), "REF")
    text = re.sub(r'name="csrf" value="[^"]+"', "", text)
    return text


def _ask_sms(env: Env, via: str, text: str, n: int) -> str:
    from tests.conftest import load_fixture

    sid = f"SM{n:04d}" + secrets.token_hex(15)
    if via == "sms":
        form = load_fixture("sms", "text", From=ATTACKER, Body=text, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    else:
        form = load_fixture("whatsapp", "text", From=f"whatsapp:{ATTACKER}", Body=text, MessageSid=sid, SmsSid=sid,
                            SmsMessageSid=sid)
    r = env.webhook(f"/twilio/{via}", {k: v for k, v in form.items() if k != "Body"} | {"Body": ""}, "Body", text,
                    None)
    assert r.status_code == 200
    return r.get_data(as_text=True)


@pytest.mark.parametrize("entry", ENUM, ids=ids(ENUM))
def test_others_ref_is_answered_like_a_nonexistent_one(db, app, client, recorder, drain, monkeypatch,
                                                       no_errors_logged, entry):
    from tests.console.conftest import register

    env = Env(db, app, client, recorder, drain, monkeypatch)
    _, real = register(db, phone=VICTIM, complainant_name="Sita Devi", place="12 Civil Lines")
    drain()
    fake = _fake_ref(real)
    via = entry["via"]
    secrets_of_victim = (VICTIM, VICTIM[3:], "Sita Devi", "12 Civil Lines")
    if via in ("sms", "whatsapp"):
        # Fresh conversations each time (state could differ after a first question): two attackers.
        a = _ask_sms(env, via, entry["ask"].format(ref=real), 1)
        monkeypatch.setattr("tests.hostile.test_enumeration.ATTACKER", "+919839099999")
        b = _ask_sms(env, via, entry["ask"].format(ref=fake), 2)
        assert _blank(a, real, fake) == _blank(b, real, fake), (a, b)
        outs = [a]
    elif via == "track":
        from tests.web.helpers import get_csrf

        outs = []
        for ref in (real, fake):
            c = app.test_client()
            tok = get_csrf(c, "/track")
            r = c.post("/track", data={"csrf": tok, "step": "start", "phone": ATTACKER,
                                       "ref": ref.lower() if entry.get("lower") else ref})
            outs.append((r.status_code, _blank(r.get_data(as_text=True), real, fake)))
        assert outs[0] == outs[1]
        drain()
        assert not recorder.to(ATTACKER) and not recorder.to(VICTIM)[1:], "a code was sent for someone else's ref"
        outs = [o[1] for o in outs]
    elif via == "api":
        from models import Officer
        from tickets.seed import token_hash

        with db.session() as s:
            from tickets.seed import seed

            seed(s)
            o = s.scalar(select(Officer).where(Officer.username.like("sho.%jhs-kotwali%")))
            o = o or s.scalar(select(Officer).where(Officer.username.like("%jhs-kotwali")))
            from tickets.scope import active_postings

            active_postings(s, o.id)[0].api_token_hash = token_hash("bht_attacker_token_000000")
        h = {"Authorization": "Bearer bht_attacker_token_000000"}
        a, b = client.get(f"/api/v1/tickets/{real}", headers=h), client.get(f"/api/v1/tickets/{fake}", headers=h)
        assert (a.status_code, a.get_json()) == (b.status_code, b.get_json()) and a.status_code == 404
        outs = [a.get_data(as_text=True)]
    elif via == "console":
        from console.auth import set_credentials
        from models import Officer
        from tests.console.conftest import PASSWORD, Cred, sign_in
        from tickets.seed import seed

        with db.session() as s:
            seed(s)
            o = s.scalar(select(Officer).where(Officer.username.like("%jhs-kotwali")))
            cred = Cred(o.username, o.id, 0, set_credentials(o, PASSWORD))
        c = app.test_client()
        assert sign_in(c, cred).status_code == 302
        a, b = c.get(f"/console/t/{real}"), c.get(f"/console/t/{fake}")
        assert a.status_code == b.status_code == 404
        assert _blank(a.get_data(as_text=True), real, fake) == _blank(b.get_data(as_text=True), real, fake)
        outs = [a.get_data(as_text=True)]
    else:  # Open311 without an api_key: refs are public by the spec, personal data never is
        q = f"/open311/v2/requests/{real}.json" if via == "open311" else \
            f"/open311/v2/requests.json?service_request_id={real},{fake}"
        r = client.get(q)
        assert r.status_code == 200
        outs = [r.get_data(as_text=True)]
        nf = client.get(f"/open311/v2/requests/{fake}.json")
        assert nf.status_code == 404 and real not in nf.get_data(as_text=True)
    for out in outs:
        for secret in secrets_of_victim:
            assert secret not in out, f"leaked {secret!r}"
