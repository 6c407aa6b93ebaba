"""Drives full complaint conversations through the real, signed SMS/WhatsApp webhooks over HTTP.

A simulated citizen sends a first message that says what and where, then answers whatever the bot
asks (name, place, time, confirmation) until the bot says the complaint is registered. Transport
errors are retried with the same MessageSid, as Twilio would; the webhook is idempotent on it.
"""

from __future__ import annotations

import random
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode
from xml.etree import ElementTree

import requests

from channels.twilio import sign

FIRST = [
    "mera mobile phone kal shaam Rawatpur bus stand pe chori ho gaya",
    "मेरी बाइक चोरी हो गई है कल्याणपुर से, कानपुर",
    "someone stole my purse at Kakadeo market in Kanpur yesterday evening",
    "jhansi ke navabad me padosi ne zameen par kabza kar liya",
    "my aadhaar card was lost near Civil Lines Etawah today morning",
    "online fraud hua mere account se 20000 kat gaye, Kanpur",
]
ANSWERS = [
    (re.compile(r"नाम|name", re.I), "Ramesh Kumar"),
    (re.compile(r"जिल|district|ज़िला", re.I), "Kanpur Nagar"),
    (re.compile(r"जगह|कहाँ|where|place|location", re.I), "Kakadeo chauraha"),
    (re.compile(r"कब|when|समय|time", re.I), "kal shaam 7 baje"),
    (re.compile(r"क्या हुआ|what happened|बताइए|describe", re.I), "mera phone chori ho gaya"),
    (re.compile(r"नंबर|number|mobile", re.I), "9839012345"),
]
# The apology a webhook gives when it kept the message (database down: spooled) but could not answer.
SAVED = re.compile(r"संदेश सुरक्षित है|message is saved")
DONE = re.compile(r"दर्ज (हो गई|की जा रही)|registered|संदर्भ|Reference|[A-Z]{3}-[A-Z2-9]{6}")


def twiml_texts(xml: str) -> list[str]:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return []
    return ["".join(m.itertext()) for m in root.iter("Message")]


def answer_for(reply: str) -> str:
    """What a cooperative citizen answers to a bot question."""
    m = re.search(r"\n1\.\s*(दर्ज करें|Submit|Register|हाँ|Yes)", reply, re.I)
    if m:
        return "1"
    for rx, ans in ANSWERS:
        if rx.search(reply):
            return ans
    if re.search(r"\n1\.", reply):
        return "1"
    return "छोड़ें"


@dataclass
class Result:
    phone: str
    turns: int = 0
    registered: bool = False
    saved: bool = False  # the final answer was kept for later (spooled); the complaint appears on replay
    interrupted: bool = False  # an earlier answer was spooled: the citizen waits, as a real one would
    spooled_sid: str | None = None  # the message that was kept for later: it must be in the database
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    transcript: list[tuple[str, str]] = field(default_factory=list)


class Citizen:
    """One simulated sender on one channel."""

    def __init__(self, base_url: str, token: str, phone: str, channel: str = "sms",
                 public_base: str = "https://bharosa.test", session: requests.Session | None = None) -> None:
        self.base, self.token, self.phone, self.channel = base_url.rstrip("/"), token, phone, channel
        self.public = public_base.rstrip("/")
        self.http = session or requests.Session()

    def form(self, body: str) -> dict[str, str]:
        sid = "SM" + secrets.token_hex(16)
        frm = f"whatsapp:{self.phone}" if self.channel == "whatsapp" else self.phone
        f = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "0" * 30 + "01", "From": frm,
             "To": "whatsapp:+14155238886" if self.channel == "whatsapp" else "+15005550006", "Body": body,
             "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01", "SmsStatus": "received"}
        if self.channel == "whatsapp":
            f.update(WaId=self.phone.lstrip("+"), ProfileName="Citizen", MessageType="text")
        return f

    def send(self, body: str, retries: int = 120) -> tuple[list[str], float]:
        texts, dt, _sid = self.send_sid(body, retries)
        return texts, dt

    def send_sid(self, body: str, retries: int = 120) -> tuple[list[str], float, str]:
        """Post one message (retrying transport errors with the same sid); returns (texts, latency)."""
        path = f"/twilio/{self.channel}"
        form = self.form(body)
        data = urlencode(form)
        headers = {"X-Twilio-Signature": sign(self.public + path, form, self.token),
                   "Content-Type": "application/x-www-form-urlencoded"}
        last = None
        for _ in range(retries):
            t0 = time.perf_counter()
            try:
                r = self.http.post(self.base + path, data=data, headers=headers, timeout=15)
                if r.status_code == 200:
                    return twiml_texts(r.text), time.perf_counter() - t0, form["MessageSid"]
                last = f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.5)
        raise RuntimeError(f"{self.phone}: gave up on {body!r}: {last}")

    def complain(self, first: str | None = None, max_turns: int = 12, rng: random.Random | None = None) -> Result:
        """Hold a whole complaint conversation; returns how it went."""
        rng = rng or random.Random()
        res = Result(self.phone)
        text = first or rng.choice(FIRST)
        for _ in range(max_turns):
            texts, lat, sid = self.send_sid(text)
            res.turns += 1
            res.latencies.append(lat)
            reply = "\n".join(texts)
            res.transcript.append((text, reply))
            if DONE.search(reply) and res.turns > 1:
                res.registered = True
                return res
            if SAVED.search(reply):
                # The message was kept for later (spooled). Its reply comes as a follow-up message; a
                # citizen waits for it rather than saying the same thing again.
                res.spooled_sid = sid
                if text == "1":  # the confirmation was kept: the spool replay registers it
                    res.saved = True
                else:
                    res.interrupted = True
                return res
            text = answer_for(reply)
        return res
