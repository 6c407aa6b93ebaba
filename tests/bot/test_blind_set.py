"""The blind test set (tests/bot/blind/): never trained on, as big as the issue asks, consistent with the
zone; and the scorer of ``bench/dialogue.py --blind`` can fail a story."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from rapidfuzz import fuzz, process

from bot import nlu
from bot.types import ComplaintDraft, Inbound, Reply, Turn
from zone import get_zone

ROOT = Path(__file__).resolve().parent.parent.parent
BLIND = ROOT / "tests" / "bot" / "blind"
DATA = ROOT / "bot" / "data"
DUP_RATIO = 85  # rapidfuzz ratio on lower-cased text at or above which two sentences are near-duplicates
MIN_WORDS = 3  # shorter texts ("haan", "1", "Ramesh Kumar", "pata nahi") are answers every set shares
DIALOGUE_INTENTS = {"greet", "help", "check_status", "give_feedback", "cancel", "deny", "affirm", "change_language",
                    "out_of_scope", "other_language"}


def _bench() -> Any:
    """bench/dialogue.py, imported by path (bench/ is no package)."""
    name = "bench_dialogue"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "dialogue.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


FINAL = ROOT / "tests" / "bot" / "blind_final"  # a second blind set, run once at the end of issue 16


def _load(name: str, folder: Path = BLIND) -> Any:
    path = folder / name
    if not path.exists():
        pytest.fail(f"the blind set is missing: {path}")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _examples(folder: Path = BLIND) -> list[tuple[str, dict[str, Any]]]:
    """(intent, example) for every utterance of a blind set's nlu.yml."""
    return [(b["intent"], ex) for b in _load("nlu.yml", folder).get("nlu", []) for ex in b.get("examples", [])]


def _stories(folder: Path = BLIND) -> list[dict[str, Any]]:
    return _load("stories.yml", folder).get("stories", [])


def _rasa_lines(examples: Any) -> list[str]:
    return [nlu.strip_annotations(ln.strip()[2:]) for ln in str(examples or "").splitlines()
            if ln.strip().startswith("- ")]


def training_sentences() -> list[str]:
    """Every training sentence in bot/data: the intent examples and the category examples."""
    return [t for t, _ in nlu.load_training()] + [t for t, _ in nlu.load_category_examples()]


def blind_sentences() -> list[str]:
    """Every text of the blind sets: the utterances and every story step."""
    texts: list[str] = []
    for folder in [BLIND] + ([FINAL] if (FINAL / "stories.yml").exists() else []):
        texts += [nlu.strip_annotations(str(ex["text"])) for _, ex in _examples(folder)]
        texts += [nlu.strip_annotations(str(step["user"])) for s in _stories(folder) for step in s.get("steps", [])
                  if "user" in step]
    return texts


def test_blind_set_is_never_trained_on() -> None:
    train = sorted({t.lower().strip() for t in training_sentences() if t.strip()})
    blind = sorted({t for t in blind_sentences() if len(t.split()) >= MIN_WORDS})
    assert train and blind
    scores = process.cdist([b.lower() for b in blind], train, scorer=fuzz.ratio, score_cutoff=DUP_RATIO, workers=-1)
    dups = [(blind[i], train[j], float(scores[i, j])) for i, j in zip(*scores.nonzero(), strict=True)]
    assert not dups, f"{len(dups)} blind sentences nearly duplicate training (ratio >= {DUP_RATIO}):\n" + "\n".join(
        f"  blind {b!r} ~ training {t!r} ({r:.0f})" for b, t, r in dups[:50])


def test_blind_set_size_and_zone() -> None:
    zone = get_zone()
    cats, districts, stations = zone.category_by_key, zone.district_by_key, zone.station_by_code
    examples, stories = _examples(), _stories()
    assert len(examples) >= 400, f"{len(examples)} blind utterances, want >= 400"
    assert len(stories) >= 120, f"{len(stories)} blind stories, want >= 120"
    md = [ex.get("metadata") or {} for _, ex in examples]
    emergency = sum(1 for m in md if m.get("emergency") is True)
    calm = sum(1 for m in md if "emergency" in m and m["emergency"] is False)
    assert emergency >= 20, f"{emergency} utterances with emergency: true, want >= 20"
    assert calm >= 20, f"{calm} utterances with emergency: false, want >= 20"
    intents = {i for i, _ in examples}
    unknown = intents - set(cats) - DIALOGUE_INTENTS
    assert not unknown, f"blind intents that are neither a category nor a dialogue intent: {sorted(unknown)}"
    assert not set(cats) - intents, f"categories without a blind utterance: {sorted(set(cats) - intents)}"
    bad = []
    for (_, ex), m in zip(examples, md, strict=True):
        if m.get("district") is not None and m["district"] not in districts:
            bad.append(f"utterance {ex['text']!r}: district {m['district']!r}")
        if m.get("station") is not None and m["station"] not in stations:
            bad.append(f"utterance {ex['text']!r}: station {m['station']!r}")
    for s in stories:
        exp = (s.get("metadata") or {}).get("expect") or {}
        name = s.get("story")
        if not s.get("steps"):
            bad.append(f"story {name}: no steps")
        if "ticket" not in exp or "emergency" not in exp:
            bad.append(f"story {name}: expect lacks ticket or emergency")
        if exp.get("category") is not None and exp["category"] not in cats:
            bad.append(f"story {name}: category {exp['category']!r}")
        if exp.get("district") is not None and exp["district"] not in districts:
            bad.append(f"story {name}: district {exp['district']!r}")
        if exp.get("station") is not None:
            stn = stations.get(exp["station"])
            if stn is None:
                bad.append(f"story {name}: station {exp['station']!r}")
            elif exp.get("district") is not None and stn.district != exp["district"]:
                bad.append(f"story {name}: station {stn.code} is in {stn.district}, not {exp['district']}")
        if exp.get("ticket") and (exp.get("category") is None or exp.get("district") is None):
            bad.append(f"story {name}: a ticket story must expect a category and a district")
    assert not bad, "\n".join(bad)


# -- the scorer can fail -----------------------------------------------------------------------------


class FakeEngine:
    """A tiny scripted engine: "phone" in the first message means theft_mobile, else it asks the category
    (buttons); then it asks the district, then confirms and hands the complaint over."""

    def __init__(self, buttons: list[str] | None = None) -> None:
        self.buttons = buttons or ["c:theft_mobile", "c:land_dispute", "c:other"]
        self.seen: list[str] = []

    def __call__(self, msg: Inbound, state: dict[str, Any], tickets: Any = None) -> Turn:
        st = dict(state)
        self.seen.append(msg.text)
        slots = dict(st.get("slots") or {})
        asked = st.get("asked")
        if st.get("mode") is None:
            st["mode"], slots["description"] = "form", msg.text
            if "phone" in msg.text:
                slots["category"] = "theft_mobile"
        elif asked == "category" and msg.text.isdigit():
            slots["category"] = st["buttons"][int(msg.text) - 1][2:]
        elif asked == "district":
            slots["district"] = {"kanpur": "kanpur_nagar", "jhansi": "jhansi"}.get(msg.text.lower())
        elif asked == "confirm" and msg.text == "1":
            st.update(mode=None, asked=None, buttons=[], slots={})
            draft = ComplaintDraft(description=slots["description"], category=slots.get("category"),
                                   district=slots.get("district"))
            return Turn([Reply("done")], st, complaint=draft)
        st["slots"] = slots
        if "category" not in slots:
            st["asked"], st["buttons"] = "category", list(self.buttons)
        elif "district" not in slots:
            st["asked"], st["buttons"] = "district", []
        else:
            st["asked"], st["buttons"] = "confirm", ["yes", "edit"]
        return Turn([Reply(f"ask {st['asked']}")], st)


def _story(text: str, category: str, district: str = "kanpur_nagar", **kw: Any) -> Any:
    bd = _bench()
    return bd.Story(name=kw.pop("name", "s"), turns=[{"user": text}], category=category, district=district,
                    facts=kw.pop("facts", {"district": "kanpur", "name": "Ramesh"}), **kw)


def test_replay_scores_a_right_story_right_and_a_wrong_one_wrong() -> None:
    bd = _bench()
    right = bd.replay(_story("mera phone chori ho gaya", "theft_mobile"), handler=FakeEngine())
    assert right.ok, right.why
    assert right.turns == 3  # the step, the district, "1" to confirm
    wrong = bd.replay(_story("mera phone chori ho gaya", "land_dispute"), handler=FakeEngine())
    assert not wrong.ok and "category" in wrong.why
    elsewhere = bd.replay(_story("mera phone chori ho gaya", "theft_mobile", "jhansi"), handler=FakeEngine())
    assert not elsewhere.ok and "district" in elsewhere.why
    filed = bd.replay(_story("mera phone chori ho gaya", "theft_mobile", ticket=False), handler=FakeEngine())
    assert not filed.ok  # no ticket was expected, one was handed over


def test_replay_citizen_picks_the_category_button() -> None:
    bd = _bench()
    eng = FakeEngine()
    out = bd.replay(_story("kuch bura hua", "land_dispute"), handler=eng)
    assert out.ok, out.why
    assert eng.seen == ["kuch bura hua", "2", "kanpur", "1"]
    assert bd.pick_button(["c:theft_mobile", "c:other"], "other") == 2
    assert bd.pick_button(["g:theft", "g:land", "c:other"], "land_dispute") == 2  # the category's group
    assert bd.pick_button(["c:theft_mobile", "c:other"], "land_dispute") == 2  # else other
    assert bd.pick_button(["x", "y"], "land_dispute") == 2  # else the last


def test_replay_stops_after_fourteen_citizen_turns() -> None:
    bd = _bench()

    def nagging(msg: Inbound, state: dict[str, Any], tickets: Any = None) -> Turn:
        return Turn([Reply("where?")], {**state, "mode": "form", "asked": "place", "buttons": []})

    out = bd.replay(_story("mera phone chori ho gaya", "theft_mobile"), handler=nagging)
    assert not out.ok and out.turns == bd.MAX_TURNS


def test_replay_with_the_real_engine() -> None:
    bd = _bench()
    facts = {"district": "kanpur", "place": "Rawatpur bus stand", "time": "kal shaam", "name": "Ramesh Kumar"}
    text = "mera mobile phone kal shaam Rawatpur bus stand pe chori ho gaya"
    right = bd.replay(_story(text, "theft_mobile", facts=facts, emergency=False))
    assert right.ok, right.why + "\n" + "\n".join(right.transcript)
    wrong = bd.replay(_story(text, "land_dispute", facts=facts, emergency=False))
    assert not wrong.ok and "category" in wrong.why
