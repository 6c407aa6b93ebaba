"""Evaluate the engine on the frozen held-out set in tests/bot/testset/.

``python -m bot.evaluate`` first drops every test item that nearly duplicates a training example
(rapidfuzz ratio >= 85 on lower-cased text) and says how many, then prints intent accuracy, entity
precision / recall / F1, the share of stories completed with the right category and district, and
the median number of turns to a complete complaint.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz, process

from bot.engine import handle
from bot.nlu import extract, load_category_examples, load_training
from bot.types import Inbound, Media

ROOT = Path(__file__).resolve().parent.parent
TESTSET = ROOT / "tests" / "bot" / "testset"
IST = timezone(timedelta(hours=5, minutes=30))
AT = datetime(2025, 3, 12, 10, 0, tzinfo=IST)
DUP_RATIO = 85
ENTITIES = ("district", "station", "category", "ticket_ref", "rating")


def training_texts() -> list[str]:
    """Every training example, lower-cased."""
    return [t.lower() for t, _ in load_training()] + [t.lower() for t, _ in load_category_examples()]


def near_duplicate(text: str, train: list[str]) -> bool:
    """True if some training example has rapidfuzz ratio >= 85 with the text."""
    return process.extractOne(text.lower(), train, scorer=fuzz.ratio, score_cutoff=DUP_RATIO) is not None


class FakeTickets:
    """A citizen with no tickets (stories only file complaints)."""

    def my_tickets(self) -> list[dict[str, Any]]:
        return []

    def find_ticket(self, ref: str) -> dict[str, Any] | None:
        return None

    def give_feedback(self, ref: str, rating: int, comment: str, level: str | None) -> str:
        return "not_found"


def inbound(turn: dict[str, Any], channel: str, phone: str | None, at: datetime) -> Inbound:
    """Build the Inbound for one story turn."""
    if "location" in turn:
        lat, lon = turn["location"]
        return Inbound(channel, at, kind="location", lat=lat, lon=lon, phone=phone)
    if "media" in turn:
        return Inbound(channel, at, text=turn.get("user", ""), kind="media",
                       media=[Media(turn["media"], attachment_id=101)], phone=phone)
    if "button" in turn:
        return Inbound(channel, at, kind="button", button=str(turn["button"]), phone=phone)
    if "transcript" in turn:
        return Inbound(channel, at, text=turn["transcript"], kind="transcript",
                       confidence=turn.get("confidence"), phone=phone)
    return Inbound(channel, at, text=str(turn.get("user", "")), phone=phone)


@dataclass
class StoryResult:
    """How one story went."""

    name: str
    ok: bool
    turns: int | None
    why: str = ""
    transcript: list[str] = field(default_factory=list)


def run_story(story: dict[str, Any], tickets: Any = None) -> StoryResult:
    """Replay one story through :func:`bot.engine.handle` and check the complaint it hands over."""
    channel = story.get("channel", "whatsapp")
    phone = story.get("phone", "+919800000001") if "phone" in story else "+919800000001"
    state: dict[str, Any] = {}
    exp = story.get("expect", {})
    draft, used, log = None, None, []
    tickets = tickets or FakeTickets()
    for i, turn in enumerate(story["turns"], 1):
        msg = inbound(turn, channel, phone, AT + timedelta(minutes=i))
        tr = handle(msg, state, tickets)
        state = tr.state
        log.append(f"> {turn}")
        log += [r.as_text() for r in tr.replies]
        want = turn.get("expect_contains")
        if want and not any(want in r.as_text() for r in tr.replies):
            return StoryResult(story["name"], False, None, f"turn {i}: no '{want}' in reply", log)
        if tr.complaint:
            draft, used = tr.complaint, i
            break
    if exp.get("complaint") is False:
        return StoryResult(story["name"], draft is None, None, "a complaint was handed over" if draft else "", log)
    if draft is None:
        return StoryResult(story["name"], False, None, "no complaint", log)
    checks = {"category": draft.category, "district": draft.district, "station": draft.station_code,
              "emergency": draft.emergency, "confidential": draft.confidential,
              "alert_phone": draft.extra.get("alert_phone"), "attachments": len(draft.attachment_ids)}
    bad = [f"{k}={checks[k]!r} (want {v!r})" for k, v in exp.items() if k in checks and checks[k] != v]
    return StoryResult(story["name"], not bad, used, "; ".join(bad), log)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate(verbose: bool = False) -> dict[str, Any]:
    """Run the whole evaluation and return the figures (also printed)."""
    train = training_texts()
    utts = yaml.safe_load((TESTSET / "utterances.yml").read_text(encoding="utf-8"))
    stories = yaml.safe_load((TESTSET / "stories.yml").read_text(encoding="utf-8"))
    kept = [u for u in utts if not near_duplicate(u["text"], train)]

    def first_text(s: dict[str, Any]) -> str:
        t0 = s["turns"][0]
        return str(t0.get("user") or t0.get("transcript") or "")

    kept_stories = [s for s in stories if not near_duplicate(first_text(s), train)]
    print(f"test utterances: {len(utts)}, dropped as near-duplicates of training (ratio >= {DUP_RATIO}): "
          f"{len(utts) - len(kept)}, kept {len(kept)}")
    print(f"test stories: {len(stories)}, dropped (first message near-duplicate): "
          f"{len(stories) - len(kept_stories)}, kept {len(kept_stories)}")
    correct = 0
    counts = {e: [0, 0, 0] for e in ENTITIES}
    errors = []
    for u in kept:
        r = extract(u["text"], AT)
        if r.intent == u["intent"]:
            correct += 1
        else:
            errors.append(f"intent {u['intent']} -> {r.intent} ({r.intent_confidence:.2f}): {u['text']}")
        got = {"district": r.district, "station": r.station, "category": r.category, "ticket_ref": r.ticket_ref,
               "rating": r.rating}
        for e in ENTITIES:
            gold, pred = u.get(e), got[e]
            if e == "category" and u["intent"] != "file_complaint":
                continue
            if e == "rating" and u["intent"] != "give_feedback":
                continue
            c = counts[e]
            if pred is not None and gold is not None and str(pred) == str(gold):
                c[0] += 1
            else:
                if pred is not None:
                    c[1] += 1
                if gold is not None:
                    c[2] += 1
                if pred is not None or gold is not None:
                    errors.append(f"{e} {gold} -> {pred}: {u['text']}")
    acc = correct / len(kept) if kept else 0.0
    print(f"intent accuracy: {acc:.1%} ({correct}/{len(kept)})")
    figures: dict[str, Any] = {"intent_accuracy": acc}
    for e in ENTITIES:
        p, rcl, f1 = prf(*counts[e])
        figures[f"{e}_f1"] = f1
        print(f"entity {e:<10} precision {p:.1%}  recall {rcl:.1%}  F1 {f1:.1%}")
    loc = [counts["district"][i] + counts["station"][i] for i in range(3)]
    p, rcl, f1 = prf(*loc)
    figures["place_f1"] = f1
    print(f"entity district+station precision {p:.1%}  recall {rcl:.1%}  F1 {f1:.1%}")
    results = [run_story(s) for s in kept_stories]
    ok = [r for r in results if r.ok]
    turns = [r.turns for r in ok if r.turns]
    figures["stories_ok"] = len(ok) / len(results) if results else 0.0
    figures["median_turns"] = statistics.median(turns) if turns else None
    print(f"stories completed correctly: {figures['stories_ok']:.1%} ({len(ok)}/{len(results)})")
    print(f"median turns to a complete complaint: {figures['median_turns']}")
    if verbose:
        print("\n".join(errors))
        for r in results:
            if not r.ok:
                print(f"\nSTORY {r.name}: {r.why}\n  " + "\n  ".join(r.transcript))
    return figures


if __name__ == "__main__":
    evaluate(verbose="-v" in sys.argv)
