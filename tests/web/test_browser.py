"""The citizen web page in a real browser (headless Debian Chromium through Playwright).

File a complaint with two photos (without JavaScript), read the code from the Twilio recorder after
the real worker sent it, see the reference; track it (with JavaScript); dispose it as the police
would; rate it. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import Attachment, Complaint, Feedback
from tests.web.helpers import latest_code, png_bytes

pytestmark = pytest.mark.slow
PHONE = "+919839033333"


@pytest.fixture
def server(live_server):
    return live_server


def first_load_bytes(page) -> int:
    """Bytes the page and everything it loaded took on the wire (navigation + resources)."""
    return page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        return [nav, ...performance.getEntriesByType('resource')]
            .reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0);
    }""")


def test_file_track_and_rate_in_a_browser(db, server, browser, recorder, drain, images, artifacts):
    # -- file, with JavaScript off: two photos, Hindi by default --------------------------------
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.goto(server + "/complaint")
    assert page.locator("html").get_attribute("lang") == "hi"
    size = first_load_bytes(page)
    assert 0 < size < 200 * 1024, size
    page.screenshot(path=str(artifacts / "web-01-complaint-form.png"), full_page=True)
    page.get_by_label("क्या हुआ?").fill("कल रात झाँसी में कोतवाली के पास मेरा मोबाइल फोन चोरी हो गया")
    page.get_by_label("कब हुआ?").fill("कल रात 9 बजे")
    page.get_by_label("मोबाइल नंबर").fill("98390 33333")
    page.set_input_files("#f-files", [
        {"name": "phone-box.png", "mimeType": "image/png", "buffer": png_bytes(40, 30, (10, 120, 200))},
        {"name": "bill.jpg", "mimeType": "image/jpeg", "buffer": images["jpeg"]},
    ])
    page.get_by_role("button", name="आगे बढ़ें: कोड भेजें").click()
    page.wait_for_selector("#f-code")
    assert "phone-box.png" in page.content()
    page.screenshot(path=str(artifacts / "web-02-code.png"), full_page=True)
    with db.session() as s:
        assert s.scalar(select(Complaint)) is None  # nothing before the code
    drain()
    page.fill("#f-code", latest_code(recorder, PHONE))
    page.get_by_role("button", name="पुष्टि करें").click()
    ref = page.locator("#ref").inner_text()
    assert re.fullmatch(r"JHS-[A-Z0-9]{6}", ref)
    page.screenshot(path=str(artifacts / "web-03-reference.png"), full_page=True)
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == ref))
        assert c.channel == "web" and c.category == "theft_mobile"
        assert len(s.scalars(select(Attachment).where(Attachment.complaint_id == c.id)).all()) == 2
    ctx.close()
    drain()  # routed; the registration SMS goes out

    # -- track, with JavaScript on, in English --------------------------------------------------
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.goto(server + "/track")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"  # keyboard: skip link first
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Reference").fill(ref)
    page.get_by_label("Mobile number").fill("+91 98390 33333")
    page.get_by_role("button", name="Send code").click()
    page.wait_for_selector("#f-code")
    drain()
    page.fill("#f-code", latest_code(recorder, PHONE))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_selector("#status")
    assert page.locator("#ref").inner_text() == ref
    assert "Sent to the police station" in page.content()
    page.screenshot(path=str(artifacts / "web-04-timeline.png"), full_page=True)

    # -- the police dispose of it; the citizen rates it ------------------------------------------
    from tickets import actions

    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == ref))
        actions.dispose(s, c, "resolved", "officer:1")
        s.commit()
    page.reload()
    page.get_by_label("5 — fully").check()
    page.get_by_label("Send it to").select_option("co")
    page.get_by_label("Comment").fill("Phone returned, thank you")
    page.get_by_role("button", name="Send feedback").click()
    page.wait_for_selector(".notice")
    assert "Thank you" in page.locator(".notice").inner_text()
    assert "5/5" in page.locator("#rated").inner_text()
    page.screenshot(path=str(artifacts / "web-05-rated.png"), full_page=True)
    with db.session() as s:
        fb = s.scalar(select(Feedback))
        assert fb.rating == 5 and fb.addressed_to == "co" and fb.comment == "Phone returned, thank you"

    # -- the optional script stops a slow upload of too many files before it starts --------------
    page.goto(server + "/complaint")
    page.set_input_files("#f-files", [{"name": f"p{i}.png", "mimeType": "image/png", "buffer": png_bytes()}
                                      for i in range(11)])
    assert page.locator("#e-files-js").is_visible()
    page.screenshot(path=str(artifacts / "web-06-too-many-files.png"), full_page=True)
    ctx.close()
