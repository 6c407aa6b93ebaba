"""tickets.textsafe.redact: a complainant's name and numbers out of text a masked reader sees."""

import pytest

from tickets.textsafe import REDACTED, redact

CASES = [
    ("mera naam Sunita Verma hai, ek ladka peecha karta hai", None, "Sunita", "peecha karta hai"),
    ("my name is Sunita Verma and a boy follows me", None, "Verma", "and a boy follows me"),
    ("मेरा नाम सुनीता है और एक लड़का पीछा करता है", None, "सुनीता", "पीछा करता है"),
    ("naam: Rekha, gaon Bidhuna", None, "Rekha", "Bidhuna"),
    ("call 98390 11111 or +91-9839011111 after 12-03-2025", None, "9839", "12-03-2025"),
    ("likho sunita.v@example.com par", None, "example.com", "likho"),
    ("SUNITA ji ko dhamki mili", "Sunita Verma", "SUNITA", "ko dhamki mili"),
    ("verma parivar pareshan hai", "Sunita Verma", "verma", "parivar pareshan hai"),
    ("सुनीता देवी ने कहा", "सुनीता देवी", "सुनीता", "ने कहा"),
]


@pytest.mark.parametrize("text,name,gone,kept", CASES)
def test_redact_takes_out_the_name_and_numbers_and_keeps_the_story(text, name, gone, kept):
    out = redact(text, name)
    assert gone not in out and kept in out and REDACTED in out


def test_redact_leaves_references_fir_numbers_and_words_containing_the_name():
    assert redact("KNP-7F3K9Q ka kya hua, FIR 0123/2025") == "KNP-7F3K9Q ka kya hua, FIR 0123/2025"
    assert redact("Sunitas", "Sunita") == "Sunitas"
    assert redact(None) == ""
