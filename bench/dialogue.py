"""Benchmark the dialogue engine: fresh-process start-up, per-turn latency (median / p95), held-out figures.

Run: ``.venv/bin/python bench/dialogue.py``.

Start-up is measured in fresh Python processes: the baseline has an empty model cache (what every
worker restart cost before the cache: train the intent and category models on the first message);
then a process that finds the cache, with and without ``bot.engine.warm()`` at start.

``.venv/bin/python bench/dialogue.py --blind [-v] [--json FILE] [--blind-dir DIR]`` instead prints the
figures of the blind set (tests/bot/blind/: nlu.yml, stories.yml) beside those of the old held-out set
(tests/bot/testset/), with the goals: utterance figures from :func:`bot.nlu.extract`, story figures from
replaying each story through :func:`bot.engine.handle` with a simulated citizen (:func:`replay`) who sends
the scripted steps and then answers whatever the bot asks from the story's facts. ``-v`` lists every
failing story (with its transcript) and utterance; ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

# run as a script, bench/ is first on the path: drop it so "bot" means the package, and put the root there
_HERE = str(Path(__file__).resolve().parent)
_ROOT = str(Path(__file__).resolve().parent.parent)
if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if p not in ("", _HERE)]
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bot import nlu  # noqa: E402
from bot.engine import handle  # noqa: E402
from bot.evaluate import evaluate, inbound  # noqa: E402
from bot.types import Inbound, Turn  # noqa: E402
from zone import get_zone  # noqa: E402

IST = timezone(timedelta(hours=5, minutes=30))
CONVERSATIONS = [
    ["mera phone kal shaam Rawatpur bus stand pe chori ho gaya", "Ramesh Kumar", "1"],
    ["मेरी बाइक चोरी हो गई है कल्याणपुर से", "आज सुबह", "सुनीता देवी", "हाँ"],
    ["someone is harassing my sister near Kakadeo", "yesterday 7 pm", "Anjali", "yes"],
    ["shikayat karni hai", "meri scooty chori ho gayi", "4", "civil lines", "kal", "Pooja", "1"],
    ["hello", "help", "status", "KNP-7F3K9Q"],
]


_FRESH = """
import json, sys, time
t0 = time.perf_counter()
from datetime import datetime, timedelta, timezone
from bot import engine
from bot.types import Inbound
t1 = time.perf_counter()
if sys.argv[1] == "warm":
    engine.warm()
t2 = time.perf_counter()
at = datetime(2025, 3, 12, 10, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
engine.handle(Inbound("whatsapp", at, "mera phone kal shaam Rawatpur bus stand pe chori ho gaya",
                      phone="+919800000001"), {})
t3 = time.perf_counter()
print(json.dumps({"import": (t1 - t0) * 1000, "warm": (t2 - t1) * 1000, "first": (t3 - t2) * 1000,
                  "sklearn": "sklearn" in sys.modules}))
"""


def fresh(cache: str, mode: str) -> dict:
    """Run one fresh interpreter: import the engine, maybe warm() it, then time its first turn."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "BHAROSA_CACHE_DIR": cache, "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", _FRESH, mode], cwd=root, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def startup(runs: int = 3) -> None:
    """Print fresh-process start-up figures: empty cache (baseline) vs cached model, lazy vs warm()."""
    rows: dict[str, list[dict]] = {"no cache (baseline)": [], "no cache + warm()": [], "cache, lazy": [],
                                   "cache + warm()": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as tmp:
            rows["no cache (baseline)"].append(fresh(empty, "lazy"))  # what every restart cost before
            rows["no cache + warm()"].append(fresh(tmp, "warm"))  # first start ever: trains both, writes the cache
            rows["cache, lazy"].append(fresh(tmp, "lazy"))
            rows["cache + warm()"].append(fresh(tmp, "warm"))  # what app.create_app now does
    for name, rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("import", "warm", "first")}
        print(f"fresh process, {name:<19}: import {med['import']:7.0f} ms, warm() {med['warm']:7.0f} ms, "
              f"first turn {med['first']:8.1f} ms, scikit-learn imported: {rs[0]['sklearn']} (median of {runs})")


def main() -> None:
    """Time start-up and every turn of a few conversations many times, then print the evaluation."""
    startup()
    at = datetime(2025, 3, 12, 10, 0, tzinfo=IST)
    handle(Inbound("whatsapp", at, "hi", phone="+919800000001"), {})  # load the zone and train once
    times = []
    for _ in range(40):
        for conv in CONVERSATIONS:
            state: dict = {}
            for i, text in enumerate(conv):
                msg = Inbound("whatsapp", at + timedelta(minutes=i), text, phone="+919800000001")
                t0 = time.perf_counter()
                state = handle(msg, state).state
                times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"turns timed: {len(times)}")
    print(f"turn latency: median {statistics.median(times):.2f} ms, p95 {times[int(len(times) * 0.95)]:.2f} ms")
    evaluate()



# -- the blind set beside the old held-out set (--blind) ---------------------------------------------

ROOT = Path(_ROOT)
BLIND = ROOT / "tests" / "bot" / "blind"
OLD = ROOT / "tests" / "bot" / "testset"
START = datetime(2026, 3, 12, 10, 0, tzinfo=IST)  # stories: a minute a message from here; utterances: "now"
MAX_TURNS = 14  # citizen turns a story, scripted steps included
COMPLAINT = "complaint"  # the expected dialogue intent of an utterance labelled with a category key
DIALOGUE_INTENTS = ("greet", "help", "check_status", "give_feedback", "cancel", "deny", "affirm", "change_language",
                    "out_of_scope", "other_language")
GOALS = {  # metric -> (comparison, bound), checked for each set
    "stories_right": (">=", 0.97), "median_turns": ("<=", 4), "utt_false_emergencies": ("==", 0),
    "utt_missed_emergencies": ("==", 0), "story_false_emergencies": ("==", 0), "story_missed_emergencies": ("==", 0),
    "utt_confidential_recall": (">=", 0.99), "story_confidential_recall": (">=", 0.99), "p95_ms": ("<", 5.0),
    "precision_above_threshold": (">=", 0.98),
}


@dataclass
class Utterance:
    """One test utterance: what extract() must find. ``intent`` is ``complaint`` for a category-labelled one."""

    text: str
    intent: str
    category: str | None = None
    district: str | None = None
    has_district: bool = False  # False: the item says nothing about the district (not checked)
    station: str | None = None
    emergency: bool | None = None  # None: the item does not say


@dataclass
class Story:
    """One test story: scripted turns (dicts as in bot.evaluate: user / button / location / media / transcript),
    what must come of it, and the facts the simulated citizen answers the bot's questions with."""

    name: str
    turns: list[dict[str, Any]]
    ticket: bool = True
    category: str | None = None
    district: str | None = None
    station: str | None = None
    emergency: bool | None = None
    confidential: bool | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    channel: str = "whatsapp"
    phone: str | None = "+919800000001"

    def first_text(self) -> str:
        t0 = self.turns[0] if self.turns else {}
        return str(t0.get("user") or t0.get("transcript") or "")


@dataclass
class Outcome:
    """How one story went under :func:`replay`."""

    name: str
    ok: bool
    why: str
    turns: int
    complaint: Any = None  # the ComplaintDraft handed over, if any
    entered_emergency: bool = False  # some turn switched the mode to emergency or flagged the form an emergency
    times_ms: list[float] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


class NoTickets:
    """A citizen with no tickets."""

    def my_tickets(self) -> list[dict[str, Any]]:
        return []

    def find_ticket(self, ref: str) -> dict[str, Any] | None:
        return None

    def give_feedback(self, ref: str, rating: int, comment: str, level: str | None) -> str:
        return "not_found"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_blind_utterances(folder: Path = BLIND) -> list[Utterance]:
    """tests/bot/blind/nlu.yml: ``nlu: [{intent, examples: [{text, metadata: {district, station, emergency}}]}]``."""
    cats = get_zone().category_by_key
    out = []
    for block in (_yaml(folder / "nlu.yml") or {}).get("nlu", []):
        key = block["intent"]
        for ex in block.get("examples", []):
            md = ex.get("metadata") or {}
            out.append(Utterance(text=nlu.strip_annotations(str(ex["text"])),
                                 intent=COMPLAINT if key in cats else key, category=key if key in cats else None,
                                 district=md.get("district"), has_district="district" in md,
                                 station=md.get("station"), emergency=md.get("emergency")))
    return out


def load_blind_stories(folder: Path = BLIND) -> list[Story]:
    """tests/bot/blind/stories.yml: ``stories: [{story, metadata: {expect, facts}, steps: [{user}]}]``."""
    cats = get_zone().category_by_key
    out = []
    for i, st in enumerate((_yaml(folder / "stories.yml") or {}).get("stories", []), 1):
        md = st.get("metadata") or {}
        exp, facts = md.get("expect") or {}, md.get("facts") or {}
        steps = [{**s, "user": nlu.strip_annotations(str(s["user"]))} if "user" in s else s
                 for s in st.get("steps", [])]
        cat = exp.get("category")
        out.append(Story(name=str(st.get("story", f"story_{i}")), turns=steps, ticket=bool(exp.get("ticket", True)),
                         category=cat, district=exp.get("district"), station=exp.get("station"),
                         emergency=exp.get("emergency"),
                         confidential=bool(cats[cat].confidential) if cat in cats else None,
                         facts=facts, phone=f"+9198000{i:05d}"))
    return out


def load_old_utterances(folder: Path = OLD) -> list[Utterance]:
    """tests/bot/testset/utterances.yml: ``[{text, intent, district, station, category}]`` (absent = none)."""
    out = []
    for u in _yaml(folder / "utterances.yml"):
        complaint = u["intent"] == "file_complaint"
        out.append(Utterance(text=str(u["text"]), intent=COMPLAINT if complaint else u["intent"],
                             category=u.get("category"), district=u.get("district"), has_district=True,
                             station=u.get("station"), emergency=u["intent"] == "emergency"))
    return out


def load_old_stories(folder: Path = OLD) -> list[Story]:
    """tests/bot/testset/stories.yml: ``[{name, channel, phone, turns, expect}]`` (``complaint: false``: none)."""
    cats = get_zone().category_by_key
    out = []
    for s in _yaml(folder / "stories.yml"):
        exp = s.get("expect", {})
        cat = exp.get("category")
        conf = exp.get("confidential", bool(cats[cat].confidential) if cat in cats else None)
        ticket = exp.get("complaint", True) is not False
        # no emergency key: a complaint story is no emergency; a story that files nothing may be one (not scored)
        emergency = bool(exp["emergency"]) if "emergency" in exp else (False if ticket else None)
        out.append(Story(name=s["name"], turns=s["turns"], ticket=ticket,
                         category=cat, district=exp.get("district"), station=exp.get("station"),
                         emergency=emergency, confidential=conf or None,
                         channel=s.get("channel", "whatsapp"),
                         phone=s.get("phone", "+919800000001") if "phone" in s else "+919800000001"))
    return out


def category_right(got: str | None, want: str | None) -> bool:
    """The category is right: equal, or none found where ``other`` is expected."""
    return got == want or (want == "other" and got is None)


def pick_button(buttons: list[str], category: str | None) -> int | None:
    """The 1-based number of the button the citizen chooses for the category question."""
    if not buttons:
        return None
    cat = get_zone().category_by_key.get(category or "")
    group = getattr(cat, "group", None) if cat else None
    for want in (f"c:{category}" if category else None, f"g:{group}" if group else None, "c:other"):
        if want and want in buttons:
            return buttons.index(want) + 1
    return len(buttons)


def keypad_answer(category: str | None, tries: int) -> str:
    """The category question asked as a text menu with no buttons (the SMS / keypad way): the group's
    keypad digit first (0 for other), then the category's number within its group."""
    zone = get_zone()
    cat = zone.category_by_key.get(category or "")
    group = getattr(cat, "group", None) if cat else None
    if not group:
        return "0"
    if tries == 0:
        g = next((g for g in getattr(zone, "category_groups", []) if g.key == group), None)
        return str(g.keypad) if g is not None else "0"
    keys = [c.key for c in zone.group_categories(group)] if hasattr(zone, "group_categories") else []
    return str(keys.index(cat.key) + 1) if cat.key in keys else "0"


def citizen_answer(story: Story, state: dict[str, Any], category_tries: int = 0) -> str | None:
    """What the simulated citizen says to the bot's last question (None: it asked nothing, stop).

    ``category_tries``: how many times the citizen has already answered the category question.
    """
    mode, asked, facts = state.get("mode"), state.get("asked"), story.facts
    if mode == "emergency":
        return "haan" if story.ticket else "nahi"
    if mode != "form":
        return None
    if asked == "description":
        return story.first_text() or "pata nahi"
    if asked == "category":
        n = pick_button(list(state.get("buttons") or []), story.category)
        return str(n) if n else keypad_answer(story.category, category_tries)
    simple = {"district": ("district", "pata nahi"), "place": ("place", "pata nahi"),
              "incident": ("time", "pata nahi"), "name": ("name", "skip"), "alert_phone": ("phone", "nahi")}
    if asked in simple:
        key, default = simple[asked]
        return str(facts.get(key) or default)
    if asked == "confirm":
        return "1"
    return None


def _judge(story: Story, draft: Any) -> tuple[bool, str]:
    if not story.ticket:
        return draft is None, "a complaint was handed over" if draft is not None else ""
    if draft is None:
        return False, "no complaint"
    bad = []
    if story.category is not None and not category_right(draft.category, story.category):
        bad.append(f"category={draft.category!r} (want {story.category!r})")
    if story.district is not None and draft.district != story.district:
        bad.append(f"district={draft.district!r} (want {story.district!r})")
    if story.station is not None and draft.station_code != story.station:
        bad.append(f"station={draft.station_code!r} (want {story.station!r})")
    return not bad, "; ".join(bad)


def replay(story: Story, tickets: Any = None, handler: Callable[..., Turn] = handle,
           start: datetime = START, max_turns: int = MAX_TURNS) -> Outcome:
    """Replay one story: every scripted turn in order, then the citizen answers what the bot asks.

    Stops when a complaint is handed over, when the bot asks nothing the citizen can answer, or after
    ``max_turns`` citizen turns (never before the scripted turns are sent).
    """
    tickets = tickets or NoTickets()
    state: dict[str, Any] = {}
    draft, entered, times, log = None, False, [], []
    limit = max(max_turns, len(story.turns))
    n = cat_tries = 0
    while n < limit:
        if n < len(story.turns):
            turn = story.turns[n]
        else:
            said = citizen_answer(story, state, cat_tries)
            if said is None:
                break
            cat_tries += state.get("asked") == "category"
            turn = {"user": said}
        msg = inbound(turn, story.channel, story.phone, start + timedelta(minutes=n))
        was_mode, was_em = state.get("mode"), bool((state.get("slots") or {}).get("emergency"))
        t0 = time.perf_counter()
        tr = handler(msg, state, tickets)
        times.append((time.perf_counter() - t0) * 1000)
        n += 1
        state = tr.state
        now_em = bool((state.get("slots") or {}).get("emergency"))
        if (state.get("mode") == "emergency" and was_mode != "emergency") or (now_em and not was_em):
            entered = True
        log.append("> " + (str(turn["user"]) if set(turn) == {"user"} else json.dumps(turn, ensure_ascii=False)))
        log += ["  " + r.as_text().replace("\n", "\n  ") for r in tr.replies]
        if tr.complaint is not None:
            draft = tr.complaint
            break
    ok, why = _judge(story, draft)
    return Outcome(story.name, ok, why, n, draft, entered, times, log)


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _p(times: list[float], q: float) -> float | None:
    if not times:
        return None
    ts = sorted(times)
    return ts[min(len(ts) - 1, int(len(ts) * q))]


def score_utterances(utts: list[Utterance], at: datetime = START) -> tuple[dict[str, Any], list[str]]:
    """The utterance figures and a line for every utterance that went wrong."""
    zone = get_zone()
    threshold = getattr(nlu, "CATEGORY_THRESHOLD", 0.5)
    intent_ok = cat_n = cat_ok = dist_n = dist_ok = 0
    false_em = missed_em = conf_n = conf_ok = 0
    calib: list[tuple[float, bool]] = []
    fails: list[str] = []
    for u in utts:
        r = nlu.extract(u.text, at)
        bad = []
        if u.intent == COMPLAINT:
            good = r.intent in ("file_complaint", "emergency")
        else:
            good = r.intent == u.intent
        intent_ok += good
        if not good:
            bad.append(f"intent {u.intent} -> {r.intent} ({r.intent_confidence:.2f})")
        if u.intent == COMPLAINT and u.category is not None:
            right = category_right(r.category, u.category)
            cat_n += 1
            cat_ok += right
            calib.append((float(r.category_confidence or 0.0), right))
            if not right:
                bad.append(f"category {u.category} -> {r.category} ({r.category_confidence:.2f})")
            cat = zone.category_by_key.get(u.category)
            if cat is not None and cat.confidential:
                conf_n += 1
                got = zone.category_by_key.get(r.category or "")
                conf_ok += bool(got is not None and got.confidential)
        if u.has_district:
            dist_n += 1
            dist_ok += r.district == u.district
            if r.district != u.district:
                bad.append(f"district {u.district} -> {r.district}")
        if not u.emergency and r.intent == "emergency":
            false_em += 1
            bad.append("false emergency")
        if u.emergency and r.intent != "emergency":
            missed_em += 1
            bad.append(f"missed emergency (got {r.intent})")
        if bad:
            fails.append(f"{'; '.join(bad)}: {u.text}")
    ece = 0.0
    for b in range(10):
        inside = [(c, ok) for c, ok in calib if min(int(c * 10), 9) == b]
        if inside:
            conf = sum(c for c, _ in inside) / len(inside)
            acc = sum(ok for _, ok in inside) / len(inside)
            ece += abs(acc - conf) * len(inside) / len(calib)
    above = [ok for c, ok in calib if c >= threshold]
    figs = {
        "utterances": len(utts), "intent_accuracy": _rate(intent_ok, len(utts)),
        "category_accuracy": _rate(cat_ok, cat_n), "complaint_utterances": cat_n,
        "district_accuracy": _rate(dist_ok, dist_n), "district_utterances": dist_n,
        "utt_false_emergencies": false_em, "utt_non_emergency": sum(1 for u in utts if not u.emergency),
        "utt_missed_emergencies": missed_em, "utt_emergency": sum(1 for u in utts if u.emergency),
        "utt_confidential_recall": _rate(conf_ok, conf_n), "utt_confidential": conf_n,
        "ece": ece if calib else None, "category_threshold": threshold,
        "precision_above_threshold": _rate(sum(above), len(above)), "coverage_above_threshold": _rate(len(above),
                                                                                                        len(calib)),
    }
    return figs, fails


def score_stories(stories: list[Story]) -> tuple[dict[str, Any], list[Outcome], list[float]]:
    """The story figures, every outcome, and every turn's handle() time (ms)."""
    zone = get_zone()
    outs = [replay(s) for s in stories]
    ticket = [(s, o) for s, o in zip(stories, outs, strict=True) if s.ticket]
    filed = [o for _, o in ticket if o.complaint is not None]
    cd_ok = sum(1 for s, o in ticket if o.complaint is not None and category_right(o.complaint.category, s.category)
                and o.complaint.district == s.district)
    false_em = missed_em = conf_n = conf_ok = 0
    for s, o in zip(stories, outs, strict=True):
        em = bool(o.complaint is not None and o.complaint.emergency)
        if s.emergency is False and (em or o.entered_emergency):
            false_em += 1
            o.why = "; ".join(w for w in (o.why, "false emergency") if w)
        if s.emergency and not em and not o.entered_emergency:
            missed_em += 1
            o.why = "; ".join(w for w in (o.why, "missed emergency") if w)
        cat = zone.category_by_key.get(s.category or "")
        if s.confidential or (cat is not None and cat.confidential):
            conf_n += 1
            conf_ok += bool(o.complaint is not None and o.complaint.confidential)
    times = [t for o in outs for t in o.times_ms]
    turns = [o.turns for o in filed]
    figs = {
        "stories": len(stories), "ticket_stories": len(ticket),
        "tickets_right": _rate(cd_ok, len(ticket)), "stories_right": _rate(sum(o.ok for o in outs), len(outs)),
        "median_turns": statistics.median(turns) if turns else None,
        "story_false_emergencies": false_em, "story_non_emergency": sum(1 for s in stories if s.emergency is False),
        "story_missed_emergencies": missed_em, "story_emergency": sum(1 for s in stories if s.emergency),
        "story_confidential_recall": _rate(conf_ok, conf_n), "story_confidential": conf_n,
        "turns_timed": len(times), "p50_ms": _p(times, 0.5), "p95_ms": _p(times, 0.95),
    }
    return figs, outs, times


def _story_fail_text(s: Story, o: Outcome) -> str:
    c = o.complaint
    want = (f"ticket={s.ticket} category={s.category} district={s.district} station={s.station} "
            f"emergency={s.emergency}")
    got = ("no complaint" if c is None else f"category={c.category} district={c.district} station={c.station_code} "
           f"emergency={c.emergency} confidential={c.confidential}")
    return f"\nSTORY {o.name}: {o.why}\n  want {want}\n  got  {got} after {o.turns} turns\n  " + \
        "\n  ".join(o.transcript)


def _fmt(key: str, v: Any, den: Any = None) -> str:
    if v is None:
        return "-"
    if key.endswith("_ms"):
        return f"{v:.2f} ms"
    if key in ("median_turns",):
        return f"{v:g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v}/{den}" if den is not None else str(v)
    if key == "ece":
        return f"{v:.3f}"
    return f"{v:.1%}" + (f" (n={den})" if den is not None else "")


_ROWS = [  # (key, label, key of the denominator shown beside it)
    ("intent_accuracy", "utterances: intent accuracy", "utterances"),
    ("category_accuracy", "utterances: category accuracy (complaints)", "complaint_utterances"),
    ("district_accuracy", "utterances: district accuracy", "district_utterances"),
    ("utt_false_emergencies", "utterances: false emergencies", "utt_non_emergency"),
    ("utt_missed_emergencies", "utterances: missed emergencies", "utt_emergency"),
    ("utt_confidential_recall", "utterances: confidential recall", "utt_confidential"),
    ("ece", "utterances: calibration error (ECE, 10 bins)", None),
    ("precision_above_threshold", "utterances: precision at/above threshold", None),
    ("coverage_above_threshold", "utterances: coverage at/above threshold", None),
    ("tickets_right", "stories: ticket, right category+district", "ticket_stories"),
    ("stories_right", "stories: right overall", "stories"),
    ("median_turns", "stories: median citizen turns to a ticket", None),
    ("story_false_emergencies", "stories: false emergencies", "story_non_emergency"),
    ("story_missed_emergencies", "stories: missed emergencies", "story_emergency"),
    ("story_confidential_recall", "stories: confidential recall", "story_confidential"),
    ("p50_ms", "turn latency p50", None),
    ("p95_ms", "turn latency p95", None),
]


def meets(key: str, v: Any) -> bool | None:
    """Whether a figure meets its goal (None: no goal, or no figure)."""
    if key not in GOALS or v is None:
        return None
    op, bound = GOALS[key]
    return {">=": v >= bound, "<=": v <= bound, "<": v < bound, "==": v == bound}[op]


def print_table(sets: dict[str, dict[str, Any]]) -> None:
    """metric | blind | old | goal, a ✓ or ✗ beside every figure that has a goal."""
    names = list(sets)
    w = max(len(r[1]) for r in _ROWS)
    print(f"{'metric':<{w}} | " + " | ".join(f"{n:<22}" for n in names) + " | goal")
    print("-" * (w + 1) + ("+" + "-" * 24) * len(names) + "+" + "-" * 12)
    for key, label, den in _ROWS:
        cells = []
        for n in names:
            f = sets[n]
            cell = _fmt(key, f.get(key), f.get(den) if den else None)
            ok = meets(key, f.get(key))
            cells.append(f"{cell + ('' if ok is None else ' ✓' if ok else ' ✗'):<22}")
        goal = f"{GOALS[key][0]} {GOALS[key][1]}" if key in GOALS else ""
        if key in GOALS and isinstance(GOALS[key][1], float) and GOALS[key][1] < 1 and not key.endswith("_ms"):
            goal = f"{GOALS[key][0]} {GOALS[key][1]:.0%}"
        elif key.endswith("_ms") and key in GOALS:
            goal = f"{GOALS[key][0]} {GOALS[key][1]:g} ms"
        print(f"{label:<{w}} | " + " | ".join(cells) + f" | {goal}")


def blind_main(argv: list[str]) -> int:
    """--blind: the blind set beside the old held-out set; prints the table (and -v failures, --json)."""
    ap = argparse.ArgumentParser(prog="bench/dialogue.py --blind")
    ap.add_argument("--blind", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every failing story and utterance")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    ap.add_argument("--blind-dir", default=str(BLIND), help="folder with nlu.yml and stories.yml")
    args = ap.parse_args(argv)
    folder = Path(args.blind_dir)
    missing = [p for p in (folder / "nlu.yml", folder / "stories.yml") if not p.exists()]
    if missing:
        print(f"blind set missing: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    import bot.engine
    bot.engine.warm()
    handle(Inbound("whatsapp", START, "hi", phone="+919800000001"), {})  # train / load once, not timed
    sets = {"blind": (load_blind_utterances(folder), load_blind_stories(folder)),
            "old": (load_old_utterances(), load_old_stories())}
    figures: dict[str, dict[str, Any]] = {}
    details: dict[str, tuple[list[str], list[tuple[Story, Outcome]]]] = {}
    all_times: list[float] = []
    for name, (utts, stories) in sets.items():
        uf, ufails = score_utterances(utts)
        sf, outs, times = score_stories(stories)
        all_times += times
        figures[name] = {**uf, **sf}
        details[name] = (ufails, [(s, o) for s, o in zip(stories, outs, strict=True) if not o.ok or o.why])
    print(f"blind: {len(sets['blind'][0])} utterances, {len(sets['blind'][1])} stories ({folder}); "
          f"old: {len(sets['old'][0])} utterances, {len(sets['old'][1])} stories ({OLD})")
    print(f"category threshold: {figures['blind']['category_threshold']}")
    print_table(figures)
    both = {"turns_timed": len(all_times), "p50_ms": _p(all_times, 0.5), "p95_ms": _p(all_times, 0.95)}
    ok95 = meets("p95_ms", both["p95_ms"])
    print(f"turn latency over both sets ({both['turns_timed']} turns): p50 {_fmt('p50_ms', both['p50_ms'])}, "
          f"p95 {_fmt('p95_ms', both['p95_ms'])}{'' if ok95 is None else ' ✓' if ok95 else ' ✗'} (goal < 5 ms)")
    if args.verbose:
        for name, (ufails, sfails) in details.items():
            print(f"\n=== {name}: {len(ufails)} failing utterances ===")
            print("\n".join(ufails))
            print(f"\n=== {name}: {len(sfails)} failing stories (wrong, or right but a false / missed emergency) ===")
            for s, o in sfails:
                print(_story_fail_text(s, o))
    if args.json:
        out = {"sets": figures, "both": both,
               "goals": {k: {"op": op, "bound": b} for k, (op, b) in GOALS.items()},
               "meets": {n: {k: meets(k, f.get(k)) for k in GOALS} for n, f in figures.items()}}
        Path(args.json).write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    if "--blind" in sys.argv[1:]:
        sys.exit(blind_main(sys.argv[1:]))
    main()
