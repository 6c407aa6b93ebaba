"""Showing citizens' text safely: escaped, bidi override/embedding/isolate controls made visible.

A citizen's text may carry U+202A–U+202E or U+2066–U+2069 to reorder what an officer sees
("Trojan Source" style). Each is replaced by a visible marker; the text itself sits in a
``<bdi dir="auto">`` so Urdu and other right-to-left text still runs the right way.
"""

from __future__ import annotations

from markupsafe import Markup, escape

BIDI_CONTROLS = {
    "\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO", "\u202e": "RLO",
    "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI",
}


def neutralise(text: str | None) -> Markup:
    """Escape ``text`` and replace every bidi control with a visible, inert marker."""
    out = str(escape(text or ""))
    for ch, name in BIDI_CONTROLS.items():
        if ch in out:
            out = out.replace(ch, f'<span class="bidi-mark" title="U+{ord(ch):04X}">[{name}]</span>')
    return Markup(out)  # noqa: S704 (escaped above; only our own markers added)


def citizen_text(text: str | None) -> Markup:
    """The text as the citizen wrote it, escaped and neutralised, isolated with its own direction."""
    return Markup('<bdi dir="auto" class="ctext">') + neutralise(text) + Markup("</bdi>")


def strip_controls(text: str | None) -> str:
    """Plain text without bidi controls (exports, the API)."""
    return "".join(ch for ch in (text or "") if ch not in BIDI_CONTROLS)


def mask_phone(phone: str | None) -> str:
    """``+9198******45`` style: enough to recognise, not to call."""
    if not phone:
        return ""
    return phone[:5] + "*" * max(0, len(phone) - 7) + phone[-2:]
