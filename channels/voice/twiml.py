"""The IVR's questions as TwiML: what each step says (the catalogue's ``ivr`` section) and where its answer goes."""

from __future__ import annotations

from typing import Any

from flask import Response
from twilio.twiml.voice_response import VoiceResponse

from channels.webhook import TWIML
from zone import get_zone, messages

BASE = "/twilio/voice"
T: dict[str, dict[str, str]] = messages.section("ivr")


def say(node, key: str, lang: str, **kw: Any) -> None:
    """``<Say>`` the catalogue's ``ivr.<key>`` in ``lang`` with the zone's voice for it."""
    v = get_zone().voice
    node.say(T[key][lang].format(**kw), language="hi-IN" if lang == "hi" else "en-IN",
             voice=v.say_voice_hi if lang == "hi" else v.say_voice_en)


def _url(step: str) -> str:
    return f"{BASE}/step/{step}"


def _gather(resp: VoiceResponse, step: str, num_digits: int = 1):
    return resp.gather(num_digits=num_digits, action=_url(step), method="POST",
                       timeout=get_zone().voice.gather_timeout_seconds, action_on_empty_result=False)


def twiml(resp: VoiceResponse) -> Response:
    return Response(str(resp), mimetype=TWIML)


def ask_language(resp: VoiceResponse, retry: bool = False) -> None:
    """The language menu (bilingual, repeated once on silence)."""
    g = _gather(resp, "language")
    if retry:
        say(g, "again", "hi")
    say(g, "language", "hi")
    say(g, "language", "en")
    resp.redirect(_url("language"), method="POST")


def ask_district(resp: VoiceResponse, lang: str, retry: bool = False) -> None:
    """The district menu: one line per district, in keypad order."""
    z = get_zone()
    g = _gather(resp, "district")
    if retry:
        say(g, "again", lang)
    say(g, "district_head", lang)
    for d in sorted((d for d in z.districts if 1 <= d.keypad <= 9), key=lambda d: d.keypad):
        say(g, "district_item", lang, name=messages.name(d, lang), n=d.keypad)
    resp.redirect(_url("district"), method="POST")


def ask_record(resp: VoiceResponse, lang: str, retry: bool = False) -> None:
    """The recording: a beep, up to ``voice.max_record_seconds``, ended by silence or the hash key."""
    v = get_zone().voice
    if retry:
        say(resp, "no_speech", lang)
    say(resp, "record", lang)
    resp.record(action=_url("recorded"), method="POST", max_length=v.max_record_seconds,
                timeout=v.record_silence_seconds, finish_on_key="#", play_beep=True, trim="trim-silence",
                recording_status_callback=f"{BASE}/recording", recording_status_callback_method="POST",
                recording_status_callback_event="completed")
    resp.redirect(_url("norecord"), method="POST")  # Twilio goes on here when nothing was recorded


def ask_number(resp: VoiceResponse, lang: str, has_caller: bool, retry: bool = False) -> None:
    """The SMS alert number: this one (1) or another (2); straight to entry when the caller is withheld."""
    if not has_caller:
        ask_number_entry(resp, lang, retry)
        return
    g = _gather(resp, "number")
    if retry:
        say(g, "again", lang)
    say(g, "number", lang)
    resp.redirect(_url("number"), method="POST")


def ask_number_entry(resp: VoiceResponse, lang: str, retry: bool = False) -> None:
    g = _gather(resp, "number_entry", num_digits=10)
    if retry:
        say(g, "again", lang)
    say(g, "number_entry", lang)
    resp.redirect(_url("number_entry"), method="POST")


def closing(resp: VoiceResponse, lang: str) -> None:
    say(resp, "closing", lang)
    resp.hangup()
