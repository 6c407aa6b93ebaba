"""The dialogue engine: one inbound message and the conversation state in, replies (and maybe a complaint) out.

Pure: no I/O beyond the zone and the bundled training data. The caller persists ``Turn.state``
(a JSON-serialisable dict) in the Conversation row, so a conversation survives restarts and continues
across channels for the same phone number.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.forms import EDITABLE, ComplaintForm, is_skip, nearest_station, pick_in_group
from bot.nlu import CATEGORY_THRESHOLD, NLUResult, categorize, extract, find_rating, find_ref
from bot.texts import STATUS, t
from bot.textutil import clean, other_script, tokens
from bot.types import Button, ComplaintDraft, Inbound, Reply, TicketView, Turn
from zone import get_zone, messages

VERSION = 1
MAX_TRIES = 2
_FIELD_RX = {
    "place": r"jagah|jagha|place|location|address|sthan|स्थान|जगह|pata badal|area|thana|थाना",
    "incident": r"time|samay|waqt|date|tarikh|समय|तारीख|kab|when",
    "name": r"naam|name|नाम",
    "category": r"category|type|prakar|प्रकार|shreni",
    "description": r"description|ghatna|घटना|details|vivran|विवरण",
}
_BACK_RX = re.compile(r"^\s*(?:go back|back|previous|peeche|piche|pichhe|wapas|vapas|pichla sawal|pichhla sawal|"
                      r"पीछे|वापस|पिछला सवाल)\s*(?:jao|jaiye|chalo|chaliye|जाओ|जाइए|चलो|please)?\s*[.!]*\s*$", re.I)
_NO_COMPLAINT_RX = re.compile(
    r"(?:shikayat|sikayat|shikayet|complaint|report|शिकायत|सिकायत|रिपोर्ट)\W+(?:\w+\W+){0,2}(?:nahi|nahin|nhi|nai|"
    r"not|नहीं|नही)|(?:don'?t|do not|nahi|nhi|नहीं|नही)\W+(?:\w+\W+){0,3}(?:shikayat|sikayat|complaint|शिकायत|"
    r"सिकायत)", re.I)
_SMS_RX = re.compile(r"\bsms\b|\bmsg\b|message|messages|एसएमएस|मैसेज", re.I)
# what each slot holds, so "go back" can empty the last answered one
_SLOT_KEYS = {"description": ("description",), "category": ("category", "category_group"),
              "district": ("district", "station_code", "station_names"), "place": ("place", "station_code"),
              "incident": ("incident_at", "incident_text"), "name": ("complainant_name",),
              "alert_phone": ("alert_phone",)}
_CHANGE_RX = re.compile(r"badal|change|galat|wrong|sahi nahi|correct|not |no,|nahi,|बदल|गलत|ग़लत|actually", re.I)


def _now(msg: Inbound) -> datetime:
    return msg.at if msg.at.tzinfo else msg.at.replace(tzinfo=UTC)


def _base_state(old: dict[str, Any] | None = None) -> dict[str, Any]:
    old = old or {}
    keep = {k: old[k] for k in ("lang", "lang_set", "alert_asked", "alert_phone") if k in old}
    return {"v": VERSION, "mode": None, "slots": {}, "skipped": [], "oos": 0, **keep}


def _lang(state: dict[str, Any]) -> str:
    return state.get("lang") or get_zone().default_language


def _menu(lang: str) -> list[Button]:
    return [Button("n:file", t("b_file", lang)), Button("n:status", t("b_status", lang)),
            Button("n:feedback", t("b_feedback", lang))]


def _yes_no(lang: str) -> list[Button]:
    return [Button("yes", t("b_yes", lang)), Button("no", t("b_no", lang))]


class _Ctx:
    """Everything one turn needs."""

    def __init__(self, msg: Inbound, state: dict[str, Any], tickets: TicketView | None) -> None:
        self.msg, self.state, self.tickets = msg, state, tickets
        self.replies: list[Reply] = []
        self.complaint: ComplaintDraft | None = None
        self.handoff = False

    @property
    def lang(self) -> str:
        return _lang(self.state)

    def say(self, key: str, buttons: list[Button] | None = None, **kw: object) -> None:
        self.reply(Reply(t(key, self.lang, **kw), buttons or []))

    def reply(self, r: Reply) -> None:
        self.replies.append(r)
        self.state["buttons"] = [b.id for b in r.buttons] if r.buttons else self.state.get("buttons", [])
        if not r.buttons:
            self.state["buttons"] = []


def handle(msg: Inbound, state: dict[str, Any], tickets: TicketView | None = None) -> Turn:
    """Take one citizen message and return the engine's answer.

    Args:
        msg: the inbound message (text, transcript, location, media or button).
        state: the conversation state the caller stored after the last turn (``{}`` to start).
        tickets: the citizen's own tickets (status and feedback); None where the channel has none.

    Returns:
        A :class:`Turn`: replies to send, the new state to store, and ``complaint`` once the citizen
        has confirmed a complete complaint; ``handoff`` asks for a human.
    """
    state = dict(state or {})
    z = get_zone()
    now = _now(msg)
    if state.get("v") != VERSION:
        state = _base_state(state)
    last = state.get("last_at")
    expired = False
    if last:
        try:
            idle = now - datetime.fromisoformat(last)
            if idle > timedelta(minutes=z.conversation.idle_expiry_minutes) and state.get("mode"):
                state, expired = _base_state(state), True
        except ValueError:
            state = _base_state(state)
    state["last_at"] = now.isoformat()
    ctx = _Ctx(msg, state, tickets)
    if expired:
        ctx.say("expired")
    try:
        _dispatch(ctx)
    except Exception:  # noqa: BLE001 - a bug must never leave the citizen without an answer
        ctx.state.update(_base_state(ctx.state))
        ctx.say("not_understood", _menu(ctx.lang))
    return Turn(replies=ctx.replies, state=ctx.state, complaint=ctx.complaint, handoff=ctx.handoff,
                language=ctx.lang)


def warm() -> None:
    """Load everything the first turn would otherwise load: zone, gazetteer, NLU models, patterns.

    Called once per process at start (``app.create_app``), so the first citizen after a worker
    restart is not the one who waits. The models come from ``var/cache`` (built and cached if absent).
    """
    from bot import lexicon, nlu

    get_zone()
    lexicon.lexicon()
    nlu.intent_model()
    nlu.category_model()
    # one real pass compiles the lazily built regexes and look-ups (references, categories, times)
    extract("mera phone kal Rawatpur me chori ho gaya KNP-7F3K9Q", datetime.now(UTC))


def _button_from_text(ctx: _Ctx, text: str) -> str | None:
    ids = ctx.state.get("buttons") or []
    m = re.fullmatch(r"\s*(\d{1,2})\s*[.)]?\s*", text)
    if m and int(m.group(1)) == 0 and "c:other" in ids:
        return "c:other"  # the category list numbers "other" 0, as the keypad does
    if m and ids and 1 <= int(m.group(1)) <= len(ids):
        return ids[int(m.group(1)) - 1]
    return None


def _dispatch(ctx: _Ctx) -> None:
    msg, st = ctx.msg, ctx.state
    raw = msg.text or ""
    text = clean(raw)
    if msg.kind == "transcript" and msg.language in ("hi", "en") and not st.get("lang_set"):
        st["lang"] = msg.language
    if len(raw) > 2000:
        ctx.say("long")
    # media and location first: they carry no words
    if msg.media:
        ids = [m.attachment_id for m in msg.media if m.attachment_id is not None]
        st.setdefault("attachments", []).extend(ids)
        if not st.get("mode") and not text:
            if any(m.kind == "video" for m in msg.media):
                st["mode"] = "sign"
                ctx.say("sign_q", _yes_no(ctx.lang))
                return
            st["mode"] = "form"
            ctx.say("media_ok")
            _advance(ctx, ComplaintForm(st, msg.channel, msg.phone))
            return
        if not text:
            ctx.say("media_ok")
            _reask(ctx)
            return
    if msg.kind == "location" and msg.lat is not None and msg.lon is not None:
        _location(ctx)
        return
    button = msg.button if msg.kind == "button" and msg.button else None
    if not button and text:
        button = _button_from_text(ctx, text)
    if button:
        _on_button(ctx, button, text)
        return
    if not text:
        ctx.say("empty")
        _reask(ctx, quiet=True)
        return
    if not re.search(r"[\w\u0900-\u097F]", text):
        if any(s in text for s in "⭐★🌟") and st.get("mode") == "feedback":
            _feedback(ctx, extract(text, _now(msg)))
            return
        if any(s in text for s in "⭐★🌟"):
            _feedback(ctx, extract(text, _now(msg)), start=True)
            return
        ctx.say("emoji")
        _reask(ctx, quiet=True)
        return
    if other_script(text):
        ctx.say("other_language")  # kept (stored as the citizen sent it); answered in both languages
        return
    slots = st.get("slots", {})
    r = extract(text, _now(msg), hint_district=slots.get("district"),
                source="voice" if msg.kind == "transcript" else "text")
    if msg.kind == "transcript" and msg.confidence is not None:
        prev = slots.get("transcript_confidence")
        slots["transcript_confidence"] = min(prev, msg.confidence) if prev is not None else msg.confidence
        st["slots"] = slots
    _follow_language(st, r, text)
    mode = st.get("mode")
    asked = st.get("asked")
    # global intents, whatever the form was asking
    if r.intent == "emergency" and r.intent_confidence >= 0.5 and mode != "emergency":
        _emergency(ctx, r, text)
        return
    if r.intent == "change_language" and r.intent_confidence >= 0.55:
        _switch_language(ctx, text)
        _reask(ctx, quiet=True)
        return
    wants_out = mode == "form" and asked != "description" and r.intent in ("deny", "cancel") \
        and _NO_COMPLAINT_RX.search(text)
    if (r.intent == "cancel" and r.intent_confidence >= 0.55 and not (asked == "name" and r.intent_confidence < 0.8)
            or wants_out) and not mode:
        ctx.say("nothing_to_cancel", _menu(ctx.lang))
        if _SMS_RX.search(text):
            ctx.say("sms_stop_hint")
        return
    if mode == "form" and _BACK_RX.search(text):
        _go_back(ctx)
        return
    if r.intent == "cancel" and r.intent_confidence >= 0.55 and not (asked == "name" and r.intent_confidence < 0.8) \
            or wants_out:
        restart = re.search(r"shuru|start|restart|phir se|dobara|dubara|फिर से|शुरू|दोबारा|again|reset|naya|nayi|"
                            r"begin|afresh|fresh|scratch|naye sire|नए सिरे", text, re.I)
        st.update(_base_state(st))
        if restart:
            ctx.say("restart")
            st["mode"] = "form"
            _advance(ctx, ComplaintForm(st, msg.channel, msg.phone))
        else:
            ctx.say("cancelled")
        return
    if mode == "form":
        _form_turn(ctx, r, text)
    elif mode == "feedback":
        _feedback(ctx, r)
    elif mode == "emergency":
        if r.intent == "affirm" or r.intent == "file_complaint":
            _start_form_after_emergency(ctx)
        elif r.intent == "deny":
            st.update(_base_state(st))
            ctx.say("emergency_bye")
        else:
            _idle(ctx, r, text)
    elif mode == "sign":
        if r.intent == "affirm":
            _sign_done(ctx)
        else:
            st["mode"] = "form"
            _advance(ctx, ComplaintForm(st, msg.channel, msg.phone))
    else:
        _idle(ctx, r, text)


def _follow_language(st: dict[str, Any], r: NLUResult, text: str) -> None:
    """Take the citizen's language from what they write, unless they chose one: Devanagari means Hindi;
    otherwise a message of three words or more decides (two for the first message). A single word
    ("help", "cancel", "ok") or a name never switches the conversation's language."""
    if st.get("lang_set") or not r.language:
        return
    words = len(tokens(text))
    if r.language == "hi" and re.search(r"[\u0900-\u097F]", text) or words >= 3 \
            or words >= 2 and not st.get("lang") and not st.get("mode"):
        st["lang"] = r.language


def _go_back(ctx: _Ctx) -> None:
    """Empty the slot answered last and ask it again ("go back", "पीछे")."""
    st = ctx.state
    form = ComplaintForm(st, ctx.msg.channel, ctx.msg.phone)
    answered = st.setdefault("answered", [])
    st.pop("editing", None)
    if answered:
        slot = answered.pop()
        for k in _SLOT_KEYS.get(slot, ()):
            form.slots.pop(k, None)
        if slot in form.skipped:
            form.skipped.remove(slot)
        ctx.say("went_back")
        st["asked"] = slot
        ctx.reply(form.ask(slot, ctx.lang))
        return
    _reask(ctx)


def _idle(ctx: _Ctx, r: NLUResult, text: str) -> None:
    st = ctx.state
    low = st.get("oos", 0)
    intent = r.intent
    if intent == "check_status" and (r.intent_confidence >= 0.5 or r.ticket_ref):
        st["oos"] = 0
        _status(ctx, r)
        return
    if intent == "give_feedback" and (r.intent_confidence >= 0.5 or r.rating is not None):
        st["oos"] = 0
        _feedback(ctx, r, start=True)
        return
    if intent == "file_complaint" and (r.intent_confidence >= 0.4 or r.category_confidence >= 0.5) \
            or (r.category_sure and len(tokens(text)) >= 3):
        _start_complaint(ctx, r)
        return
    if intent == "check_status":
        st["oos"] = 0
        _status(ctx, r)
        return
    if intent == "give_feedback":
        st["oos"] = 0
        _feedback(ctx, r, start=True)
        return
    if intent in ("greet", "affirm", "deny") and r.intent_confidence >= 0.4:
        st["oos"] = 0
        ctx.say("welcome", _menu(ctx.lang))
        return
    if intent == "help" and r.intent_confidence >= 0.4:
        st["oos"] = 0
        ctx.say("help", _menu(ctx.lang))
        return
    if ctx.msg.kind == "transcript" and (r.district or r.station or r.category_confidence >= 0.5
                                         or len(r.text.split()) >= 8):
        # Someone who speaks to a police complaint line is almost always complaining, and may be unable to
        # type: a voice note the classifier cannot place but which names a place or a category, or says
        # enough, starts the complaint with what was heard instead of a menu and "write what happened".
        _start_complaint(ctx, r)
        return
    st["oos"] = low + 1
    if st["oos"] >= get_zone().conversation.max_out_of_scope:
        st["oos"] = 0
        ctx.handoff = True
        ctx.say("handoff")
        return
    ctx.reply(Reply(t("not_understood", ctx.lang) + " " + t("oos", ctx.lang), _menu(ctx.lang)))


def _start_complaint(ctx: _Ctx, r: NLUResult) -> None:
    """Open the complaint form with what this message says (its text becomes the description unless generic)."""
    st = ctx.state
    st["oos"] = 0
    st["mode"] = "form"
    st["slots"] = {k: v for k, v in st.get("slots", {}).items() if k == "transcript_confidence"}
    st["skipped"] = []
    form = ComplaintForm(st, ctx.msg.channel, ctx.msg.phone)
    if not _generic(r):
        st["slots"]["description"] = clean(ctx.msg.text, limit=None) or r.text  # the whole message, not the NLU's cut
    form.absorb(r)
    _settle(form)
    _advance(ctx, form)


_REQUEST_WORDS = frozenset(
    w for line in (Path(__file__).parent / "data" / "request_words.txt").read_text(encoding="utf-8").splitlines()
    if not line.startswith("#") for w in line.split())


def _generic(r: NLUResult) -> bool:
    """A request to complain that does not yet say what happened ("shikayat karni hai", "I want to file a
    complaint"): every word is a request word."""
    if r.district or r.station or r.incident_at:
        return False
    words = [w.lower() for w in tokens(r.text)]
    return all(w in _REQUEST_WORDS for w in words)


def _settle(form: ComplaintForm, prefer: str = "station") -> None:
    """Keep the slots consistent: district and station agree (the one just given wins), a confidential
    category marks the complaint confidential."""
    z, s = get_zone(), form.slots
    stn = z.station_by_code.get(s.get("station_code") or "")
    if stn and s.get("district") and stn.district != s["district"]:
        if prefer == "district":
            s.pop("station_code", None)
        else:
            s["district"] = stn.district
    elif stn and not s.get("district"):
        s["district"] = stn.district
    if s.get("district") and not s.get("station_code") and (s.get("place") or s.get("description")):
        # a station name that needed its district ("Kotwali", "Sadar") is found once the district is known
        from bot.nlu import resolve_places

        said = " ".join(x for x in (s.get("place"), s.get("description")) if x)
        found = resolve_places(said[:600], s["district"])["station"]
        if found and z.station_by_code[found].district == s["district"]:
            s["station_code"] = found
    cat = z.category_by_key.get(s.get("category") or "")
    if cat and cat.confidential:
        s["confidential"] = True


def _advance(ctx: _Ctx, form: ComplaintForm) -> None:
    """Ask the next empty slot, or show the summary."""
    st = ctx.state
    slot = form.next_slot()
    if slot:
        st["asked"] = slot
        st.setdefault("tries", {})
        ctx.reply(form.ask(slot, ctx.lang))
        return
    st["asked"] = "confirm"
    _summary(ctx)


def _summary(ctx: _Ctx) -> None:
    z, s, lang = get_zone(), ctx.state["slots"], ctx.lang
    unk = t("unknown", lang)
    lines = [t("summary_head", lang)]
    desc = s.get("description") or unk
    lines.append(f"{t('f_description', lang)}: {desc[:140]}")
    if s.get("category"):
        c = z.category_by_key[s["category"]]
        lines.append(f"{t('f_category', lang)}: {messages.name(c, lang)} {t('category_hint', lang)}")
    d = z.district_by_key.get(s.get("district") or "")
    place_bits = [s.get("place") or ""]
    stn = z.station_by_code.get(s.get("station_code") or "")
    if stn and (stn.name_en.lower() not in (s.get("place") or "").lower()):
        place_bits.append(t("station_name", lang, name=messages.name(stn, lang)))
    if d:
        place_bits.append(messages.name(d, lang))
    lines.append(f"{t('f_place', lang)}: {', '.join(b for b in place_bits if b) or unk}")
    when = s.get("incident_text") or ""
    if s.get("incident_at"):
        when = datetime.fromisoformat(s["incident_at"]).strftime("%d-%m-%Y %H:%M")
    lines.append(f"{t('f_incident', lang)}: {when or unk}")
    declined = "name" in ctx.state.get("skipped", []) and not s.get("complainant_name")
    lines.append(f"{t('f_name', lang)}: {s.get('complainant_name') or (t('name_declined', lang) if declined else unk)}")
    if s.get("confidential"):
        lines.append(t("confidential_on", lang))
    lines.append(t("confirm_q", lang))
    ctx.reply(Reply("\n".join(lines), [Button("yes", t("b_submit", lang)), Button("edit", t("b_edit", lang)),
                                      Button("conf", t("b_conf", lang)), Button("cancel", t("b_cancel", lang))]))


def _reask(ctx: _Ctx, quiet: bool = False) -> None:
    """Repeat the current question (after an interruption)."""
    st = ctx.state
    if st.get("mode") == "form":
        form = ComplaintForm(st, ctx.msg.channel, ctx.msg.phone)
        if st.get("asked") == "confirm":
            _summary(ctx)
        elif st.get("asked") == "edit":
            _edit_menu(ctx)
        else:
            _advance(ctx, form)
    elif st.get("mode") == "feedback":
        _feedback(ctx, None)
    elif not quiet or not ctx.replies:
        ctx.say("welcome", _menu(ctx.lang))
    elif st.get("mode") is None:
        ctx.replies[-1].buttons = ctx.replies[-1].buttons or _menu(ctx.lang)
        ctx.state["buttons"] = [b.id for b in ctx.replies[-1].buttons]


def _edit_menu(ctx: _Ctx) -> None:
    ctx.state["asked"] = "edit"
    ctx.say("ask_edit", [Button(f"f:{f}", t(f"f_{f}", ctx.lang)) for f in EDITABLE])


def _form_turn(ctx: _Ctx, r: NLUResult, text: str) -> None:
    st, msg = ctx.state, ctx.msg
    form = ComplaintForm(st, msg.channel, msg.phone)
    asked = st.get("asked")
    if asked == "confirm":
        if r.intent == "affirm" and not _field_mentioned(text):
            _finish(ctx, form)
            return
        field = _field_mentioned(text)
        if field == "category" and _change_category(form, text):
            _summary(ctx)
            return
        got = form.absorb(r, overwrite=True) if (r.station or r.district or r.incident_at or r.person_name) else []
        if got:
            _settle(form, "district" if r.district and not r.station else "station")
            _summary(ctx)
            return
        if field:
            _ask_edit(ctx, form, field)
            return
        if r.intent == "deny":
            _edit_menu(ctx)
            return
        if r.intent in ("greet", "help"):
            ctx.say("help")
        _summary(ctx)
        return
    if asked == "edit":
        field = _field_mentioned(text)
        if field:
            _ask_edit(ctx, form, field)
        else:
            _edit_menu(ctx)
        return
    if asked not in ("description", "name", "place") and r.intent in ("greet", "help") \
            and r.intent_confidence >= 0.7 \
            and not (r.district or r.station or r.incident_at or r.category):
        ctx.say("help")
        _advance(ctx, form)
        return
    if r.intent == "check_status" and r.intent_confidence >= 0.8 and r.ticket_ref:
        _status(ctx, r)
        _reask(ctx)
        return
    if r.correction:
        # "not Etawah, it is Auraiya": the corrected slots are replaced (and what depends on them re-derived),
        # whatever the question was; the correction itself is never stored as the answer
        form.absorb(r, overwrite=True)
        if "district" in r.correction and not r.station:
            form.slots.pop("station_code", None)
        _settle(form, "district" if "district" in r.correction and not r.station else "station")
        if st.pop("editing", None) or asked == "confirm":
            st["asked"] = "confirm"
            _summary(ctx)
            return
        _advance(ctx, form)
        return
    _answer(ctx, form, asked, r, text)


_TYPE_WORD_RX = re.compile(r"\b(?:category|type|prakar|prakaar|shreni)\b|प्रकार|श्रेणी", re.I)


def _change_category(form: ComplaintForm, text: str) -> bool:
    """At the summary, "type: online fraud" / "प्रकार धमकी" changes the category in one reply."""
    rest = _TYPE_WORD_RX.sub(" ", _CHANGE_RX.sub(" ", text)).strip(" :-,.")
    if len(tokens(rest)) == 0:
        return False
    z = get_zone()
    key = next((c.key for c in z.categories if rest.lower() in (c.name_en.lower(), c.name_hi, c.key)), None)
    if key is None:
        key = next((c.key for g in z.category_groups if rest.lower() in (g.name_en.lower(), g.name_hi)
                    for c in z.group_categories(g.key)[:1]), None)
    if key is None:
        cat, conf = categorize(rest)
        key = cat if cat and conf >= CATEGORY_THRESHOLD else None
    if key is None:
        return False
    form.slots["category"] = key
    form.slots.pop("category_group", None)
    _settle(form)
    return True


def _field_mentioned(text: str) -> str | None:
    for f, rx in _FIELD_RX.items():
        if re.search(rx, text, re.I) and (_CHANGE_RX.search(text) or len(text.split()) <= 3):
            return f
    return None


def _ask_edit(ctx: _Ctx, form: ComplaintForm, field: str) -> None:
    st = ctx.state
    st["editing"] = field
    st["asked"] = field
    ctx.reply(form.ask(field, ctx.lang))


def _answer(ctx: _Ctx, form: ComplaintForm, asked: str | None, r: NLUResult, text: str) -> None:
    st = ctx.state
    editing = st.pop("editing", None)
    if asked and asked != "confirm":
        if is_skip(text) and asked not in ("description",):
            if asked not in form.skipped:
                form.skipped.append(asked)
            if asked == "alert_phone":
                st["alert_asked"] = True
        else:
            upd = form.validate(asked, text, r, _now(ctx.msg))
            if upd and "_error" not in upd:
                if upd.pop("_skip", False):
                    form.skipped.append(asked)
                if asked == "place" or editing == "place":
                    for k in ("place", "station_code"):
                        form.slots.pop(k, None)
                if asked == "incident":
                    form.slots.pop("incident_at", None)
                    form.slots.pop("incident_text", None)
                form.slots.update(upd)
                if asked in form.skipped:
                    form.skipped.remove(asked)
                st.get("tries", {}).pop(asked, None)
                if asked != "alert_phone":
                    form.absorb(r)  # an answer may also say where or when
                _maybe_resolve_station(form)
                _settle(form, "district" if asked == "district" else "station")
                st.setdefault("answered", []).append(asked)
            else:
                tries = st.setdefault("tries", {})
                tries[asked] = tries.get(asked, 0) + 1
                if upd and upd.get("_error") == "outside":
                    ctx.say("outside", place=upd["_place"].title())
                    st["asked"] = asked
                    ctx.reply(Reply(form.ask(asked, ctx.lang).text.split("?")[0] + "?",
                                    form.ask(asked, ctx.lang).buttons))
                    return
                if upd and upd.get("_error") == "bad_phone" and tries[asked] < MAX_TRIES:
                    ctx.say("bad_phone")
                    return
                if tries[asked] >= MAX_TRIES:
                    form.skipped.append(asked)  # never stuck: the 1 Number cell completes it
                    if asked == "category":
                        form.slots["category"] = "other"
                else:
                    ctx.say("not_understood")
                    _advance(ctx, form)
                    return
    if editing:
        st["asked"] = "confirm"
        _summary(ctx)
        return
    _advance(ctx, form)


def _maybe_resolve_station(form: ComplaintForm) -> None:
    s = form.slots
    if s.get("district") and not s.get("station_code") and s.get("station_names"):
        from bot.nlu import resolve_places

        p = resolve_places(" ".join(s["station_names"]), s["district"])
        if p["station"]:
            s["station_code"] = p["station"]
            s.setdefault("place", " ".join(s["station_names"]))


def _finish(ctx: _Ctx, form: ComplaintForm) -> None:
    z, st = get_zone(), ctx.state
    s = form.slots
    inc = datetime.fromisoformat(s["incident_at"]) if s.get("incident_at") else None
    if s.get("emergency") and inc is None:
        inc = _now(ctx.msg)
    cat = s.get("category")
    conf = bool(s.get("confidential")) or bool(cat and z.category_by_key[cat].confidential)
    stn = z.station_by_code.get(s.get("station_code") or "")
    extra: dict[str, Any] = {}
    if s.get("alert_phone"):
        extra["alert_phone"] = s["alert_phone"]
        st["alert_phone"] = s["alert_phone"]
    elif st.get("alert_phone") and ctx.msg.channel == "whatsapp" and not ctx.msg.phone:
        extra["alert_phone"] = st["alert_phone"]
    draft = ComplaintDraft(
        description=s.get("description") or "", language=ctx.lang, category=cat if cat != "other" or True else None,
        district=s.get("district"), place=s.get("place"), station_code=stn.code if stn else None,
        lat=s.get("lat"), lon=s.get("lon"), incident_at=inc, incident_text=s.get("incident_text"),
        complainant_name=s.get("complainant_name"), confidential=conf, emergency=bool(s.get("emergency")),
        needs_interpreter=bool(s.get("needs_interpreter")), attachment_ids=list(st.get("attachments", [])),
        transcript_confidence=s.get("transcript_confidence"), extra=extra)
    ctx.complaint = draft
    st.update(_base_state(st))
    st.pop("attachments", None)
    lang = ctx.lang
    sla = z.sla
    deadline = t("minutes", lang, n=f"{sla.emergency_minutes:g}") if draft.emergency else \
        t("hours", lang, n=f"{sla.hours:g}") if sla.hours >= 1 else t("minutes", lang, n=f"{sla.hours * 60:g}")
    by_sms = ctx.msg.channel in ("sms", "voice") or bool(extra.get("alert_phone"))
    ctx.say("done", ref="{ref}", via=t("via_sms" if by_sms else "via_chat", lang), deadline=deadline)
    if draft.emergency:
        ctx.say("emergency")


def _on_button(ctx: _Ctx, bid: str, text: str) -> None:
    st, msg = ctx.state, ctx.msg
    form = ComplaintForm(st, msg.channel, msg.phone)
    mode, asked = st.get("mode"), st.get("asked")
    if bid.startswith("n:"):
        what = bid[2:]
        if what == "file":
            st.update(_base_state(st))
            st["mode"] = "form"
            _advance(ctx, ComplaintForm(st, msg.channel, msg.phone))
        elif what == "status":
            _status(ctx, NLUResult(text=text))
        else:
            _feedback(ctx, NLUResult(text=text), start=True)
        return
    if mode == "feedback":
        _feedback(ctx, None, button=bid)
        return
    if mode == "emergency":
        if bid == "yes":
            _start_form_after_emergency(ctx)
        else:
            st.update(_base_state(st))
            ctx.say("emergency_bye")
        return
    if mode == "sign":
        if bid == "yes":
            _sign_done(ctx)
        else:
            st["mode"] = "form"
            _advance(ctx, form)
        return
    if mode != "form":
        ctx.say("welcome", _menu(ctx.lang))
        return
    if asked == "confirm":
        if bid == "yes":
            _finish(ctx, form)
        elif bid == "edit" or bid == "no":
            _edit_menu(ctx)
        elif bid == "conf":
            form.slots["confidential"] = True
            _summary(ctx)
        elif bid == "cancel":
            st.update(_base_state(st))
            ctx.say("cancelled")
        return
    if asked == "edit" and bid.startswith("f:"):
        _ask_edit(ctx, form, bid[2:])
        return
    editing = st.pop("editing", None)
    if bid.startswith("d:") and asked == "district":
        form.slots["district"] = bid[2:]
        _maybe_resolve_station(form)
    elif bid.startswith("g:") and asked == "category":
        pick = pick_in_group(bid[2:], form.slots.get("description") or text)
        if pick is None:
            form.slots["category_group"] = bid[2:]  # ask which of the group's categories
            ctx.reply(form.ask("category", ctx.lang))
            return
        form.slots["category"] = pick
        form.slots.pop("category_group", None)
        _settle(form)
        st.setdefault("answered", []).append("category")
    elif bid.startswith("c:") and asked == "category" and bid[2:] in get_zone().category_by_key:
        form.slots["category"] = bid[2:]
        form.slots.pop("category_group", None)
        _settle(form)
        st.setdefault("answered", []).append("category")
    elif asked == "alert_phone" and bid == "no":
        form.skipped.append("alert_phone")
    else:
        _reask(ctx)
        return
    if editing:
        st["asked"] = "confirm"
        _summary(ctx)
        return
    _advance(ctx, form)


def _location(ctx: _Ctx) -> None:
    st, msg = ctx.state, ctx.msg
    z = get_zone()
    if st.get("mode") != "form":
        st.update(_base_state(st))
        st["mode"] = "form"
    form = ComplaintForm(st, msg.channel, msg.phone)
    s = form.slots
    s["lat"], s["lon"] = msg.lat, msg.lon
    near = nearest_station(msg.lat, msg.lon)
    if near:
        stn = z.station_by_code[near[0]]
        s["station_code"], s["district"] = stn.code, stn.district
        s.setdefault("place", clean(msg.text) or f"{msg.lat:.5f},{msg.lon:.5f}")
        ctx.say("location_ok", station=messages.name(stn, ctx.lang))
    else:
        s.setdefault("place", f"{msg.lat:.5f},{msg.lon:.5f}")
    st.pop("editing", None)
    if st.get("asked") == "confirm":
        _summary(ctx)
    else:
        _advance(ctx, form)


def _emergency(ctx: _Ctx, r: NLUResult, text: str) -> None:
    st = ctx.state
    ctx.say("emergency")
    if st.get("mode") == "form":
        st["slots"]["emergency"] = True
        _reask(ctx)
        return
    st.update(_base_state(st))
    st["mode"] = "emergency"
    st["slots"] = {"description": clean(ctx.msg.text, limit=None) or text, "emergency": True}
    ComplaintForm(st, ctx.msg.channel, ctx.msg.phone).absorb(r)
    if not st["slots"].get("category") and r.category and r.category != "other":
        st["slots"]["category"] = r.category  # no question in danger: the best guess, the cell corrects it
    _settle(ComplaintForm(st, ctx.msg.channel, ctx.msg.phone))
    ctx.say("emergency_offer", _yes_no(ctx.lang))


def _start_form_after_emergency(ctx: _Ctx) -> None:
    st = ctx.state
    st["mode"] = "form"
    _advance(ctx, ComplaintForm(st, ctx.msg.channel, ctx.msg.phone))


def _sign_done(ctx: _Ctx) -> None:
    st = ctx.state
    st["slots"] = {"needs_interpreter": True, "description": ""}
    form = ComplaintForm(st, ctx.msg.channel, ctx.msg.phone)
    draft_state = dict(st)
    ctx.complaint = ComplaintDraft(description="", language=ctx.lang, needs_interpreter=True,
                                   attachment_ids=list(draft_state.get("attachments", [])))
    del form
    st.update(_base_state(st))
    st.pop("attachments", None)
    ctx.say("sign_done")


def _switch_language(ctx: _Ctx, text: str) -> None:
    st = ctx.state
    low = text.lower()
    en = re.search(r"english|angre[jz]i|inglish|engilsh|अंग्रेज़ी|अंग्रेजी|इंग्लिश", low)
    hi = re.search(r"hindi|hindee|हिंदी|हिन्दी", low)
    neg = re.search(r"nahi aati|nahi aata|don'?t understand|can'?t read|cannot read|samajh nahi|नहीं आती|नहीं आता", low)
    if en and not hi:
        target = "hi" if neg else "en"
    elif hi and not en:
        target = "en" if neg else "hi"
    elif en and hi:
        target = "hi" if low.find("hindi") > low.find("english") else "en"
    else:
        target = "en" if _lang(st) == "hi" else "hi"
    st["lang"], st["lang_set"] = target, True
    ctx.say("lang_set")


# -- status and feedback ------------------------------------------------------------------------
def _status(ctx: _Ctx, r: NLUResult) -> None:
    tv, lang = ctx.tickets, ctx.lang
    if tv is None:
        ctx.say("status_unavailable")
        return
    ref = r.ticket_ref or find_ref(r.text or "")
    if ref:
        tk = tv.find_ticket(ref)
        if not tk:
            ctx.say("status_notfound")  # the same words whether it does not exist or is not theirs
            return
        ctx.reply(Reply(_status_line(tk, lang)))
        return
    mine = tv.my_tickets()
    if not mine:
        ctx.say("status_none", [Button("n:file", t("b_file", lang))])
        return
    ctx.reply(Reply("\n".join(_status_line(tk, lang) for tk in mine[:3])))


def _status_line(tk: dict[str, Any], lang: str) -> str:
    status = STATUS.get(str(tk.get("status")), {}).get(lang, str(tk.get("status")))
    off = tk.get("officer")
    if isinstance(off, dict):
        off = f"{off.get('name') or ''} ({off['phone']})" if off.get("phone") else (off.get("name") or "")
    officer = t("officer", lang, officer=off) if off else ""
    due = tk.get("due_at")
    if isinstance(due, datetime):
        due = due.astimezone(timezone(timedelta(hours=5, minutes=30))).strftime("%d-%m %H:%M")
    return t("status_line", lang, ref=tk.get("ref"), status=status, station=tk.get("station") or "-",
             officer=officer, due=due or "-")


def _levels(ref: str | None) -> list[str]:
    z = get_zone()
    d = next((d for d in z.districts if ref and ref.startswith(d.ref_prefix + "-")), None)
    chain = z.chain_for(d.key) if d else z.chains[next(iter(z.chains))]
    return [r for r in chain if r != "sho"][:3]


def _feedback(ctx: _Ctx, r: NLUResult | None, start: bool = False, button: str | None = None) -> None:
    st, lang, tv = ctx.state, ctx.lang, ctx.tickets
    z = get_zone()
    if start or st.get("mode") != "feedback":
        st.update(_base_state(st))
        st["mode"], st["fb"] = "feedback", {"stage": "rating"}
    fb = st["fb"]
    if tv is None:
        st.update(_base_state(st))
        ctx.say("status_unavailable")
        return
    text = r.text if r else ""
    if r and r.ticket_ref and not fb.get("ref"):
        fb["ref"] = r.ticket_ref
    if not fb.get("ref"):
        mine = tv.my_tickets()
        disposed = [tk for tk in mine if tk.get("status") in ("disposed", "closed")]
        pick = (disposed or mine or [None])[0]
        if pick is None:
            st.update(_base_state(st))
            ctx.say("status_none")
            return
        fb["ref"] = pick["ref"]
    if not fb.get("checked"):
        tk = tv.find_ticket(fb["ref"])
        if tk is None:
            st.update(_base_state(st))
            ctx.say("status_notfound")
            return
        if tk.get("status") not in ("disposed", "closed"):
            st.update(_base_state(st))  # say so first: no rating, comment or officer asked for an open ticket
            ctx.say("fb_not_disposed")
            return
        fb["checked"] = True
    stage = fb["stage"]
    if stage == "rating":
        rating = None
        if button and button.startswith("r:"):
            rating = int(button[2:])
        elif r is not None:
            rating = r.rating if r.rating is not None else find_rating(text)
        if rating is None:
            if r is not None and text and not start:
                ctx.say("bad_rating")
            ctx.say("ask_rating", [Button(f"r:{i}", str(i)) for i in range(1, 6)])
            return
        if not 1 <= rating <= 5:
            ctx.say("bad_rating", [Button(f"r:{i}", str(i)) for i in range(1, 6)])
            return
        fb["rating"], fb["stage"] = rating, "comment"
        comment = re.sub(r"[⭐★🌟]|\d\s*(?:/\s*5)?|stars?|rating|star", " ", _strip_ref(text), flags=re.I).strip()
        if len(comment.split()) >= 3:
            fb["comment"], fb["stage"] = comment, "level"
    if fb["stage"] == "comment":
        if r is None or fb.get("asked_comment") is None:
            fb["asked_comment"] = True
            ctx.say("ask_comment")
            return
        fb["comment"] = "" if (is_skip(text) or (r and r.intent == "deny")) else clean(text)[:1000]
        fb["stage"] = "level"
        r = None
    if fb["stage"] == "level":
        levels = _levels(fb.get("ref"))
        if button is None and (r is None or not fb.get("asked_level")):
            fb["asked_level"] = True
            names = [Button(f"lvl:{k}", messages.name(z.ranks[k], lang)) for k in levels]
            ctx.say("ask_level", [*names, Button("lvl:none", t("b_none", lang))])
            return
        level = None
        if button and button.startswith("lvl:"):
            level = None if button == "lvl:none" else button[4:]
        if level not in (None, *levels):
            level = None
        res = tv.give_feedback(fb["ref"], fb["rating"], fb.get("comment", ""), level)
        st.update(_base_state(st))
        ctx.say({"ok": "fb_ok", "not_disposed": "fb_not_disposed", "already": "fb_already"}.get(
            res, "status_notfound"))


def _strip_ref(text: str) -> str:
    ref = find_ref(text)
    return text.replace(ref, " ") if ref else re.sub(r"[A-Za-z]{3}[-\s]?[A-Za-z2-9]{6}", " ", text)
