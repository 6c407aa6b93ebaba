"""Every setting Bharosa reads from the environment, in one frozen object read once at start-up.

``load()`` reads the environment: it parses every variable (its type, its range), checks those that need
the zone against :func:`zone.get_zone`, and raises one :class:`SettingsError` naming every bad variable
(``BHAROSA_TRUSTED_PROXIES: not a whole number from 0 to 10: 'two'``). In dev mode (``BHAROSA_ENV=dev``)
a bad value is logged as a warning instead and its default used. A ``BHAROSA_*`` variable no setting
has (a typo such as ``BHAROSA_WROKERS``) is named in a warning. ``get()`` returns the loaded object,
loading it on first use (a child process, a script); the entry points (``app.create_app``, ``worker.py``)
call ``load()`` once. An empty variable is the same as an unset one.

A package above (a channel) adds its own variables with :func:`register`: they are parsed and checked
by the same ``load()``, and reach the package as ``get().section(name)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zone import ROOT, ConfigError

log = logging.getLogger(__name__)
PREFIX = "BHAROSA_"
WHISPER_BACKENDS = ("faster-whisper", "openai-whisper")


class SettingsError(ConfigError):
    """One or more environment variables are wrong; ``problems`` holds one line per variable, each naming it."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("environment: " + "; ".join(self.problems))


# -- types: a parser turns the variable's (stripped, non-empty) text into its value, or raises ValueError --------

def text(raw: str) -> str:
    """Any text."""
    return raw


def boolean(raw: str) -> bool:
    """1/0, true/false, yes/no, on/off."""
    low = raw.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("not 1 or 0 (true/false, yes/no, on/off)")


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """A whole number from ``lo`` to ``hi``."""
    def parse(raw: str) -> int:
        if not raw.isdigit() or not lo <= int(raw) <= hi:
            raise ValueError(f"not a whole number from {lo} to {hi}")
        return int(raw)
    return parse


def seconds(hi: float) -> Callable[[str], float]:
    """A number of seconds above 0, at most ``hi``."""
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value <= hi:  # NaN fails too
            raise ValueError(f"not a number of seconds (above 0, at most {hi:g})")
        return value
    return parse


def path(raw: str) -> Path:
    """A file or folder (``~`` is the user's home)."""
    return Path(raw).expanduser()


def one_of(*choices: str) -> Callable[[str], str]:
    """One of ``choices``."""
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError("not one of " + ", ".join(choices))
        return raw
    return parse


def url(*schemes: str, loopback_http: bool = False) -> Callable[[str], str]:
    """A URL with one of ``schemes`` (a ``+driver`` suffix allowed), without a trailing slash.

    ``loopback_http``: ``http://`` only to this machine (a local recorder); anything else must be https.
    """
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        scheme = parts.scheme.split("+", 1)[0].lower()
        wants = "not a URL starting " + ", ".join(f"{s}://" for s in schemes)
        if loopback_http:
            wants += " (http:// only to 127.0.0.1 or localhost)"
        if scheme not in schemes or (scheme in ("http", "https", "redis", "rediss") and not parts.hostname):
            raise ValueError(wants)
        if loopback_http and scheme == "http" and not _loopback(parts.hostname or ""):
            raise ValueError(wants)
        return raw.rstrip("/") if scheme in ("http", "https") else raw
    return parse


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def database_url(raw: str) -> str:
    """``sqlite:///<file>`` or ``postgresql://…`` (``postgres://`` too; both become ``postgresql+psycopg://``)."""
    url("sqlite", "postgresql", "postgres")(raw)
    return re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg://", raw)


def whatsapp_address(raw: str) -> str:
    """A WhatsApp sender, ``whatsapp:+<number>`` (the prefix is added when missing)."""
    number = raw[len("whatsapp:"):] if raw.startswith("whatsapp:") else raw
    if not re.fullmatch(r"\+?\d{6,15}", number):
        raise ValueError("not a phone number (whatsapp:+<country code><number>)")
    return f"whatsapp:{number}"


def phone_number(raw: str) -> str:
    """A sender number in E.164 (``+<country code><number>``) or a short code / alphanumeric sender id."""
    if not re.fullmatch(r"\+\d{6,15}|\d{3,8}|(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9]{1,11}", raw):
        raise ValueError("not a phone number (+<country code><number>), short code or sender id")
    return raw


def import_spec(raw: str) -> str:
    """``package.module:ClassName``."""
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", raw):
        raise ValueError("not package.module:ClassName")
    return raw


def language_weights(raw: str) -> tuple[tuple[str, float], ...]:
    """``lang=weight`` pairs separated by commas (``hi=100,en=1``), each weight above 0."""
    out = []
    for part in raw.split(","):
        lang, eq, weight = (x.strip() for x in part.partition("="))
        try:
            ok = bool(eq) and re.fullmatch(r"[a-z]{2,3}", lang) is not None and float(weight) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"not lang=weight pairs separated by commas, each weight above 0 (at {part.strip()!r})")
        out.append((lang, float(weight)))
    return tuple(out)


def _zone_languages(weights: tuple[tuple[str, float], ...], zone) -> str | None:
    foreign = [lang for lang, _ in weights if lang not in zone.languages]
    if foreign:
        return f"{', '.join(foreign)} not among the zone's languages ({', '.join(zone.languages)})"
    return None


def _hostname() -> str:
    return socket.gethostname()


# -- the variables --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Var:
    """One environment variable.

    Attributes:
        env: its name.
        parse: its type (one of this module's parsers): text in, value out, ``ValueError`` naming what is wrong.
        default: the value when it is unset or empty (a function: called at load).
        doc: what it means, one line.
        secret: never shown (not in errors or reprs).
        zone_check: ``(value, zone) -> problem or None``, for a value set in the environment.
        attr: the attribute it becomes (on :class:`Settings`, or on a section's object).
    """

    env: str
    parse: Callable[[str], Any]
    default: Any
    doc: str
    secret: bool = False
    zone_check: Callable[[Any, Any], str | None] | None = None
    attr: str = ""


def _var(env: str, parse: Callable[[str], Any], default: Any, doc: str, *, secret: bool = False,
         quiet: bool = False, zone_check: Callable[[Any, Any], str | None] | None = None) -> Any:
    """A :class:`Settings` attribute read from ``env``; ``quiet``: left out of the repr (a URL's password)."""
    meta = {"var": Var(env, parse, default, doc, secret, zone_check)}
    return field(default=None if callable(default) else default, repr=not (secret or quiet), metadata=meta)


@dataclass(frozen=True)
class Settings:
    """The process's settings, one attribute per environment variable (see each one's ``doc``)."""

    mode: str = _var("BHAROSA_ENV", lambda raw: "dev" if raw.lower() == "dev" else "production", "production",
                     "dev: development mode (simulators, outbound recorded and never sent, the dev token); "
                     "anything else or unset: production")
    config: Path = _var("BHAROSA_CONFIG", path, ROOT / "config.yaml", "the zone file (districts, categories, limits)")
    database_url: str | None = _var("DATABASE_URL", database_url, None,
                                    "the database (unset: sqlite:///var/bharosa.db, WAL mode; postgresql://… "
                                    "for production)", quiet=True)
    redis_url: str = _var("REDIS_URL", url("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0",
                          "Redis, for rq's queues and the flood limit (holds no truth)", quiet=True)
    public_base_url: str | None = _var("PUBLIC_BASE_URL", url("https", "http"), None,
                                       "the public https URL Twilio calls (signatures behind proxies, status "
                                       "callbacks)")
    host: str = _var("HOST", text, "127.0.0.1", "the address `python app.py` listens on")
    port: int = _var("PORT", whole(1, 65535), 5000, "the port `python app.py` listens on (and `app.py chat` calls)")
    trusted_proxies: int = _var("BHAROSA_TRUSTED_PROXIES", whole(0, 10), 0,
                                "how many proxies in front of the app append to X-Forwarded-For (0: the header "
                                "is ignored)")
    secret_key: str | None = _var("BHAROSA_SECRET_KEY", text, None,
                                  "signs console sessions and hashes the web page's one-time codes, the same on "
                                  "every web node (production needs it; dev mode generates var/secret_key)",
                                  secret=True)
    health_token: str | None = _var("BHAROSA_HEALTH_TOKEN", text, None,
                                    "bearer token for /metrics and the details of /healthz", secret=True)
    node: str = _var("BHAROSA_NODE", text, _hostname,
                     "this node's name (its worker replays its spool; shown in /healthz); default the host name")
    warm: bool = _var("BHAROSA_WARM", boolean, True, "0: do not warm the dialogue engine at start")
    media_dir: Path = _var("BHAROSA_MEDIA_DIR", path, ROOT / "var" / "media",
                           "where attachments, voice notes and evidence are kept")
    spool_dir: Path = _var("BHAROSA_SPOOL_DIR", path, ROOT / "var" / "spool",
                           "where inbound messages wait while the database is down")
    cache_dir: Path = _var("BHAROSA_CACHE_DIR", path, ROOT / "var" / "cache", "the NLU's fitted-model cache")
    sms_sender: str | None = _var("BHAROSA_SMS_SENDER", import_spec, None,
                                  "a state SMS gateway instead of Twilio for SMS: package.module:ClassName")
    twilio_account_sid: str | None = _var("TWILIO_ACCOUNT_SID", text, None, "Twilio's account SID")
    twilio_auth_token: str | None = _var("TWILIO_AUTH_TOKEN", text, None,
                                         "Twilio's auth token (signs the webhooks; unset: every webhook is "
                                         "refused, but in dev mode)", secret=True)
    twilio_whatsapp_from: str = _var("TWILIO_WHATSAPP_FROM", whatsapp_address, "whatsapp:+14155238886",
                                     "our WhatsApp sender (default Twilio's sandbox)")
    twilio_sms_from: str = _var("TWILIO_SMS_FROM", phone_number, "+15005550006",
                                "our SMS number (default Twilio's test number)")
    twilio_api_base_url: str = _var("TWILIO_API_BASE_URL", url("https", "http"), "https://api.twilio.com",
                                    "Twilio's REST API (tests point it at a local recorder)")
    twilio_http_timeout: float = _var("TWILIO_HTTP_TIMEOUT", seconds(300), 15.0, "seconds per Twilio REST call")
    requests_ca_bundle: Path | None = _var("REQUESTS_CA_BUNDLE", path, None,
                                           "CA bundle for outbound HTTPS (a corporate CA)")
    curl_ca_bundle: Path | None = _var("CURL_CA_BUNDLE", path, None, "CA bundle, when REQUESTS_CA_BUNDLE is unset")
    whisper_backend: str = _var("BHAROSA_WHISPER_BACKEND", one_of(*WHISPER_BACKENDS), "faster-whisper",
                                "the speech-to-text backend")
    whisper_model: str | None = _var("BHAROSA_WHISPER_MODEL", text, None,
                                     "a Whisper model folder, .pt file or cached model name instead of the "
                                     "packaged one")
    model_dir: Path = _var("BHAROSA_MODEL_DIR", path, ROOT / "var" / "models" / "whisper-base-ct2",
                           "where the packaged Whisper model is assembled")
    whisper_threads: int = _var("BHAROSA_WHISPER_THREADS", whole(1, 256), 2, "CPU threads for speech to text")
    whisper_beam: int = _var("BHAROSA_WHISPER_BEAM", whole(1, 32), 5, "Whisper's beam size")
    whisper_device: str | None = _var("BHAROSA_WHISPER_DEVICE", one_of("cpu", "cuda", "auto"), None,
                                      "cpu, cuda or auto (unset: cpu for faster-whisper, auto for openai-whisper)")
    whisper_prompt: bool = _var("BHAROSA_WHISPER_PROMPT", boolean, True,
                                "0: no decoding prompt naming the zone's districts")
    whisper_script_mask: bool = _var("BHAROSA_WHISPER_SCRIPT_MASK", boolean, True,
                                     "0: do not suppress other scripts' tokens when decoding Hindi")
    language_weights: tuple[tuple[str, float], ...] = _var(
        "BHAROSA_LANGUAGE_WEIGHTS", language_weights, (("hi", 100.0),),
        "prior weights on the speech language detector's probabilities, lang=weight,… (languages of the zone)",
        zone_check=_zone_languages)

    given: frozenset[str] = field(default=frozenset(), repr=False)
    problems: tuple[str, ...] = field(default=(), repr=False)
    warnings: tuple[str, ...] = field(default=(), repr=False)
    sections: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def dev(self) -> bool:
        """Development mode (``BHAROSA_ENV=dev``)."""
        return self.mode == "dev"

    def is_set(self, env: str) -> bool:
        """True when the variable ``env`` is set (not empty) in the environment this object was read from."""
        return env in self.given

    def section(self, name: str) -> Any:
        """A registered section's object (e.g. ``"telegram"``); one registered after the load is read now, from
        the environment the load read.

        Raises:
            KeyError: no section of that name is registered.
            SettingsError: (production) the section's variables are wrong.
        """
        if name not in self.sections:
            if name not in _SECTIONS:
                raise KeyError(f"no settings section {name!r} is registered")
            obj, problems = _read_section(_SECTIONS[name], self.source)
            _judge(problems, self.dev)
            self.sections[name] = obj  # the frozen object's one cache: read once, like the rest
        return self.sections[name]


def core_vars() -> list[Var]:
    """The variables of :class:`Settings`, in order."""
    return [dataclasses.replace(f.metadata["var"], attr=f.name) for f in dataclasses.fields(Settings)
            if "var" in f.metadata]


# -- sections registered by the packages that own them --------------------------------------------

@dataclass(frozen=True)
class Section:
    name: str
    vars: tuple[Var, ...]
    build: Callable[..., Any]
    check: Callable[[Any, Callable[[str], bool]], list[str]] | None


_SECTIONS: dict[str, Section] = {}


def register(section: str, fields: Sequence[Var], *, build: Callable[..., Any] | None = None,
             check: Callable[[Any, Callable[[str], bool]], list[str]] | None = None) -> None:
    """Add a package's own variables (a channel's, in ``channels/<name>/settings.py``).

    Args:
        section: the section's name, for ``get().section(name)``.
        fields: its variables (``Var(env, parse, default, doc, attr=...)``, with this module's parsers).
        build: makes the section's object from the values, by ``attr`` (default a frozen namespace).
        check: ``check(obj, is_set)``, the problems between the variables (``"NAME: what is wrong"``), given the
            built object and whether the environment sets a variable (its value may have been bad).
    """
    vs = tuple(fields)
    for v in vs:
        if not v.attr:
            raise ValueError(f"{v.env}: a section's variable needs its attr")
    _SECTIONS[section] = Section(section, vs, build or _Namespace, check)


class _Namespace:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are read-only")


def sections() -> dict[str, Section]:
    """The registered sections, by name."""
    return dict(_SECTIONS)


# -- loading -------------------------------------------------------------------------------------

_CORE = core_vars()
_current: Settings | None = None
_loading = threading.local()  # the settings a load is checking, for that thread's zone checks


def _shown(v: Var, raw: str) -> str:
    """The bad value, for the message: nothing of a secret, no password of a URL."""
    if v.secret:
        return ""
    return ": " + repr(re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", raw))


def _default(v: Var) -> Any:
    return v.default() if callable(v.default) else v.default


def _read(v: Var, environ: Mapping[str, str], problems: list[str]) -> tuple[Any, bool]:
    """``(value, parsed from the environment)``; a bad value is a problem and gives the default."""
    raw = (environ.get(v.env) or "").strip()
    if not raw:
        return _default(v), False
    try:
        return v.parse(raw), True
    except ValueError as exc:
        problems.append(f"{v.env}: {exc}{_shown(v, raw)}")
        return _default(v), False


def _read_all(vs: Sequence[Var], environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The values by ``attr``; then the zone's checks of the values the environment gave."""
    values, parsed = {}, []
    for v in vs:
        values[v.attr], ok = _read(v, environ, problems)
        if ok and v.zone_check:
            parsed.append(v)
    if parsed:
        from zone import get_zone  # the zone's file is named by these settings: read it only when a check needs it

        zone = get_zone()
        for v in parsed:
            problem = v.zone_check(values[v.attr], zone)
            if problem:
                problems.append(f"{v.env}: {problem}")
    return values


def _read_section(sec: Section, environ: Mapping[str, str]) -> tuple[Any, list[str]]:
    problems: list[str] = []
    obj = sec.build(**_read_all(sec.vars, environ, problems))
    if sec.check:
        problems.extend(sec.check(obj, lambda name: bool((environ.get(name) or "").strip())))
    return obj, problems


def _judge(problems: Sequence[str], dev: bool) -> None:
    """Raise (production) or warn (dev mode) about ``problems``."""
    if not problems:
        return
    if not dev:
        raise SettingsError(problems)
    for p in problems:
        log.warning("%s (dev mode: using its default)", p)


def _unknown(environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``BHAROSA_*`` variable no setting has."""
    known = sorted({v.env for v in _CORE} | {v.env for sec in _SECTIONS.values() for v in sec.vars})
    ours = [n for n in known if n.startswith(PREFIX)]
    out = []
    for k in sorted(k for k in environ if k.startswith(PREFIX) and k not in known):
        near = difflib.get_close_matches(k, ours, n=1)
        out.append(f"{k}: no such setting, ignored" + (f" (did you mean {near[0]}?)" if near else ""))
    return out


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting (the core's and every registered section's) and make them the process's settings.

    Args:
        environ: the environment (default ``os.environ``).

    Returns:
        The new :class:`Settings`, also what :func:`get` returns from now on.

    Raises:
        SettingsError: (production) every bad variable, each named with what is wrong.
        ConfigError: a check needed the zone, and the zone's files are wrong.
    """
    global _current
    env = dict(os.environ if environ is None else environ)
    given = frozenset(k for k, raw in env.items() if raw.strip())
    problems: list[str] = []
    first = [v for v in _CORE if v.attr in ("mode", "config")]
    early = _read_all(first, env, problems)
    # The zone's checks read the zone's file these settings name: in this thread, get() gives them meanwhile.
    _loading.settings = Settings(**early, given=given, source=env)
    try:
        values = {**early, **_read_all([v for v in _CORE if v not in first], env, problems)}
        found = {}
        for sec in _SECTIONS.values():
            found[sec.name], more = _read_section(sec, env)
            problems.extend(more)
        _judge(problems, early["mode"] == "dev")
    except Exception:
        _current = None  # the environment is wrong: the next get() reads it again (and says so again)
        raise
    finally:
        _loading.settings = None
    warnings = _unknown(env)
    for w in warnings:
        log.warning("%s", w)
    _current = Settings(**values, given=given, problems=tuple(problems), warnings=tuple(warnings),
                        sections=found, source=env)
    return _current


def get() -> Settings:
    """The process's settings, loaded on first use.

    Raises:
        SettingsError: on that first use, as :func:`load`.
    """
    loading = getattr(_loading, "settings", None)
    if loading is not None:
        return loading
    return _current if _current is not None else load()
