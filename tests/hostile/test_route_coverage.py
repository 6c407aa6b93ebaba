"""Every route of the app is either public (with why) or scoped (with the scope tests that cover it).

A new route that is in neither table fails the build; so does an entry for a route that no longer
exists, a scoped route whose tests are gone, and a scoped route that answers an anonymous caller with
anything but a refusal (401 or the sign-in page). Signed routes (Twilio's) refuse an unsigned request.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONSOLE_SCOPE = ["tests/console/test_console.py::test_another_station_gets_404_and_scope_follows_the_posting",
                 "tests/console/test_console.py::test_confidential_identity_masked_for_roles_config_does_not_allow"]
C = "tests/console/test_confidential_console.py::"
API_SCOPE = ["tests/hostile/test_api_scope.py::test_an_eo_token_does_not_carry_the_same_officers_sho_posting_elsewhere",
             "tests/hostile/test_api_scope.py::test_a_transfer_or_a_posting_not_begun_revokes_the_token"]

# (rule, method) → ("public", why) | ("signed", why) | ("dev", why) | ("scoped", [test ids])
ROUTES: dict[tuple[str, str], tuple[str, object]] = {
    # citizens' pages: the citizen proves the phone by a one-time code before anything personal is shown
    ("/complaint", "GET"): ("public", "the empty complaint form"),
    ("/complaint", "POST"): ("public", "files a complaint; registers only after the SMS code (test_web)"),
    ("/track", "GET"): ("public", "the empty tracking form"),
    ("/track", "POST"): ("public", "shows a ticket only after the code sent to the ticket's own phone"),
    ("/video", "GET"): ("public", "the empty sign-language video form"),
    ("/video", "POST"): ("public", "files a video complaint after the SMS code"),
    ("/static/web/<path:filename>", "GET"): ("public", "CSS and scripts of the citizen pages"),
    ("/console/static/<path:filename>", "GET"): ("public", "CSS and scripts of the console"),
    ("/console/login", "GET"): ("public", "the sign-in form"),
    ("/console/login", "POST"): ("public", "sign-in: password + TOTP, throttled (tests/console/test_auth.py)"),
    ("/console/logout", "POST"): ("public", "ends whatever session the cookie names; CSRF-checked"),
    ("/console/language", "POST"): ("public", "the console's language for this browser, in the session only; "
                                              "CSRF-checked, an unknown language a 400 "
                                              "(tests/console/test_language.py)"),
    # Open311: public by the standard; complaint_filter(PUBLIC) and access(PUBLIC, c) decide what it shows
    ("/open311/v2/discovery.<fmt>", "GET"): ("public", "Open311 discovery document"),
    ("/open311/v2/services.<fmt>", "GET"): ("public", "the categories"),
    ("/open311/v2/services/<code>.<fmt>", "GET"): ("public", "one category's definition"),
    ("/open311/v2/requests.<fmt>", "GET"): ("public", "non-confidential tickets, no identity (scope PUBLIC)"),
    ("/open311/v2/requests/<rid>.<fmt>", "GET"): ("public", "one non-confidential ticket, no identity"),
    ("/open311/v2/requests.<fmt>", "POST"): ("public", "needs a valid api_key (tests/console/test_open311.py)"),
    # operations
    ("/healthz", "GET"): ("public", "liveness; host names, PIDs and versions only with BHAROSA_HEALTH_TOKEN"),
    ("/readyz", "GET"): ("public", "readiness: 200/503, no detail"),
    ("/metrics", "GET"): ("scoped", ["tests/test_health.py::test_metrics_needs_the_token"]),
    # Twilio's webhooks: the signature is the authentication
    ("/twilio/whatsapp", "POST"): ("signed", "X-Twilio-Signature"),
    ("/twilio/sms", "POST"): ("signed", "X-Twilio-Signature"),
    ("/twilio/status", "POST"): ("signed", "X-Twilio-Signature"),
    ("/twilio/voice", "POST"): ("signed", "X-Twilio-Signature"),
    ("/twilio/voice/recording", "POST"): ("signed", "X-Twilio-Signature"),
    ("/twilio/voice/status", "POST"): ("signed", "X-Twilio-Signature"),
    ("/twilio/voice/step/<name>", "POST"): ("signed", "X-Twilio-Signature"),
    # Telegram's webhook: the secret token given to setWebhook is the authentication
    ("/telegram/webhook", "POST"): ("signed", "X-Telegram-Bot-Api-Secret-Token (TELEGRAM_WEBHOOK_SECRET)"),
    # development only: absent in production, loopback only in dev
    ("/simulator", "GET"): ("dev", "the chat simulator page (tests/hostile/test_dev_mode.py)"),
    ("/simulator/messages", "GET"): ("dev", "a simulated conversation; loopback callers only"),
    ("/simulator/send", "POST"): ("dev", "sends as a simulated citizen; loopback callers only"),
    # the officers' console: every ticket through tickets.scope (one posting at a time)
    ("/console/", "GET"): ("scoped", CONSOLE_SCOPE),
    ("/console/interpreter", "GET"): ("scoped", CONSOLE_SCOPE),
    ("/console/t/<ref>", "GET"): ("scoped", CONSOLE_SCOPE + [
        C + "test_ticket_page_shows_only_its_own_turns_not_the_citizens_confidential_complaint",
        C + "test_masked_viewer_reads_the_conversation_without_her_name_or_number"]),
    ("/console/t/<ref>/<action>", "POST"): ("scoped", CONSOLE_SCOPE + [
        C + "test_unmask_needs_an_allowed_role_and_a_reason_and_is_in_the_timeline"]),
    ("/console/t/<ref>/evidence.zip", "GET"): ("scoped", [
        "tests/console/test_console.py::test_evidence_bundle_lists_files_with_sha256",
        C + "test_evidence_zip_holds_only_this_tickets_files",
        C + "test_exports_and_evidence_mask_exactly_as_the_page_does"]),
    ("/console/attachment/<int(max=9007199254740992):att_id>", "GET"): ("scoped", [
        C + "test_attachment_is_served_only_through_its_own_ticket"]),
    ("/console/attachment/<int(max=9007199254740992):att_id>/<variant>", "GET"): ("scoped", [
        C + "test_attachment_is_served_only_through_its_own_ticket"]),
    ("/console/export.<fmt>", "GET"): ("scoped", ["tests/console/test_console.py::test_export_is_scoped_and_audited",
                                                  C + "test_exports_and_evidence_mask_exactly_as_the_page_does"]),
    ("/console/dashboard", "GET"): ("scoped", [
        "tests/console/test_console.py::test_dashboard_aggregates_follow_events_and_match_a_rebuild",
        C + "test_dashboard_feedback_follows_the_same_rule"]),
    ("/console/new", "GET"): ("scoped", CONSOLE_SCOPE),
    ("/console/new", "POST"): ("scoped", CONSOLE_SCOPE),
    ("/console/posting", "POST"): ("scoped", CONSOLE_SCOPE),
    # the officers' JSON API: a bearer token bound to one posting
    ("/api/v1/tickets", "GET"): ("scoped", API_SCOPE),
    ("/api/v1/tickets/<ref>", "GET"): ("scoped", API_SCOPE),
    ("/api/v1/tickets/<ref>/<action>", "POST"): ("scoped", API_SCOPE + [
        "tests/hostile/test_api_scope.py::test_a_note_cannot_move_another_stations_attachment"]),
}


def _routes(app) -> set[tuple[str, str]]:
    return {(r.rule, m) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}


def _sample(rule: str) -> str:
    """A concrete path for a rule: placeholders filled with plausible values."""
    values = {"ref": "KNP-7F3K9Q", "action": "notes", "att_id": "1", "variant": "file", "fmt": "json",
              "filename": "x.css", "name": "language", "code": "theft_mobile", "rid": "KNP-7F3K9Q"}
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values[m.group(1)], rule)


@pytest.fixture
def dev_app(db, redis_conn, recorder, monkeypatch):
    from app import create_app

    monkeypatch.setenv("BHAROSA_ENV", "dev")
    return create_app(db.url, check_env=False, TESTING=True)


def test_every_route_is_in_the_table_and_every_entry_is_a_route(dev_app):
    have = _routes(dev_app)
    missing = sorted(have - ROUTES.keys())
    stale = sorted(ROUTES.keys() - have)
    assert not missing, f"routes in neither table (add each as public with why, or scoped with its tests): {missing}"
    assert not stale, f"table entries for routes that no longer exist: {stale}"


def test_scoped_routes_name_scope_tests_that_exist():
    for key, (kind, what) in ROUTES.items():
        if kind != "scoped":
            assert isinstance(what, str) and what.strip(), f"{key}: a {kind} route needs its why"
            continue
        assert what, f"{key}: a scoped route needs its scope tests"
        for test_id in what:
            path, name = test_id.split("::")
            src = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^def {re.escape(name)}\(", src, re.M), f"{key}: {test_id} does not exist"


def test_scoped_routes_refuse_an_anonymous_caller(dev_app):
    """No cookie, no token: a refusal (401, or a redirect to the sign-in page), never the content."""
    client = dev_app.test_client()
    outsider = {"REMOTE_ADDR": "203.0.113.9"}  # not loopback: dev mode opens nothing to it
    for (rule, method), (kind, _what) in sorted(ROUTES.items()):
        if kind != "scoped":
            continue
        r = client.open(_sample(rule), method=method, environ_base=outsider)
        refused = r.status_code == 401 or (r.status_code in (302, 303)
                                           and "/console/login" in r.headers.get("Location", ""))
        # A console POST without a session also fails its CSRF check first (400): still a refusal.
        refused = refused or (r.status_code == 400 and rule.startswith("/console") and method == "POST")
        assert refused, f"{method} {rule} answered an anonymous caller {r.status_code}"


def test_signed_routes_refuse_an_unsigned_request(dev_app):
    client = dev_app.test_client()
    for (rule, method), (kind, _what) in sorted(ROUTES.items()):
        if kind == "signed":
            r = client.open(_sample(rule), method=method, data={"From": "+919839000001", "Body": "hi"})
            assert r.status_code == 403, f"{method} {rule} answered an unsigned request {r.status_code}"

    tg = {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
    r = client.post("/telegram/webhook", json={"update_id": 1, "message": {}}, headers=tg)
    assert r.status_code == 403, f"a wrong Telegram secret got {r.status_code}"


def test_dev_routes_answer_404_in_production(db, redis_conn, recorder, monkeypatch):
    from app import create_app

    monkeypatch.delenv("BHAROSA_ENV", raising=False)
    client = create_app(db.url, check_env=False, TESTING=True).test_client()
    for (rule, method), (kind, _what) in sorted(ROUTES.items()):
        if kind == "dev":
            r = client.open(_sample(rule), method=method, data={"from": "+919839000001", "body": "hi"})
            assert r.status_code == 404, f"{method} {rule} answered {r.status_code} in production"
