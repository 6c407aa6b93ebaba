"""The one phone rule: how a number becomes E.164, for every channel, web front and the engine.

Two strengths, on purpose: a provider's sender address (Twilio's ``From``) is taken if it is a *possible* number
(a citizen is never refused for a carrier's odd range), a number a person typed or said must be a *valid* one
(the console's search, Open311, the web form, the engine's "your mobile number" answer).
"""

from __future__ import annotations

import phonenumbers

REGION = "IN"  # numbers written without +country are Indian
_PREFIXES = ("whatsapp:", "tel:")
MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _parse(raw: str | None, region: str) -> phonenumbers.PhoneNumber | None:
    raw = (raw or "").strip()
    for prefix in _PREFIXES:
        if raw.startswith(prefix):
            raw = raw[len(prefix):]
    if not raw:
        return None
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None


def _e164(num: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def sender(raw: str | None, region: str = REGION) -> str | None:
    """A provider's sender address (``+91…``, ``whatsapp:+91…``, ``tel:…``) as E.164 if it is a possible number."""
    num = _parse(raw, region)
    return _e164(num) if num is not None and phonenumbers.is_possible_number(num) else None


def typed(raw: str | None, region: str = REGION) -> str | None:
    """A number a person typed as E.164 if it is a valid number, else None."""
    num = _parse(raw, region)
    return _e164(num) if num is not None and phonenumbers.is_valid_number(num) else None


def find_in(text: str, region: str = REGION) -> str | None:
    """The first valid number written anywhere in ``text`` ("mera number 98765 43210 hai"), as E.164."""
    for m in phonenumbers.PhoneNumberMatcher(text or "", region):
        if phonenumbers.is_valid_number(m.number):
            return _e164(m.number)
    return None


def is_mobile_of(e164: str, regions: tuple[str, ...] | list[str]) -> bool:
    """Whether ``e164`` is a mobile number of one of ``regions`` (ISO codes): where an SMS code may go."""
    num = _parse(e164, REGION)
    return (num is not None and phonenumbers.region_code_for_number(num) in regions
            and phonenumbers.number_type(num) in MOBILE_TYPES)


def country_codes(regions: tuple[str, ...] | list[str]) -> list[str]:
    """``+91``-style calling codes of ``regions``, once each, in order."""
    return list(dict.fromkeys(f"+{phonenumbers.country_code_for_region(r)}" for r in regions))
