"""The console in the officer's language: English until the header's switch picks Hindi, which then holds for
every page, flash message, refusal and error of that browser, through sign-in and sign-out."""

import re

from tests.console.conftest import csrf_of, sign_in


def _switch(client, lang: str, back: str = "/console/"):
    page = client.get("/console/").get_data(as_text=True)
    return client.post("/console/language", data={"csrf_token": csrf_of(page), "lang": lang, "next": back})


def _h1(html: str) -> str:
    return re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1)


def test_english_until_hindi_is_chosen_then_hindi_everywhere(db, client, officers, login, ticket):
    _, ref = ticket()
    tok = login(officers["sho.knp-kotwali"])
    html = client.get("/console/").get_data(as_text=True)
    assert '<html lang="en">' in html and "Queue" in _h1(html) and ">Sign out<" in html
    r = _switch(client, "hi", f"/console/t/{ref}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/t/{ref}")
    html = client.get("/console/").get_data(as_text=True)
    assert '<html lang="hi">' in html and "शिकायत सूची" in _h1(html) and ">लॉग आउट<" in html
    assert "कोतवाली" in html  # the station's Hindi name in the queue
    page = client.get(f"/console/t/{ref}").get_data(as_text=True)
    assert "<h2>शिकायत</h2>" in page and "<h2>घटनाक्रम</h2>" in page and "संज्ञेय श्रेणी (मोबाइल" in page
    assert "Timeline" not in page and "Enquiry officer" not in page
    dash = client.get("/console/dashboard").get_data(as_text=True)
    assert "डैशबोर्ड" in _h1(dash) and "जनपदवार समय-सीमा अनुपालन" in dash
    # a refusal, a flash message and an error page speak Hindi too
    r = client.post(f"/console/t/{ref}/dispose", data={"csrf_token": tok(), "outcome": "fir", "number": ""})
    assert r.status_code == 400 and "परिणाम “एफआईआर दर्ज” के लिए उसकी संख्या दर्ज करें" in r.get_data(as_text=True)
    r = client.post(f"/console/t/{ref}/note", data={"csrf_token": tok(), "text": "थाने पर बयान लिया"},
                    follow_redirects=True)
    assert '<p class="flash">टिप्पणी जोड़ दी गई।</p>' in r.get_data(as_text=True)
    r = client.get("/console/?status=lost")
    assert r.status_code == 400 and "अज्ञात स्थिति" in r.get_data(as_text=True)
    r = client.get("/console/t/KNP-ZZZZZZ")
    assert r.status_code == 404 and "नहीं मिला" in r.get_data(as_text=True)
    # and back to English
    _switch(client, "en")
    assert "Queue" in _h1(client.get("/console/").get_data(as_text=True))


def test_the_choice_holds_through_sign_out_and_sign_in(app, db, officers):
    c = app.test_client()
    page = c.get("/console/login").get_data(as_text=True)
    assert "Officer sign-in" in page
    r = c.post("/console/language", data={"csrf_token": csrf_of(page), "lang": "hi", "next": "/console/login"})
    assert r.status_code == 302
    page = c.get("/console/login").get_data(as_text=True)
    assert "अधिकारी लॉगिन" in page and "यूज़रनेम" in page
    r = sign_in(c, officers["sho.knp-kotwali"], password="wrong password")
    assert r.status_code == 401 and "यूज़रनेम, पासवर्ड या कोड गलत है।" in r.get_data(as_text=True)
    assert sign_in(c, officers["sho.knp-kotwali"]).status_code == 302
    html = c.get("/console/").get_data(as_text=True)
    assert "शिकायत सूची" in _h1(html)
    c.post("/console/logout", data={"csrf_token": csrf_of(html)})
    assert "अधिकारी लॉगिन" in c.get("/console/login").get_data(as_text=True)


def test_an_unknown_language_or_a_forged_form_is_a_400_that_says_so(client, officers, login):
    login(officers["sho.knp-kotwali"])
    r = _switch(client, "fr")
    assert r.status_code == 400 and "the language must be one of: hi, en" in r.get_data(as_text=True)
    r = client.post("/console/language", data={"csrf_token": "forged", "lang": "hi"})
    assert r.status_code == 400
    assert "Queue" in _h1(client.get("/console/").get_data(as_text=True))
    r = _switch(client, "hi", "//evil.example/")  # never sent elsewhere
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/")


def test_the_evidence_certificate_is_in_the_officers_language(db, client, officers, login, ticket):
    import io
    import zipfile

    _, ref = ticket()
    login(officers["sho.knp-kotwali"])
    _switch(client, "hi")
    cert = zipfile.ZipFile(io.BytesIO(client.get(f"/console/t/{ref}/evidence.zip").data)).read("certificate.html")
    cert = cert.decode()
    assert '<html lang="hi">' in cert and "इलेक्ट्रॉनिक अभिलेखों का प्रमाणपत्र" in cert and "भारतीय साक्ष्य अधिनियम" in cert
    assert f"<b>{ref}</b>" in cert and "थाना कोतवाली" in cert
