# ruff: noqa: F811  (the console fixtures imported below)
"""Security headers on every page (issue 14, finding 14), from one after_request hook in app.py.

Console and citizen pages may not be framed (X-Frame-Options DENY and CSP ``frame-ancestors 'none'``),
run only the app's own scripts and styles (a CSP with no ``'unsafe-inline'``), are never stored by a
browser or proxy cache (``Cache-Control: no-store``: they hold complainants' names, phones and stories),
and carry ``nosniff`` and ``Referrer-Policy: same-origin``. The Twilio webhooks still answer TwiML.
A real browser loads the console and the citizen pages under that CSP without a single violation.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ACCOUNT, load_fixture
from tests.console.conftest import login, officers, ticket, totp_clock  # noqa: F401 - fixtures
from tests.web.helpers import get_csrf, latest_code

CITIZEN = "+919839012345"


def _check_page(r, path: str) -> None:
    h = r.headers
    assert h.get("X-Frame-Options") == "DENY", path
    csp = h.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == ["'none'"], (path, csp)
    assert directives.get("script-src") == ["'self'"], (path, csp)
    assert directives.get("default-src") == ["'none'"], (path, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (path, csp)
    assert h.get("Cache-Control") == "no-store", path
    assert h.get("X-Content-Type-Options") == "nosniff", path
    assert h.get("Referrer-Policy") == "same-origin", path


def _no_inline_code(html: str, path: str) -> None:
    """What the CSP would block: inline scripts, style blocks and attributes, event-handler attributes."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"{path}: inline <script>"
    assert not re.search(r"<style\b", html), f"{path}: <style> block"
    assert not re.search(r"\sstyle\s*=", html), f"{path}: style= attribute"
    assert not re.search(r"\son[a-z]+\s*=", html), f"{path}: event-handler attribute"
    assert "javascript:" not in html, f"{path}: javascript: URL"


def test_citizen_pages_carry_the_headers(db, client):
    for path in ("/complaint", "/track", "/video", "/track?new=1", "/complaint?lang=en"):
        r = client.get(path)
        assert r.status_code == 200, path
        _check_page(r, path)
        _no_inline_code(r.get_data(as_text=True), path)


def test_track_results_are_not_stored(db, client, ticket, recorder, drain):
    _, ref = ticket(complainant_name="Sunita")
    r = client.post("/track", data={"csrf": get_csrf(client, "/track?new=1"), "step": "start", "ref": ref,
                                    "phone": CITIZEN})
    _check_page(r, "POST /track start")
    drain()
    r = client.post("/track", data={"csrf": get_csrf(client, "/track?new=1"), "step": "verify",
                                    "code": latest_code(recorder, CITIZEN)})
    assert r.status_code == 303
    timeline = client.get("/track")
    assert ref in timeline.get_data(as_text=True)
    _check_page(timeline, "/track (timeline)")
    _no_inline_code(timeline.get_data(as_text=True), "/track (timeline)")


def test_console_pages_carry_the_headers(db, client, officers, login, ticket):
    _, ref = ticket(complainant_name="Ramesh")
    r = client.get("/console/login")
    _check_page(r, "/console/login")
    _no_inline_code(r.get_data(as_text=True), "/console/login")
    login(officers["sho.knp-kotwali"])
    for path in ("/console/", f"/console/t/{ref}", "/console/dashboard", "/console/new", "/console/t/KNP-NOSUCH",
                 "/console/export.csv"):
        r = client.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        _check_page(r, path)
        if r.mimetype == "text/html":
            _no_inline_code(r.get_data(as_text=True), path)
    r = client.get("/console/interpreter")  # an SHO may not: the refusal carries them too
    assert r.status_code == 403
    _check_page(r, "/console/interpreter")
    r = client.get("/api/v1/tickets")  # the JSON API is never stored either
    assert r.status_code == 401 and r.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable_and_typed(db, client):
    for path in ("/console/static/console/console.js", "/console/static/console/console.css",
                 "/static/web/web.js", "/static/web/web.css"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "no-store" not in r.headers.get("Cache-Control", ""), path
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
        assert r.mimetype in ("text/javascript", "text/css"), (path, r.mimetype)


def test_twilio_webhooks_still_answer_twiml(db, twilio):
    r = twilio.post("/twilio/sms", load_fixture("sms", "text"))
    assert r.status_code == 200
    assert r.mimetype in ("text/xml", "application/xml")
    body = r.get_data(as_text=True)
    assert body.lstrip().startswith("<?xml") and "<Response" in body
    call = {"AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": "CA" + "7" * 32, "CallStatus": "ringing",
            "Called": "+915122000000", "Caller": CITIZEN, "Direction": "inbound", "From": CITIZEN,
            "To": "+915122000000", "FromCountry": "IN", "ToCountry": "IN"}
    r = twilio.post("/twilio/voice", call)
    assert r.status_code == 200 and r.mimetype == "application/xml" and "<Response" in r.get_data(as_text=True)


@pytest.mark.slow
def test_a_browser_loads_console_and_citizen_pages_without_a_csp_violation(db, live_server, browser, officers,
                                                                           ticket):
    from tests.console.test_browser import _sign_in

    _, ref = ticket(complainant_name="Ramesh")
    ctx = browser.new_context()
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    _sign_in(page, live_server, officers["ig.kanpur_zone"])  # the zone's dashboard has every kind of bar
    # The queue's countdown is written by console.js: it ran.
    assert re.search(r"left|over by", page.locator("td.clock").first.inner_text())
    for path in (f"/console/t/{ref}", "/console/new", "/complaint", "/track", "/video", "/console/dashboard"):
        assert page.goto(f"{live_server}{path}").status == 200, path
    assert not problems, problems
    # The dashboard's bars still draw without style attributes (SVG): a cell wide, filled to their share.
    bars = page.eval_on_selector_all("table.bars svg.bar", "els => els.map(e => e.getBoundingClientRect().width)")
    assert bars and all(w > 20 for w in bars), bars
    assert page.locator("p.legend svg.swatch").count() >= 5
    ctx.close()
