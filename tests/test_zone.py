"""The zone is validated at start-up; each mistake stops it with one line naming the bad key."""

import shutil
from pathlib import Path

import pytest
import yaml

from zone import REQUIRED_DISTRICTS, ConfigError, load_zone, messages

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_zone_is_valid():
    z = load_zone(ROOT / "config.yaml")
    assert [d.key for d in z.districts] == list(REQUIRED_DISTRICTS)
    assert z.chain_for("kanpur_nagar") == ["sho", "acp", "dcp", "jcp", "cp"]
    assert z.chain_for("jhansi")[-1] == "ig_zone"
    assert len(z.stations_in("kanpur_nagar")) >= 10
    for d in z.districts:
        assert len([s for s in z.stations_in(d.key) if s.kind == "thana"]) >= 5, d.key
        assert z.nodal_station(d.key).nodal
    assert z.sla.hours == 24 and z.zone.emergency_number == "112"
    assert set(z.templates) == set(messages.section("sms"))
    for t in z.templates.values():
        assert t.text("hi") != t.text("en") and len(t.dlt_template_id) == 19


def _broken(tmp_path, edit_config=None, edit_csv=None):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    (tmp_path / "data").mkdir(exist_ok=True)
    shutil.copy(ROOT / "data" / "stations.csv", tmp_path / "data" / "stations.csv")
    if edit_config:
        edit_config(cfg)
    if edit_csv:
        p = tmp_path / "data" / "stations.csv"
        p.write_text(edit_csv(p.read_text(encoding="utf-8")), encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_zone(path)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_missing_district_is_named(tmp_path):
    msg = _broken(tmp_path, lambda c: c.update(districts=[d for d in c["districts"] if d["key"] != "jalaun"]))
    assert "jalaun" in msg


def test_station_without_coordinates_is_named(tmp_path):
    def drop(text):
        lines = text.splitlines()
        parts = lines[3].split(",")
        parts[5] = ""
        lines[3] = ",".join(parts)
        return "\n".join(lines) + "\n"

    msg = _broken(tmp_path, edit_csv=drop)
    assert "no coordinates" in msg and "line 4" in msg


def test_duplicate_station_code_is_named(tmp_path):
    msg = _broken(tmp_path, edit_csv=lambda t: t + t.splitlines()[1] + "\n")
    assert "duplicate station code 'KNP-KOTWALI'" in msg


def test_unknown_category_in_routing_rule_is_named(tmp_path):
    def bad(c):
        c["categories"][4]["route"] = {"unit": "bomb_squad"}

    msg = _broken(tmp_path, bad)
    assert "categories[4].route.unit" in msg


def test_unknown_key_and_bad_value(tmp_path):
    assert "sla.hourz: unknown key" in _broken(tmp_path, lambda c: c["sla"].update(hourz=3))
    assert "sla.hours" in _broken(tmp_path, lambda c: c["sla"].update(hours=-1))


def test_unknown_rank_in_chain(tmp_path):
    assert "chains.commissionerate: unknown rank 'dgp'" in _broken(
        tmp_path, lambda c: c["chains"]["commissionerate"].append("dgp"))


def test_every_sms_text_has_its_registered_dlt_template_id(tmp_path):
    msg = _broken(tmp_path, lambda c: c["templates"].pop("otp"))
    assert msg.startswith("config.yaml: templates.otp:") and "sms.otp has no DLT template id" in msg


def test_a_dlt_template_id_for_an_unknown_template_is_named(tmp_path):
    msg = _broken(tmp_path, lambda c: c["templates"].update(otp_voice={"dlt_template_id": "1107172000000000099"}))
    assert "templates.otp_voice: a DLT template id for an unknown template" in msg


@pytest.mark.parametrize("bad", ["110717200000000001", "11071720000000000a1", "", None])
def test_a_dlt_template_id_that_is_not_19_digits_is_named(tmp_path, bad):
    msg = _broken(tmp_path, lambda c: c["templates"]["disposed"].update(dlt_template_id=bad))
    assert "templates.disposed.dlt_template_id: must be the 19-digit DLT template id" in msg


def test_an_sms_text_left_in_config_is_named(tmp_path):
    """The texts are the catalogue's; a config written before keeps its ids, not a second copy of the words."""
    msg = _broken(tmp_path, lambda c: c["templates"]["otp"].update(en="Bharosa: your code is {code}."))
    assert "templates: otp: its text is sms.otp in zone/messages.yaml" in msg


def test_an_unquoted_dlt_template_id_is_read_as_its_digits(tmp_path):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    cfg["templates"]["otp"] = {"dlt_template_id": 1107172000000000009}
    shutil.copytree(ROOT / "data", tmp_path / "data")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    otp = load_zone(tmp_path / "config.yaml").templates["otp"]
    assert otp.dlt_template_id == "1107172000000000009"
    body = otp.render("en", code="482913")
    assert body == "Bharosa: your code is 482913. It is valid for 10 minutes. -UP Police"
    assert otp.pattern("en").match(body) and not otp.pattern("hi").match(body)


@pytest.mark.parametrize("unset,named", [
    ("TWILIO_SMS_FROM", "TWILIO_SMS_FROM"),
    ("TWILIO_WHATSAPP_FROM", "TWILIO_WHATSAPP_FROM"),
    ("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN"),
])
def test_production_without_our_own_numbers_stops_with_the_name(monkeypatch, unset, named):
    """Without them, alerts would go out from Twilio's test number or the WhatsApp sandbox and all fail."""
    from app import check_environment

    monkeypatch.delenv("BHAROSA_ENV", raising=False)
    monkeypatch.delenv(unset)
    with pytest.raises(ConfigError, match=named):
        check_environment()


def test_a_state_sms_gateway_needs_no_twilio_sms_number(monkeypatch):
    from app import check_environment

    monkeypatch.delenv("BHAROSA_ENV", raising=False)
    monkeypatch.delenv("TWILIO_SMS_FROM")
    monkeypatch.setenv("BHAROSA_SMS_SENDER", "tests.channels.fake_gateway:Gateway")
    monkeypatch.setenv("BHAROSA_SECRET_KEY", "k" * 64)
    check_environment()  # no error


def test_the_one_phone_rule():
    from zone import phones

    # a provider's sender: possible numbers in any of the forms providers write them
    assert phones.sender("whatsapp:+919839012345") == phones.sender("tel:+919839012345") == "+919839012345"
    assert phones.sender("+91 98390 1234") == "+91983901234"  # possible, though not a valid number
    assert phones.sender("hello") is None and phones.sender("") is None and phones.sender(None) is None
    # what a person typed must be valid; Indian without +91
    assert phones.typed("98390 12345") == "+919839012345"
    assert phones.typed("+91 98390 1234") is None and phones.typed("12345") is None
    assert phones.find_in("mera number 98390 12345 hai") == "+919839012345"
    assert phones.is_mobile_of("+919839012345", ["IN"]) and not phones.is_mobile_of("+915122345678", ["IN"])
    assert not phones.is_mobile_of("+447700900123", ["IN"])
    assert phones.country_codes(["IN", "NP", "IN"]) == ["+91", "+977"]
