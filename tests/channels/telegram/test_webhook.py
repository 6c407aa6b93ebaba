"""Telegram in and out, from the user's side: a signed update in → a reply at the Bot API recorder."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from models import Message, Outbox
from tasks.jobs import run_outbox
from tests.channels.telegram.conftest import CHAT, TOKEN, update


def _messages(db, **where):
    with db.session() as s:
        q = select(Message).where(Message.direction == "in")
        for k, v in where.items():
            q = q.where(getattr(Message, k) == v)
        return s.scalars(q.order_by(Message.id)).all()


def test_a_missing_or_wrong_secret_is_403_and_stores_nothing(db, telegram, fake_engine):
    assert telegram.post(update("text_message"), secret=None).status_code == 403
    assert telegram.post(update("text_message"), secret="wrong").status_code == 403
    assert _messages(db) == []


def test_a_text_is_answered_through_send_message(db, telegram, tg_env, fake_engine, drain):
    r = telegram.post(update("text_message"))
    assert r.status_code == 200
    drain()
    assert [(b["chat_id"], b["text"]) for b in tg_env.sent()] == [(CHAT, "echo[text]: hello")]
    assert all(c["token"] == TOKEN for c in tg_env.calls)
    (m,) = _messages(db)
    assert (m.sid, m.channel, m.from_addr, m.body) == ("tg:734220001", "telegram", f"telegram:{CHAT}", "hello")
    with db.session() as s:
        out = s.scalars(select(Message).where(Message.direction == "out")).one()
        assert (out.channel, out.to_addr, out.status) == ("telegram", f"telegram:{CHAT}", "sent")


def test_a_resent_update_is_stored_and_answered_once(db, telegram, tg_env, fake_engine, drain):
    for _ in range(3):
        assert telegram.post(update("text_message")).status_code == 200
    drain()
    assert len(tg_env.sent()) == 1
    assert len(_messages(db, sid="tg:734220001")) == 1


def test_bad_input_is_200_never_5xx_and_non_messages_are_stored_as_ignored(db, telegram, tg_env, fake_engine,
                                                                           drain, caplog):
    for body in (b"{not json", b"[1, 2]", b'"x"', b"{}", b'{"update_id": "x"}', b"\xff\xfe"):
        assert telegram.post(body).status_code == 200
    for name in ("edited_message", "sticker", "photo", "callback_query", "group_message"):
        assert telegram.post(update(name)).status_code == 200, name
    drain()
    assert tg_env.sent() == []
    ignored = _messages(db, status="ignored")
    assert sorted(m.sid for m in ignored) == [f"tg:73422000{i}" for i in (4, 5, 6, 7, 8)]
    assert "malformed update" in caplog.text


def test_send_errors_are_typed_blocked_is_recorded_and_429_retried(db, telegram, tg_env, fake_engine, drain):
    tg_env.fail_next.append((429, "Too Many Requests: retry after 1"))
    telegram.say("first")
    drain()
    with db.session() as s:  # retryable: back to the queue (rq retries it later), nothing recorded as failed
        row = s.scalars(select(Outbox)).one()
        assert row.status == "enqueued" and "429" in row.last_error
    run_outbox(row.id)  # rq's retry
    assert [c["body"]["text"] for c in tg_env.calls if not c["failed"]] == ["echo[text]: first"]
    tg_env.fail_next.append((403, "Forbidden: bot was blocked by the user"))
    telegram.say("second")
    drain()
    with db.session() as s:
        failed = s.scalars(select(Message).where(Message.direction == "out", Message.status == "failed")).one()
        assert failed.error_code == "403"
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "failed")) == 1


def test_the_bot_token_never_reaches_a_log_line(db, telegram, tg_env, fake_engine, drain, caplog, settings_env):
    caplog.set_level(logging.DEBUG)
    settings_env(TELEGRAM_API_BASE_URL="http://127.0.0.1:9")  # nothing listens: a network error
    telegram.say("hello")
    drain(max_rounds=2)
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    with db.session() as s:
        assert all(TOKEN.split(":")[1] not in (o.last_error or "") for o in s.scalars(select(Outbox)))
