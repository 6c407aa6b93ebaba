"""Try Bharosa without Twilio (dev mode only): a terminal chat and a phone-like web page.

Both go through the real webhooks with a real ``X-Twilio-Signature`` (the dev token, or
``TWILIO_AUTH_TOKEN`` when set), so what you see is exactly what Twilio would get.

``python app.py chat [--channel whatsapp|sms] [--from +919839012345] [--url http://127.0.0.1:5000]``
    type a message and press Enter; ``/loc 26.46 80.33`` sends a location pin, ``/media URL [type]`` an
    attachment, ``/quit`` ends.
``GET /simulator``
    a phone in the browser; it also shows the alerts the worker records (dev mode does not send them).

Outside ``BHAROSA_ENV=dev`` the page answers 404 and the chat refuses to start. In dev mode the page answers
only callers on loopback (403 otherwise): it has no sign-in.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, render_template_string, request
from sqlalchemy import or_, select

from channels import twilio as tw
from zone import settings

bp = Blueprint("simulator", __name__)
HERE = Path(__file__).resolve().parent


def build_form(channel: str, sender: str, text: str = "", *, lat: float | None = None, lon: float | None = None,
               media: list[tuple[str, str]] | None = None, sid: str | None = None,
               profile_name: str | None = None) -> dict[str, str]:
    """A Twilio-format inbound form for one message from ``sender`` (``+91...`` or a WhatsApp id)."""
    sid = sid or "SM" + secrets.token_hex(16)
    s = settings.get()
    to = s.twilio_whatsapp_from if channel == "whatsapp" else s.twilio_sms_from  # whatsapp:+<number> already
    frm = sender
    if channel == "whatsapp":
        frm = sender if sender.startswith("whatsapp:") else f"whatsapp:{sender}"
    form = {"SmsMessageSid": sid, "NumMedia": str(len(media or [])), "SmsSid": sid, "SmsStatus": "received",
            "Body": text, "To": to, "NumSegments": "1", "MessageSid": sid,
            "AccountSid": s.twilio_account_sid or "AC" + "0" * 32, "From": frm,
            "ApiVersion": "2010-04-01"}
    if channel == "whatsapp":
        wa = frm[len("whatsapp:"):]
        form.update({"ProfileName": profile_name or "Simulator", "WaId": wa.lstrip("+"), "MessageType": "text"})
        if lat is not None and lon is not None:
            form.update({"MessageType": "location", "Latitude": str(lat), "Longitude": str(lon)})
    for i, (url, ctype) in enumerate(media or []):
        form[f"MediaUrl{i}"], form[f"MediaContentType{i}"] = url, ctype
    return form


def replies_of(twiml: str) -> list[str]:
    """The <Message> texts of a TwiML answer."""
    try:
        root = ET.fromstring(twiml)  # noqa: S314 - our own server's TwiML
    except ET.ParseError:
        return []
    return [(m.findtext("Body") or m.text or "").strip() for m in root.iter("Message")]


def _signed_post(url: str, sign_url: str, form: dict[str, str]):
    import requests

    sig = tw.sign(sign_url, form, tw.auth_token())
    return requests.post(url, data=form, headers={"X-Twilio-Signature": sig}, timeout=20)


def chat_main(argv: list[str]) -> int:
    """``python app.py chat``: a terminal chat as a citizen through the running server's real webhook."""
    ap = argparse.ArgumentParser(prog="app.py chat", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channel", choices=["whatsapp", "sms"], default="whatsapp")
    ap.add_argument("--from", dest="sender", default="+919839000001",
                    help="a phone number (+91...) or, on WhatsApp, an id without a number")
    ap.add_argument("--url", default=f"http://127.0.0.1:{settings.get().port}",
                    help="the running server (BHAROSA_ENV=dev make run)")
    args = ap.parse_args(argv)
    if not tw.is_dev():
        print("chat: only in development mode (BHAROSA_ENV=dev)", file=sys.stderr)
        return 2
    path = f"/twilio/{args.channel}"
    url = args.url.rstrip("/") + path
    sign_url = (settings.get().public_base_url or args.url).rstrip("/") + path
    print(f"chatting as {args.sender} on {args.channel} with {url}  (/loc LAT LON, /media URL [TYPE], /quit)")
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line.strip() in ("/quit", "/exit"):
            break
        kw: dict = {}
        text = line
        if line.startswith("/loc "):
            try:
                lat, lon = (float(x) for x in line.split()[1:3])
            except ValueError:
                print("usage: /loc 26.46 80.33")
                continue
            kw, text = {"lat": lat, "lon": lon}, ""
        elif line.startswith("/media "):
            bits = line.split()
            kw, text = {"media": [(bits[1], bits[2] if len(bits) > 2 else "image/jpeg")]}, ""
        try:
            resp = _signed_post(url, sign_url, build_form(args.channel, args.sender, text, **kw))
        except OSError as exc:
            print(f"cannot reach {url}: {exc}", file=sys.stderr)
            return 1
        if resp.status_code != 200:
            print(f"[{resp.status_code}] {resp.text.strip()}")
            continue
        for r in replies_of(resp.text):
            print(f"bharosa> {r}")
    return 0


# -- the web page -------------------------------------------------------------------------------

def _dev_only() -> None:
    """404 outside dev mode; 403 for a caller not on this machine (the simulator has no sign-in: it shows
    anyone's conversation and speaks as any number, so dev mode binds 127.0.0.1 and this is the second line)."""
    if not tw.is_dev():
        abort(404)
    if not tw.from_loopback(request):
        abort(403, description=f"the simulator answers only on loopback (127.0.0.1 or ::1), from this machine; "
                               f"this request came from {request.remote_addr or 'an unknown address'}")


@bp.get("/simulator")
def page():
    """A phone in the browser (dev mode only)."""
    _dev_only()
    return render_template_string((HERE / "templates" / "simulator.html").read_text(encoding="utf-8"))


@bp.post("/simulator/send")
def send():
    """Post one message through the real webhook, signed like Twilio; returns the replies."""
    _dev_only()
    try:
        data = request.get_json(silent=True) or {}
    except RecursionError:
        abort(400, "the body must be a JSON object")
    if not isinstance(data, dict):
        abort(400, "the body must be a JSON object")
    channel = data.get("channel") if data.get("channel") in ("whatsapp", "sms") else "whatsapp"
    sender = str(data.get("from") or "+919839000001")[:64]
    kw: dict = {}
    if data.get("lat") not in (None, "") and data.get("lon") not in (None, ""):
        try:
            kw = {"lat": float(data["lat"]), "lon": float(data["lon"])}
        except (TypeError, ValueError):
            return jsonify({"error": "lat/lon must be numbers"}), 400
    form = build_form(channel, sender, str(data.get("text") or "")[:2000], **kw)
    path = f"/twilio/{channel}"
    base = request.host_url.rstrip("/")
    sign_url = (settings.get().public_base_url or base).rstrip("/") + path
    sig = tw.sign(sign_url, form, tw.auth_token())
    resp = current_app.test_client().post(path, data=form, headers={"X-Twilio-Signature": sig}, base_url=base)
    body = resp.get_data(as_text=True)
    return jsonify({"status": resp.status_code, "replies": replies_of(body) if resp.status_code == 200 else [body]})


@bp.get("/simulator/messages")
def messages():
    """Every message to and from one simulated sender, oldest first (alerts included)."""
    _dev_only()
    from models import Message, db

    sender = (request.args.get("from") or "")[:64]
    if not sender:
        return jsonify([])
    bare = sender.removeprefix("whatsapp:")
    addrs = {bare, f"whatsapp:{bare}"}
    with db.session() as s:
        rows = s.scalars(select(Message).where(or_(Message.from_addr.in_(addrs), Message.to_addr.in_(addrs)))
                         .order_by(Message.created_at, Message.id).limit(300)).all()
        out = [{"dir": m.direction, "channel": m.channel, "body": m.body, "status": m.status,
                "reply": [t for t in (m.reply or "").split("\x1e") if t], "at": m.created_at.isoformat()}
               for m in rows]
    return jsonify(out)
