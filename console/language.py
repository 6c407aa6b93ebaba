"""The officers' console in the officer's language: one rule for which language, the console's words from the
message catalogue (section ``console``) and localized zone names.

The language is the officer's choice from the switch in the console header, kept in the browser session
(``session["console_lang"]``, through sign-in and sign-out); without a choice it is English.
"""

from __future__ import annotations

from flask import session

from zone import messages

SESSION_KEY = "console_lang"
DEFAULT = "en"
LANGUAGES = messages.LANGUAGES


def lang() -> str:
    """The language this request's pages speak: the session's choice if the catalogue has it, else English."""
    chosen = session.get(SESSION_KEY)
    return chosen if chosen in messages.LANGUAGES else DEFAULT


def t(key: str, **values: object) -> str:
    """The console's word or sentence ``key`` (``console.<key>`` in the catalogue) in the officer's language."""
    return messages.t(f"console.{key}", lang(), **values)


def name(obj: object) -> str:
    """A district's, station's, category's, rank's or outcome's name in the officer's language."""
    return messages.name(obj, lang())


def languages() -> list[tuple[str, str]]:
    """(code, the language's name in itself) for the switch: हिन्दी, English."""
    return [(code, messages.t("console.language_self", code)) for code in messages.LANGUAGES]
