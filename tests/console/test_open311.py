"""Open311 GeoReport v2: the spec's fields, JSON and XML, api_key rules, privacy, and no 5xx under fuzzing."""

import xml.etree.ElementTree as ET  # noqa: S405 (our own responses)

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models import Complaint

SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


@pytest.fixture
def api_key(db):
    from api.open311 import new_api_key

    with db.session() as s:
        return new_api_key(s, "jansunwai test")


def test_discovery_and_services(client):
    d = client.get("/open311/v2/discovery.json").get_json()
    assert d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(d["endpoints"][0]["formats"]) == {"application/json", "text/xml"}
    ET.fromstring(client.get("/open311/v2/discovery.xml").data)  # noqa: S314
    svcs = client.get("/open311/v2/services.json").get_json()
    assert {s["service_code"] for s in svcs} >= {"theft_mobile", "harassment", "other"}
    assert all(set(s) == SERVICE_FIELDS and s["metadata"] is False and s["type"] == "realtime" for s in svcs)
    root = ET.fromstring(client.get("/open311/v2/services.xml").data)  # noqa: S314
    assert root.tag == "services" and root[0].tag == "service" and root[0].find("service_code") is not None
    assert client.get("/open311/v2/services/theft_mobile.json").get_json()["attributes"] == []
    assert client.get("/open311/v2/services/nope.json").status_code == 404
    assert client.get("/open311/v2/services.yaml").status_code == 404


def test_post_needs_a_key_and_a_real_category(db, client, api_key, drain, recorder):
    form = {"service_code": "theft_vehicle", "description": "Bike stolen outside the market", "lat": "26.4705",
            "long": "80.35", "phone": "9839011111", "first_name": "Asha", "address_string": "Birhana Road"}
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 403 and r.get_json()[0]["code"] == 403
    r = client.post("/open311/v2/requests.json", data={**form, "api_key": "wrong"})
    assert r.status_code == 403
    r = client.post("/open311/v2/requests.xml", data={**form, "api_key": api_key, "service_code": "aliens"})
    assert r.status_code == 400 and ET.fromstring(r.data).find("error/code").text == "400"  # noqa: S314
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0
    r = client.post("/open311/v2/requests.json", data={**form, "api_key": api_key})
    assert r.status_code == 201
    ref = r.get_json()[0]["service_request_id"]
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == ref))
        assert c.channel == "open311" and c.district == "kanpur_nagar" and c.station_id is not None
    assert any(ref in m["Body"] for m in recorder.to("+919839011111"))
    got = client.get(f"/open311/v2/requests/{ref}.json").get_json()[0]
    assert set(got) == REQUEST_FIELDS
    assert got["status"] == "open" and got["expected_datetime"] and got["agency_responsible"]
    assert "9839011111" not in str(got) and "Asha" not in str(got) and got["address"] == ""
    keyed = client.get(f"/open311/v2/requests/{ref}.json?api_key={api_key}").get_json()[0]
    assert keyed["address"] == "Birhana Road" and keyed["lat"] == 26.4705


def test_get_hides_personal_data_and_never_shows_a_confidential_ticket(db, client, api_key):
    from tests.console.conftest import register

    _, conf = register(db, description="he follows me, call me on 9839000099", confidential=True)
    _, plain = register(db, description="phone stolen, call 98390 00098 or a@b.in")
    rows = {r["service_request_id"]: r for r in client.get("/open311/v2/requests.json").get_json()}
    assert set(rows) == {plain}  # a confidential ticket is not published at all
    assert rows[plain]["description"] == "" and rows[plain]["address"] == ""  # no citizen's words without a key
    keyed = {r["service_request_id"]: r for r in client.get(f"/open311/v2/requests.json?api_key={api_key}").get_json()}
    assert set(keyed) == {plain}
    assert "phone stolen" in keyed[plain]["description"]
    assert "98390" not in keyed[plain]["description"] and "a@b.in" not in keyed[plain]["description"]
    root = ET.fromstring(client.get("/open311/v2/requests.xml").data)  # noqa: S314
    assert root.tag == "service_requests" and {e.find("service_request_id").text for e in root} == {plain}
    assert {r.tag for r in root[0]} == REQUEST_FIELDS
    assert client.get("/open311/v2/requests.json?status=closed").get_json() == []
    assert client.get("/open311/v2/requests.json?service_code=nope").status_code == 400
    assert client.get("/open311/v2/requests.json?start_date=yesterday").status_code == 400
    assert client.get("/open311/v2/requests/KNP-ZZZZZZ.json").status_code == 404
    assert client.get(f"/open311/v2/requests/{conf}.json?api_key={api_key}").status_code == 404


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
_params = st.dictionaries(st.sampled_from(["service_request_id", "service_code", "start_date", "end_date", "status",
                                           "page", "api_key", "jurisdiction_id", "lat", "long", "description",
                                           "phone", "address_string", "district"]), _text, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["discovery", "services", "requests", "requests/KNP-ABCDEF", "services/theft_mobile",
                             "requests/" + "x" * 20]),
       fmt=st.sampled_from(["json", "xml", "csv"]), params=_params, post=st.booleans())
def test_fuzz_never_5xx(client, api_key, path, fmt, params, post):
    url = f"/open311/v2/{path}.{fmt}"
    if post:
        r = client.post(url, data={**params, "api_key": params.get("api_key", api_key)})
    else:
        r = client.get(url, query_string=params)
    assert r.status_code < 500, (url, params, r.get_data(as_text=True)[:300])
    if r.status_code < 300 and fmt == "xml":
        ET.fromstring(r.data)  # noqa: S314


def test_rate_limited_per_key_and_per_address(db, client, api_key):
    """Over ``limits.api_per_minute``: 429 in Open311's error format with Retry-After, per api_key or address."""
    from zone import get_zone, set_zone

    z = get_zone()
    set_zone(z.model_copy(update={"limits": z.limits.model_copy(update={"api_per_minute": 2})}))
    try:
        url = f"/open311/v2/requests.json?api_key={api_key}"
        assert [client.get(url).status_code for _ in range(2)] == [200, 200]
        r = client.get(url)
        assert r.status_code == 429 and r.get_json() == [{"code": 429, "description": r.get_json()[0]["description"]}]
        assert "too many" in r.get_json()[0]["description"] and int(r.headers["Retry-After"]) >= 1
        r = client.get("/open311/v2/requests.xml?api_key=" + api_key)
        assert r.status_code == 429 and r.mimetype == "text/xml" and "<code>429</code>" in r.get_data(as_text=True)
        elsewhere = {"REMOTE_ADDR": "198.51.100.23"}
        assert client.get("/open311/v2/services.json", environ_base=elsewhere).status_code == 200
    finally:
        set_zone(z)
