"""Property-based tests (hypothesis): the webhook parsers and the dialogue engine on any input.

- ``channels.sms.parse`` / ``channels.whatsapp.parse``: any dict of strings → an Incoming or BadRequest.
- ``bot.nlu.extract(text, at)``: any text → an NLUResult.
- ``bot.engine.handle``: any text (and any kind/button) → a Turn with at least one non-empty reply, and
  the engine's own catch-all never fires (an exception inside the dialogue is a bug even when the
  citizen is answered politely).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels import sms, whatsapp
from channels.base import BadRequest, Incoming

KEYS = ["MessageSid", "SmsSid", "SmsMessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
        "MediaUrl1", "MessageType", "Latitude", "Longitude", "Label", "Address", "ButtonPayload", "ButtonText",
        "ProfileName", "WaId"]
text = st.text(st.characters(codec="utf-8"), max_size=300)
sid = st.one_of(text, st.from_regex(r"\A(SM|MM)[0-9a-f]{32}\Z"))
frm = st.one_of(text, st.from_regex(r"\A(whatsapp:)?\+?[0-9]{6,15}\Z"), st.just("whatsapp:+919839012345"))
numeric = st.one_of(text, st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=True).map(str))
form = st.fixed_dictionaries({}, optional={"MessageSid": sid, "From": frm, "NumMedia": numeric,
                                           "Latitude": numeric, "Longitude": numeric}) | st.dictionaries(
    st.sampled_from(KEYS) | text, text, max_size=12)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(form, form)
def test_parsers_return_incoming_or_bad_request(a, b):
    f = {**a, **b}
    for parse in (sms.parse, whatsapp.parse):
        try:
            out = parse(f)
        except BadRequest:
            continue
        assert isinstance(out, Incoming) and out.sid and out.channel


AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
hostile_text = st.one_of(
    text,
    st.text(st.sampled_from(list("मेरा फोन चोरी हो गया 0123456789 KNP- \u202e\u200d\u0301\0\n<>'\";")), max_size=400),
    st.from_regex(r"\A(status|feedback|[0-9]|KNP-[A-Z0-9]{6}|help|stop|cancel|हाँ|नहीं)\Z"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_text)
def test_nlu_extract_never_raises(t):
    from bot.nlu import extract

    r = extract(t, AT)
    assert r is not None


class _NoTickets:
    def my_tickets(self):
        return []

    def find_ticket(self, ref):
        return None

    def give_feedback(self, ref, rating, comment, level):
        return "not_found"


@pytest.fixture(scope="module")
def engine_watch():
    """Record exceptions inside the engine's dispatch (its catch-all would otherwise hide them)."""
    from bot import engine

    seen: list[BaseException] = []
    real = engine._dispatch

    def watched(ctx):
        try:
            return real(ctx)
        except Exception as exc:
            seen.append(exc)
            raise

    mp = pytest.MonkeyPatch()
    mp.setattr(engine, "_dispatch", watched)
    yield engine, seen
    mp.undo()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(["text", "button", "transcript"]), hostile_text), min_size=1, max_size=6),
       st.sampled_from(["sms", "whatsapp", "voice", "web"]))
def test_engine_always_answers(engine_watch, turns, channel):
    from bot.types import Inbound

    engine, seen = engine_watch
    seen.clear()
    state: dict = {}
    for i, (kind, t) in enumerate(turns):
        msg = Inbound(channel=channel, at=AT + timedelta(seconds=i), text=t, kind=kind,
                      button=t[:40] if kind == "button" else None, phone="+919839012345",
                      confidence=0.5 if kind == "transcript" else None)
        turn = engine.handle(msg, state, _NoTickets())
        assert turn.replies and any(r.text.strip() for r in turn.replies), (kind, t)
        state = turn.state
    assert not seen, f"the engine hid an exception: {seen[0]!r}"
