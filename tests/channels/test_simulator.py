"""The dev-mode simulators: the terminal chat and the /simulator page, through the real webhooks."""

from __future__ import annotations

import io

from sqlalchemy import select

from channels.simulator import chat_main
from models import Message


def test_simulator_is_refused_outside_dev_mode(client, settings_env):
    settings_env(BHAROSA_ENV=None)
    assert client.get("/simulator").status_code == 404
    assert client.post("/simulator/send", json={"text": "hi"}).status_code == 404
    assert client.get("/simulator/messages?from=%2B919839000001").status_code == 404


def test_chat_is_refused_outside_dev_mode(settings_env, capsys):
    settings_env(BHAROSA_ENV=None)
    assert chat_main([]) == 2
    assert "BHAROSA_ENV=dev" in capsys.readouterr().err


def test_simulator_page_posts_signed_messages(db, client, fake_engine, settings_env):
    settings_env(BHAROSA_ENV="dev")
    page = client.get("/simulator")
    assert page.status_code == 200 and "textContent" in page.get_data(as_text=True)
    r = client.post("/simulator/send", json={"channel": "whatsapp", "from": "+919839000001", "text": "नमस्ते <b>"})
    assert r.status_code == 200 and r.json == {"status": 200, "replies": ["echo[text]: नमस्ते <b>"]}
    pin = {"channel": "whatsapp", "from": "+919839000001", "lat": 26.45, "lon": 80.33}
    r = client.post("/simulator/send", json=pin)
    assert r.json["replies"] == ["loc:26.4500,80.3300"]
    r = client.post("/simulator/send", json={"channel": "sms", "from": "+919839000001", "text": "sms too"})
    assert r.json["replies"] == ["echo[text]: sms too"]
    rows = client.get("/simulator/messages?from=%2B919839000001").json
    assert [m["channel"] for m in rows] == ["whatsapp", "whatsapp", "sms"]
    assert rows[0]["body"] == "नमस्ते <b>" and rows[0]["reply"] == ["echo[text]: नमस्ते <b>"]


def test_terminal_chat_through_the_running_server(db, live_server, fake_engine, monkeypatch, settings_env, capsys):
    settings_env(BHAROSA_ENV="dev")
    monkeypatch.setattr("sys.stdin", io.StringIO("mera phone chori ho gaya\n/loc 26.46 80.33\n/quit\nnot sent\n"))
    assert chat_main(["--channel", "sms", "--from", "+919839000002", "--url", live_server]) == 0
    out = capsys.readouterr().out
    assert "bharosa> echo[text]: mera phone chori ho gaya" in out
    with db.session() as s:
        bodies = s.scalars(select(Message.body).where(Message.from_addr == "+919839000002")).all()
    assert bodies == ["mera phone chori ho gaya", ""]


def test_terminal_chat_is_signed_for_real(db, live_server, fake_engine, monkeypatch, settings_env, capsys):
    """With a different token than the server's, the chat's requests are refused (403)."""
    settings_env(BHAROSA_ENV="dev")
    from channels import twilio as tw

    monkeypatch.setattr(tw, "sign", lambda url, params, token=None: tw.RequestValidator("wrong").compute_signature(
        url, params))
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    chat_main(["--channel", "whatsapp", "--url", live_server])
    assert "[403]" in capsys.readouterr().out
