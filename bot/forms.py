"""The complaint form, declared Rasa-style: required slots, ``ask_<slot>`` prompts, ``validate_<slot>`` rules.

A validator returns the slot updates it accepts (possibly several: an answer to "where?" may also say
"when"), or None when the answer does not fit; after two misses the slot is skipped, so no citizen is
ever stuck: what is missing is marked unknown and the 1 Number cell completes it.
"""

from __future__ import annotations

import re
from datetime import datetime
from math import asin, cos, radians, sin, sqrt
from typing import Any

from bot.nlu import CATEGORY_THRESHOLD, NLUResult, categorize, category_ranking, find_name, find_phone, resolve_places
from bot.texts import t
from bot.textutil import clean, fold_devanagari, tokens
from bot.types import Button, Reply
from zone import get_zone, messages

SLOTS = ("description", "category", "district", "place", "incident", "name", "alert_phone")
EDITABLE = ("description", "category", "place", "incident", "name")
SKIP_RX = re.compile(fold_devanagari(
    r"^(?:skip|chhodo|chodo|chhod do|chhodein|chhoden|chhodiye|chodein|choden|chodiye|chhod dijiye|chod dijiye|"
    r"chhodo na|rehne do|rahne do|छोड़ें|छोड़ो|छोड़ दो|छोड़िए|रहने दो|pata nahi|pata nhi|nahi pata|nhi pata|नहीं पता|पता नहीं|"
    r"malum nahi|maloom nahi|मालूम नहीं|don'?t know|dont know|not sure|no idea|unknown|yaad nahi|याद नहीं|"
    r"nahi batana|nahi bataunga|nahi batungi|naam nahi batana|नाम नहीं बताना|नहीं बताना|prefer not|"
    r"rather not|no name|anonymous|gupt|गुप्त|-)(?![\w\u0900-\u097F])"), re.I)
_NO_RX = re.compile(r"^(?:no|nahi|nahin|nhi|na|nope|नहीं|ना|nahi chahiye|no thanks|नहीं चाहिए|n)\b", re.I)


def is_skip(text: str) -> bool:
    """The citizen will not or cannot answer ("pata nahi", "skip", "नाम नहीं बताना")."""
    return bool(SKIP_RX.search(fold_devanagari(text.strip().lower())))


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(radians, (*a, *b))
    h = sin((la2 - la1) / 2) ** 2 + cos(la1) * cos(la2) * sin((lo2 - lo1) / 2) ** 2
    return 12742 * asin(sqrt(h))


def nearest_station(lat: float, lon: float) -> tuple[str, float] | None:
    """The nearest thana to a point, and the distance in km (None outside ~60 km of any)."""
    z = get_zone()
    best = min(((s.code, _km((lat, lon), (s.lat, s.lon))) for s in z.stations if s.kind == "thana"),
               key=lambda x: x[1], default=None)
    return best if best and best[1] <= 60 else None


def district_buttons(lang: str) -> list[Button]:
    """The zone's districts in keypad order (so "4" means the same on SMS and on the phone keypad)."""
    z = get_zone()
    ds = sorted(z.districts, key=lambda d: d.keypad)
    return [Button(f"d:{d.key}", messages.name(d, lang)) for d in ds]


def category_menu(lang: str) -> Reply:
    """The numbered list of category groups (keypad digits 1-9, "other" 0), as the registered SMS template.

    The buttons are the groups in keypad order and "other" last, so the digit is the button's number
    (and 0 means "other" too).
    """
    z = get_zone()
    groups = z.groups_menu()
    other = z.category_by_key["other"]
    menu = ", ".join([f"{g.keypad} {messages.name(g, lang)}" for g in groups] + [f"0 {messages.name(other, lang)}"])
    buttons = [Button(f"g:{g.key}", messages.name(g, lang)) for g in groups] + [Button("c:other",
                                                                                       messages.name(other, lang))]
    return Reply(messages.t("sms.category_menu", lang, menu=menu), buttons, listed=True)


def group_menu(group: str, lang: str) -> Reply:
    """The categories of one group as a numbered list."""
    return Reply(t("category_which", lang),
                 [Button(f"c:{c.key}", messages.name(c, lang)) for c in get_zone().group_categories(group)])


def pick_in_group(group: str, text: str) -> str | None:
    """The group's category the classifier prefers for ``text``, when it is clear (else None: ask)."""
    members = {c.key for c in get_zone().group_categories(group)}
    if len(members) == 1:
        return next(iter(members))
    ranked = [(k, p) for k, p in category_ranking(text) if k in members]
    total = sum(p for _, p in ranked)
    if ranked and total > 0 and ranked[0][1] / total >= 0.8:
        return ranked[0][0]
    return None


def _clean_place(text: str) -> str:
    p = clean(text)[:120]
    p = re.sub(r"^(?:near|at|in|the place is|place is|jagah|जगह|area)\s+", "", p, flags=re.I)
    p = re.sub(r"\s+(?:ke paas|ke pass|ke saamne|me|mein|mai|pe|par|se|के पास|में|पर|से|hai|है)$", "", p, flags=re.I)
    return p.strip(" .,")


class ComplaintForm:
    """The complaint form over a state dict's ``slots``."""

    required = SLOTS

    def __init__(self, state: dict[str, Any], channel: str, phone: str | None) -> None:
        self.state = state
        self.slots: dict[str, Any] = state.setdefault("slots", {})
        self.skipped: list[str] = state.setdefault("skipped", [])
        self.channel, self.phone = channel, phone

    # -- which slot next ----------------------------------------------------------------------
    def filled(self, slot: str) -> bool:
        """Whether a slot has a value or was skipped."""
        s = self.slots
        if slot in self.skipped:
            return True
        if slot == "description":
            return bool(s.get("description"))
        if slot == "category":
            return bool(s.get("category")) or bool(s.get("emergency"))
        if slot == "district":
            return bool(s.get("district"))
        if slot == "place":
            return bool(s.get("place") or s.get("station_code") or s.get("lat") is not None)
        if slot == "incident":
            return bool(s.get("incident_at") or s.get("incident_text")) or bool(s.get("emergency"))
        if slot == "name":
            return bool(s.get("complainant_name"))
        if slot == "alert_phone":
            return not (self.channel == "whatsapp" and not self.phone and not self.state.get("alert_asked")) \
                or bool(s.get("alert_phone"))
        return True

    def next_slot(self) -> str | None:
        """The first required slot still empty, or None when the form is complete."""
        return next((s for s in self.required if not self.filled(s)), None)

    # -- prompts ----------------------------------------------------------------------------
    def ask(self, slot: str, lang: str) -> Reply:
        """The ``ask_<slot>`` prompt."""
        if slot == "alert_phone":
            self.state["alert_asked"] = True
        return getattr(self, f"ask_{slot}")(lang)

    def ask_description(self, lang: str) -> Reply:
        return Reply(t("ask_description", lang))

    def ask_category(self, lang: str) -> Reply:
        group = self.slots.get("category_group")
        if group:
            return group_menu(group, lang)
        return category_menu(lang)

    def ask_district(self, lang: str) -> Reply:
        return Reply(t("ask_district", lang), district_buttons(lang))

    def ask_place(self, lang: str) -> Reply:
        return Reply(t("ask_place", lang))

    def ask_incident(self, lang: str) -> Reply:
        return Reply(t("ask_incident", lang))

    def ask_name(self, lang: str) -> Reply:
        return Reply(t("ask_name", lang))

    def ask_alert_phone(self, lang: str) -> Reply:
        return Reply(t("ask_alert_phone", lang))

    # -- filling from any message ---------------------------------------------------------------
    def absorb(self, r: NLUResult, overwrite: bool = False) -> list[str]:
        """Fill every slot the message gives (only empty ones unless ``overwrite``); returns slots set."""
        s, got = self.slots, []
        z = get_zone()

        def put(key: str, value: Any, slot: str) -> None:
            if value is None or (s.get(key) and not overwrite):
                return
            s[key] = value
            if slot in self.skipped:
                self.skipped.remove(slot)
            got.append(slot)

        if r.category and r.category_sure:
            put("category", r.category, "category")
            if got and got[-1] == "category":
                s.pop("category_group", None)
            if z.category_by_key[s["category"]].confidential:
                s["confidential"] = True
        if r.district:
            if overwrite and s.get("district") != r.district and not r.station:
                s.pop("station_code", None)
            put("district", r.district, "district")
        if r.station:
            put("station_code", r.station, "place")
            if overwrite:
                s["district"] = z.station_by_code[r.station].district
        if r.place:
            put("place", r.place, "place")
        if r.station_candidates and not s.get("station_code"):
            s["station_names"] = r.station_names
        if r.incident_at:
            put("incident_at", r.incident_at.isoformat(), "incident")
            s["incident_text"] = r.incident_text
        if r.person_name:
            put("complainant_name", r.person_name, "name")
        return got

    # -- validators ---------------------------------------------------------------------------
    def validate(self, slot: str, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        """Run ``validate_<slot>``; returns accepted updates or None (an ``_error`` key explains why)."""
        return getattr(self, f"validate_{slot}")(text, r, at)

    def validate_description(self, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        if len(tokens(text)) < 2 and not r.category:
            return None
        return {"description": text}

    def validate_category(self, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        cat, conf = (r.category, r.category_confidence) if r.category else categorize(text)
        return {"category": cat} if cat and conf >= CATEGORY_THRESHOLD else None

    def validate_district(self, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        if r.district:
            out = {"district": r.district}
            if r.station:
                out["station_code"] = r.station
            return out
        if r.outside:
            return {"_error": "outside", "_place": r.outside}
        return None

    def validate_place(self, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        z = get_zone()
        hint = self.slots.get("district")
        p = resolve_places(text, hint)
        out: dict[str, Any] = {}
        if not p["station"] and hint:
            # a station name alone is enough here, even one that is also an everyday word
            key = fold_devanagari(_clean_place(text).lower())
            for st in z.stations_in(hint):
                if key in (st.name_en.lower(), fold_devanagari(st.name_hi)):
                    p["station"] = st.code
        if p["station"]:
            out["station_code"] = p["station"]
            out["district"] = z.station_by_code[p["station"]].district
        elif p["district"] and p["district"] != hint:
            out["district"] = p["district"]
            out.pop("station_code", None)
        place = _clean_place(text)
        if not place or not re.search(r"[\w\u0900-\u097F]", place):
            return None
        out["place"] = place
        return out

    def validate_incident(self, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        if r.incident_at:
            return {"incident_at": r.incident_at.isoformat(), "incident_text": r.incident_text}
        if re.search(r"[\w\u0900-\u097F]", text):
            return {"incident_text": clean(text)[:120]}  # "since 3 days", "har roz": kept as said
        return None

    def validate_name(self, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        name = r.person_name or find_name(text)
        if not name:
            words = tokens(text)
            if 1 <= len(words) <= 4 and not re.search(r"\d", text) and len(text) <= 60:
                name = " ".join(w[:1].upper() + w[1:].lower() if w.isascii() else w for w in words)
        return {"complainant_name": name} if name else None

    def validate_alert_phone(self, text: str, r: NLUResult, at: datetime) -> dict[str, Any] | None:
        ph = find_phone(text)
        if ph:
            return {"alert_phone": ph}
        if _NO_RX.search(text.strip()) or r.intent == "deny":
            return {"_skip": True}
        return {"_error": "bad_phone"} if re.search(r"\d", text) else None
