"""Write a complete Rasa 3 project from the engine's own content.

``python -m bot.export_rasa DIR`` writes config.yml, domain.yml, data/nlu.yml (intent examples, the
category examples as annotated file_complaint examples, and lookup tables and synonyms for districts,
stations and categories generated from config.yaml) and data/stories.yml. Keys are checked against
Rasa's schema keys before writing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from bot.forms import EDITABLE, SLOTS
from bot.nlu import DATA, INTENTS, load_category_examples
from bot.texts import T
from zone import get_zone

RASA_TOP = {
    "domain": {"version", "intents", "entities", "slots", "responses", "forms", "actions", "session_config"},
    "nlu": {"version", "nlu"},
    "stories": {"version", "stories"},
    "config": {"recipe", "language", "pipeline", "policies", "assistant_id"},
}
NLU_ITEM = {"intent", "examples", "synonym", "lookup", "regex"}
ENTITIES = ["district", "station", "category", "place", "time", "ticket_ref", "rating", "person_name"]


def _check(kind: str, doc: dict[str, Any]) -> None:
    extra = set(doc) - RASA_TOP[kind]
    if extra:
        raise ValueError(f"{kind}: keys not in Rasa's schema: {sorted(extra)}")
    for item in doc.get("nlu", []):
        keys = set(item) - {"examples"}
        if len(keys) != 1 or not keys <= NLU_ITEM:
            raise ValueError(f"nlu item with bad keys: {sorted(item)}")


class _Literal(str):
    pass


def _literal(dumper: yaml.Dumper, data: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


yaml.add_representer(_Literal, _literal, Dumper=yaml.SafeDumper)


def _examples(items: list[str]) -> _Literal:
    return _Literal("".join(f"- {x}\n" for x in items))


def build_nlu() -> dict[str, Any]:
    """The data/nlu.yml document."""
    z = get_zone()
    src = yaml.safe_load((DATA / "nlu.yml").read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = []
    for block in src["nlu"]:
        ex = [line.strip()[2:] for line in block["examples"].splitlines() if line.strip().startswith("- ")]
        if block["intent"] == "file_complaint":
            ex += [f'[{t}]{{"entity": "category", "value": "{k}"}}' for t, k in load_category_examples()]
        items.append({"intent": block["intent"], "examples": _examples(ex)})
    for d in z.districts:
        items.append({"synonym": d.key, "examples": _examples(sorted({d.name_en, d.name_hi, *d.variants}))})
    for s in z.stations:
        items.append({"synonym": s.code, "examples": _examples(sorted({s.name_en, s.name_hi}))})
    for c in z.categories:
        if c.keywords:
            items.append({"synonym": c.key, "examples": _examples(sorted({c.name_en, c.name_hi, *c.keywords}))})
    items.append({"lookup": "district", "examples": _examples(
        sorted({v for d in z.districts for v in (d.name_en, d.name_hi, *d.variants)}))})
    items.append({"lookup": "station", "examples": _examples(
        sorted({v for s in z.stations for v in (s.name_en, s.name_hi)}))})
    items.append({"lookup": "category", "examples": _examples(
        sorted({k for c in z.categories for k in c.keywords}))})
    prefixes = "|".join(d.ref_prefix for d in z.districts)
    items.append({"regex": "ticket_ref", "examples": _examples([f"\\b({prefixes})-[A-HJ-NP-Z2-9]{{6}}\\b"])})
    doc = {"version": "3.1", "nlu": items}
    _check("nlu", doc)
    return doc


def build_domain() -> dict[str, Any]:
    """The domain.yml document: intents, entities, slots, the complaint form and its responses."""
    slot_names = ["description", "category", "district", "place", "station", "time", "person_name",
                  "confidential", "attachments", "alert_phone"]
    slots: dict[str, Any] = {}
    for s in slot_names:
        typ = "bool" if s == "confidential" else "list" if s == "attachments" else "text"
        mapping: dict[str, Any] = {"type": "from_entity", "entity": s} if s in ENTITIES else {"type": "from_text"}
        if typ != "text":
            mapping = {"type": "custom"}
        slots[s] = {"type": typ, "influence_conversation": False, "mappings": [mapping]}
    responses = {}
    for key, texts in T.items():
        name = f"utter_{key}"
        responses[name] = [{"text": texts["hi"], "condition": [{"type": "slot", "name": "language", "value": "hi"}]},
                           {"text": texts["en"]}]
    slots["language"] = {"type": "categorical", "values": ["hi", "en"], "influence_conversation": False,
                         "mappings": [{"type": "custom"}]}
    req = [s if s != "incident" else "time" for s in SLOTS if s != "alert_phone"]
    req = ["person_name" if s == "name" else s for s in req]
    doc = {
        "version": "3.1",
        "intents": list(INTENTS),
        "entities": ENTITIES,
        "slots": slots,
        "responses": responses,
        "forms": {"complaint_form": {"required_slots": req}},
        "actions": ["validate_complaint_form", "action_submit_complaint", "action_check_status",
                    "action_give_feedback"] + [f"action_ask_{s}" for s in EDITABLE],
        "session_config": {"session_expiration_time": int(get_zone().conversation.idle_expiry_minutes),
                           "carry_over_slots_to_new_session": False},
    }
    _check("domain", doc)
    return doc


def build_stories() -> dict[str, Any]:
    """Training stories for Rasa's policies (the happy paths the engine implements)."""
    doc = {"version": "3.1", "stories": [
        {"story": "file a complaint", "steps": [
            {"intent": "file_complaint"}, {"action": "complaint_form"}, {"active_loop": "complaint_form"},
            {"active_loop": None}, {"action": "action_submit_complaint"}]},
        {"story": "check status", "steps": [{"intent": "check_status"}, {"action": "action_check_status"}]},
        {"story": "feedback", "steps": [{"intent": "give_feedback"}, {"action": "action_give_feedback"}]},
        {"story": "greet", "steps": [{"intent": "greet"}, {"action": "utter_welcome"}]},
        {"story": "help", "steps": [{"intent": "help"}, {"action": "utter_help"}]},
        {"story": "emergency", "steps": [{"intent": "emergency"}, {"action": "utter_emergency"},
                                         {"action": "utter_emergency_offer"}]},
        {"story": "cancel", "steps": [{"intent": "cancel"}, {"action": "utter_cancelled"}]},
        {"story": "out of scope", "steps": [{"intent": "out_of_scope"}, {"action": "utter_oos"}]},
    ]}
    _check("stories", doc)
    return doc


def build_config() -> dict[str, Any]:
    """config.yml: a pipeline close to the engine's (char n-grams, regex and lookup features)."""
    doc = {
        "recipe": "default.v1", "language": "hi", "assistant_id": "bharosa",
        "pipeline": [
            {"name": "WhitespaceTokenizer"}, {"name": "RegexFeaturizer", "use_lookup_tables": True},
            {"name": "LexicalSyntacticFeaturizer"},
            {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
            {"name": "CountVectorsFeaturizer"},
            {"name": "DIETClassifier", "epochs": 100}, {"name": "EntitySynonymMapper"},
            {"name": "FallbackClassifier", "threshold": get_zone().conversation.low_confidence},
        ],
        "policies": [{"name": "RulePolicy"}, {"name": "MemoizationPolicy"}, {"name": "TEDPolicy", "epochs": 50}],
    }
    _check("config", doc)
    return doc


def export(out: Path) -> list[Path]:
    """Write the Rasa project under ``out``; returns the files written."""
    (out / "data").mkdir(parents=True, exist_ok=True)
    files = {out / "config.yml": build_config(), out / "domain.yml": build_domain(),
             out / "data" / "nlu.yml": build_nlu(), out / "data" / "stories.yml": build_stories()}
    for path, doc in files.items():
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=200), encoding="utf-8")
    return list(files)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m bot.export_rasa DIR", file=sys.stderr)
        return 2
    for p in export(Path(argv[0])):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
