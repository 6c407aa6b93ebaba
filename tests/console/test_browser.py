"""In a real browser (Debian's chromium via Playwright): an SHO signs in with TOTP, sees the new ticket
at the top, assigns an officer and the citizen's SMS reaches the Twilio recorder; another station's
SHO gets 404; an EO disposes from a phone-sized screen. Screenshots go to test-artifacts/."""

import shutil

import pytest
from sqlalchemy import select

from models import Complaint
from tests.console.conftest import CITIZEN, PASSWORD

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def server(live_server):
    return live_server


def _sign_in(page, base, cred):
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", cred.username)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", cred.code())
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def test_sho_assigns_other_station_404_eo_disposes_on_phone(db, server, browser, officers, ticket, drain, recorder,
                                                           artifacts):
    ticket(description="पुराना मामला")
    cid, ref = ticket(description="मेरा मोबाइल बाज़ार में चोरी हो गया", complainant_name="Ramesh")
    with db.session() as s:  # the newest ticket is also the most urgent one
        from datetime import timedelta

        from models import utcnow

        s.execute(Complaint.__table__.update().where(Complaint.id == cid).values(due_at=utcnow() + timedelta(hours=3)))

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    _sign_in(page, server, officers["sho.knp-kotwali"])
    first = page.locator("tr.row").first
    assert first.get_attribute("data-ref") == ref
    assert "soon" in first.get_attribute("class")
    clock = first.locator("td.clock").inner_text()
    assert "left" in clock
    page.screenshot(path=str(artifacts / "console-queue.png"), full_page=True)
    first.locator("a.ref").click()
    page.wait_for_url(f"{server}/console/t/{ref}")
    assert "Cognizable" in page.inner_text(".fir-prompt")
    page.select_option("#assign select[name=posting_id]", label=page.locator(
        "#assign option", has_text="SI Kotwali 1").first.inner_text())
    page.click("#assign button")
    page.wait_for_selector(".flash")
    drain()
    sms = [m["Body"] for m in recorder.to(CITIZEN)]
    assert any(ref in b and "SI Kotwali 1" in b for b in sms), sms
    page.goto(f"{server}/console/dashboard")
    page.screenshot(path=str(artifacts / "console-dashboard.png"), full_page=True)
    ctx.close()

    other = browser.new_context()
    p2 = other.new_page()
    _sign_in(p2, server, officers["sho.knp-colonelganj"])
    resp = p2.goto(f"{server}/console/t/{ref}")
    assert resp.status == 404
    other.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    p3 = phone.new_page()
    _sign_in(p3, server, officers["eo1.knp-kotwali"])
    p3.screenshot(path=str(artifacts / "console-queue-phone.png"), full_page=True)
    p3.locator(f'tr.row[data-ref="{ref}"] a.ref').tap()
    p3.wait_for_url(f"{server}/console/t/{ref}")
    width = p3.evaluate("document.documentElement.scrollWidth")
    if width > 400:  # name the elements that overflow, to fix the CSS
        print(p3.evaluate("Array.from(document.querySelectorAll('*'))"
                          ".filter(e => e.getBoundingClientRect().right > 400).slice(0, 15)"
                          ".map(e => e.tagName + '.' + e.className).join(' ')"))
    assert width <= 400, f"page is {width}px wide on a 390px screen"
    p3.select_option("#dispose select[name=outcome]", "fir")
    p3.fill("#dispose input[name=number]", "0456/2025")
    p3.locator("#dispose button").tap()
    p3.wait_for_selector(".flash")
    p3.screenshot(path=str(artifacts / "console-ticket-phone.png"), full_page=True)
    phone.close()
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.id == cid))
        assert (c.status, c.outcome, c.outcome_number) == ("disposed", "fir", "0456/2025")


def test_the_hindi_switch_shows_hindi_headings_and_clocks(db, server, browser, officers, ticket, artifacts):
    _, ref = ticket(description="मेरा मोबाइल बाज़ार में चोरी हो गया")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    _sign_in(page, server, officers["sho.knp-kotwali"])
    assert page.inner_text("h1").startswith("Queue")
    page.click("form.lang-switch button[value=hi]")
    page.wait_for_selector("html[lang=hi]")
    assert page.inner_text("h1").startswith("शिकायत सूची")
    assert page.inner_text("header nav").split() == ["शिकायत", "सूची", "डैशबोर्ड", "स्वयं", "उपस्थित", "/", "डाक"]
    page.wait_for_function("document.querySelector('td.clock').textContent.includes('शेष')")  # the live clock too
    page.locator(f'tr.row[data-ref="{ref}"] a.ref').click()
    page.wait_for_url(f"{server}/console/t/{ref}")
    assert [h.inner_text() for h in page.locator("section.details h2, section.timeline h2").all()] == [
        "शिकायत", "टिप्पणियाँ और जाँच आख्या", "घटनाक्रम"]
    page.screenshot(path=str(artifacts / "console-ticket-hindi.png"), full_page=True)
    page.goto(f"{server}/console/dashboard")
    assert "जनपदवार समय-सीमा अनुपालन" in page.inner_text("main")
    ctx.close()
