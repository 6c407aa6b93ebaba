"""Loading and playing the hostile corpus (tests/corpus/*.yaml): macros, signing modes, posting."""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import yaml

from tests.conftest import PUBLIC, TOKEN, load_fixture

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
_seq = itertools.count(1)


def load(family: str) -> dict:
    """One family's YAML file."""
    return yaml.safe_load((CORPUS / f"{family}.yaml").read_text(encoding="utf-8"))


def entries(family: str) -> list[dict]:
    return load(family)["entries"]


def ids(items: list[dict]) -> list[str]:
    return [e["id"] for e in items]


def expand(v, ctx: dict):
    """Macros: ``{repeat: s, times: n}``, ``{concat: [...]}``, and ``{{name}}`` placeholders in strings."""
    if isinstance(v, dict):
        if "repeat" in v:
            return expand(v["repeat"], ctx) * int(v["times"])
        if "concat" in v:
            return "".join(expand(x, ctx) for x in v["concat"])
        return {k: expand(x, ctx) for k, x in v.items()}
    if isinstance(v, list):
        return [expand(x, ctx) for x in v]
    if isinstance(v, str):
        for k, x in ctx.items():
            v = v.replace("{{" + k + "}}", x)
        return v
    return v


def context(recorder_url: str) -> dict:
    """Placeholder values for one entry: a fresh sid, the API origin and its near misses."""
    p = urlsplit(recorder_url)
    sid = f"{next(_seq):06d}" + secrets.token_hex(13)
    return {"sid": sid, "name": "ME" + secrets.token_hex(16), "api": recorder_url,
            "api_other_port": f"{p.scheme}://{p.hostname}:{(p.port or 80) + 1}",
            "api_https": f"https://{p.hostname}:{p.port}",
            "api_localhost": f"{p.scheme}://localhost:{p.port}",
            "api_userinfo": f"{p.scheme}://{p.hostname}:{p.port}@evil.example/media/x"}


def base_form(entry: dict, ctx: dict) -> dict:
    form = {}
    if entry.get("base"):
        channel, name = entry["base"].split("/")
        form = load_fixture(channel, name)
        sid = "SM" + ctx["sid"]
        for k in ("MessageSid", "SmsSid", "SmsMessageSid"):
            if k in form:
                form[k] = sid
    form.update(expand(entry.get("form") or {}, ctx))
    return {k: str(v) for k, v in form.items()}


def form_of_body(body: str, content_type: str = "application/x-www-form-urlencoded") -> dict:
    """The form as Flask will parse this raw body (what the signature is computed over)."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    env = EnvironBuilder(method="POST", data=body.encode("latin-1", "ignore") if body.isascii() else body.encode(),
                         content_type=content_type).get_environ()
    return Request(env).form  # a MultiDict: repeated keys are signed the way Twilio signs them


def signature(mode: str, url: str, form: dict, entry: dict, ctx: dict) -> str | None:
    """X-Twilio-Signature for a signing mode (None: no header)."""
    from channels.twilio import DEV_TOKEN, sign

    if mode == "none":
        return None
    if mode == "empty":
        return ""
    if mode == "garbage":
        return "not-a-signature=="
    if mode == "huge":
        return "A" * 8000
    if mode == "other_token":
        return sign(url, form, "another-accounts-token-000000000")
    if mode == "dev_token":
        return sign(url, form, DEV_TOKEN)
    if mode in ("other_url", "other_path"):
        return sign(expand(entry["url"], ctx), form, TOKEN)
    if mode == "query_added":  # signed without the query string the request carries
        return sign(url.split("?")[0], form, TOKEN)
    return sign(url, form, TOKEN)  # valid, tampered (the form is changed after signing), replayed


def post(client, entry: dict, ctx: dict, form: dict | None = None, mode: str | None = None):
    """Send one corpus entry (signed per its mode) through the test client; returns the response."""
    path = expand(entry["endpoint"], ctx)
    query = expand(entry.get("query") or "", ctx)
    full = path + (f"?{query}" if query else "")
    url = PUBLIC + full
    mode = mode or entry.get("sign", "valid")
    headers = dict(entry.get("headers") or {})
    if "raw_body" in entry:
        body = expand(entry["raw_body"], ctx)
        ctype = entry.get("content_type", "application/x-www-form-urlencoded")
        signed_form = form_of_body(body, ctype)
    else:
        form = form if form is not None else base_form(entry, ctx)
        signed_form = form
        body = urlencode(form)
        ctype = "application/x-www-form-urlencoded"
    sig = signature(mode, url, signed_form, entry, ctx)
    if mode == "tampered":
        tampered = {**signed_form, **expand(entry.get("tamper") or {}, ctx)}
        body = urlencode(tampered)
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    return client.post(full, data=body.encode() if isinstance(body, str) else body, headers=headers,
                       content_type=ctype)


def status_ok(got: int, expect) -> bool:
    want = expect if isinstance(expect, list) else [expect]
    return any(got == w or (w == "2xx" and 200 <= got < 300) or (w == "4xx" and 400 <= got < 500) for w in want)
