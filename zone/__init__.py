"""The zone: config.yaml and data/stations.csv, validated at start-up.

Every other package reads the zone through :func:`get_zone`. A mistake in either file raises
:class:`ConfigError` whose message is one line naming the bad key or row.
"""

from __future__ import annotations

import csv
import os
import re
import zoneinfo
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zone import messages

ROOT = Path(__file__).resolve().parent.parent  # the repository (config.yaml, data/)
REQUIRED_DISTRICTS = (
    "kanpur_nagar", "kanpur_dehat", "auraiya", "etawah", "kannauj",
    "farrukhabad", "jalaun", "jhansi", "lalitpur",
)
STATION_KINDS = ("thana", "women_desk", "cyber_cell", "nodal")


class ConfigError(Exception):
    """The zone configuration is invalid; the message names the bad key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Strict):
    en: str
    hi: str


class ZoneInfo(_Strict):
    key: str
    name_en: str
    name_hi: str
    timezone: str = "Asia/Kolkata"
    emergency_number: str = "112"
    helpline_number: str = ""
    stations_file: str = "data/stations.csv"
    duty_officer_phone: str = ""


class SLA(_Strict):
    hours: float = Field(24, gt=0)
    reminders: list[float] = [0.5, 0.8]
    escalation_interval_hours: float = Field(4, gt=0)
    emergency_minutes: float = Field(30, gt=0)
    sweep_interval_seconds: float = Field(5, gt=0)

    @field_validator("reminders")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        for x in v:
            if not 0 < x < 1:
                raise ValueError(f"reminder point {x} must be a fraction between 0 and 1")
        return sorted(v)


class Conversation(_Strict):
    idle_expiry_minutes: float = Field(120, gt=0)
    max_out_of_scope: int = Field(2, ge=1)
    low_confidence: float = Field(0.6, ge=0, le=1)


class Limits(_Strict):
    per_sender_per_minute: int = Field(20, ge=1)
    media_max_bytes: int = Field(16 * 1024 * 1024, gt=0)
    media_max_seconds: float = Field(600, gt=0)
    media_decode_seconds: float = Field(30, gt=0)
    web_max_files: int = Field(10, ge=1)
    web_max_file_bytes: int = Field(16 * 1024 * 1024, gt=0)
    # The JSON API and Open311: requests a minute per token / api_key, and per address without one.
    api_per_minute: int = Field(600, ge=1)
    # An officer's API token works this many days after it is issued.
    api_token_days: int = Field(90, ge=1)
    # The citizen web page's one-time codes (SMS pumping): mobiles of these countries only (ISO 3166 codes),
    # at most so many codes an hour per client address, and so many an hour for the whole service.
    otp_countries: list[str] = Field(["IN"], min_length=1)
    otp_per_address_per_hour: int = Field(10, ge=1)
    otp_per_hour: int = Field(500, ge=1)

    @field_validator("otp_countries")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        import phonenumbers

        for code in v:
            if code not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"{code!r} is not a country code such as IN")
        return v


class Retention(_Strict):
    closed_days: int = Field(365, ge=1)


class Console(_Strict):
    """The officers' console: minutes without a page view after which a session is signed out.

    At most 720 (the 12 hours a console session lasts however busy it is).
    """

    idle_minutes: int = Field(30, ge=1, le=720, strict=True)


class Closing(_Strict):
    """Whether the 1 Number cell must call the citizen back before a disposed ticket may close."""

    verification_call: bool = False
    # Only these categories need the call; empty: every category (when verification_call is on).
    categories: list[str] = []


class Voice(_Strict):
    """The helpline IVR: how long a caller may speak, how long to wait for keys, which TTS voices."""

    max_record_seconds: int = Field(120, ge=10, le=600)
    record_silence_seconds: int = Field(5, ge=1, le=60)
    gather_timeout_seconds: int = Field(6, ge=1, le=30)
    say_voice_hi: str = "Polly.Aditi"
    say_voice_en: str = "Polly.Aditi"


class District(_Strict):
    key: str
    name_en: str
    name_hi: str
    variants: list[str] = []
    ref_prefix: str = Field(pattern=r"^[A-Z]{3}$")
    chain: str
    keypad: int = Field(ge=0, le=9)


class Route(_Strict):
    unit: Literal["women_desk", "cyber_cell"] | None = None
    woman_officer: bool = False


class Category(_Strict):
    key: str = Field(pattern=r"^[a-z_]+$")
    name_en: str
    name_hi: str
    keywords: list[str] = []
    cognizable: bool = False
    confidential: bool = False
    route: Route = Route()
    escalate_from: str | None = None
    group: str | None = None  # a category_groups key; None only for "other"


class CategoryGroup(_Strict):
    """A group of categories the citizen can choose by one keypad digit when the bot cannot tell."""

    key: str = Field(pattern=r"^[a-z_]+$")
    keypad: int = Field(ge=1, le=9)
    name_en: str
    name_hi: str


class Outcome(_Strict):
    en: str
    hi: str
    needs_number: bool = False


class Template(_Strict):
    """An SMS sent outside a conversation: its text is the message catalogue's ``sms.<name>``, its DLT template
    id what the deployment registered for it (config.yaml ``templates.<name>.dlt_template_id``)."""

    name: str
    dlt_template_id: str

    @field_validator("dlt_template_id", mode="before")
    @classmethod
    def _dlt_id(cls, v: object) -> object:
        v = str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # unquoted in YAML
        if not isinstance(v, str) or not re.fullmatch(r"\d{19}", v):
            raise ValueError("must be the 19-digit DLT template id the platform gave")
        return v

    def text(self, lang: str | None) -> str:
        """The template's text in the language :func:`zone.messages.language` picks."""
        return messages.t(f"{messages.SMS}.{self.name}", lang)

    def render(self, lang: str | None, **values: object) -> str:
        """Fill the template's {placeholders} in the given language."""
        return self.text(lang).format(**{k: "" if v is None else v for k, v in values.items()})

    def pattern(self, lang: str | None) -> re.Pattern[str]:
        """A regex that matches exactly the texts this template can produce (DLT check)."""
        parts = re.split(r"(\{[a-z_]+\})", self.text(lang))
        rx = "".join(".*?" if re.fullmatch(r"\{[a-z_]+\}", p) else re.escape(p) for p in parts)
        return re.compile(rf"^{rx}$", re.S)


class WhatsAppTemplate(_Strict):
    content_sid: str = ""
    variables: list[str] = []


class Station(_Strict):
    """One row of data/stations.csv."""

    code: str
    name_en: str
    name_hi: str
    district: str
    circle: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    kind: str = "thana"
    nodal: bool = False
    phone: str = ""
    source: str = ""


class Zone(_Strict):
    """The validated zone: districts, chains, categories, SLA, templates and stations."""

    zone: ZoneInfo
    languages: list[Literal["hi", "en"]] = ["hi", "en"]
    default_language: Literal["hi", "en"] = "hi"
    sla: SLA = SLA()
    conversation: Conversation = Conversation()
    limits: Limits = Limits()
    retention: Retention = Retention()
    console: Console = Console()
    voice: Voice = Voice()
    closing: Closing = Closing()
    ranks: dict[str, Names]
    chains: dict[str, list[str]]
    confidential_viewer_roles: list[str] = ["sho", "cell", "admin"]
    # Roles that may reveal a masked confidential identity on one ticket, with a reason (an audited Event).
    confidential_unmask_roles: list[str] = ["sp", "ssp", "dcp", "jcp", "cp", "ig_zone"]
    districts: list[District]
    categories: list[Category]
    category_groups: list[CategoryGroup] = []
    outcomes: dict[str, Outcome]
    templates: dict[str, Template]  # from config.yaml: name -> {dlt_template_id}; the texts are sms.<name>
    whatsapp_templates: dict[str, WhatsAppTemplate] = {}
    buttons_content_sid: str = ""
    stations: list[Station] = []

    @field_validator("templates", mode="before")
    @classmethod
    def _template_names(cls, v: object) -> object:
        if not isinstance(v, dict):
            return v
        out = {}
        for name, reg in v.items():
            if isinstance(reg, dict) and set(reg) & {"hi", "en"}:
                raise ValueError(f"{name}: its text is {messages.SMS}.{name} in zone/messages.yaml; "
                                 "config.yaml keeps only its dlt_template_id")
            out[name] = {**reg, "name": name} if isinstance(reg, dict) else reg
        return out

    @model_validator(mode="after")
    def _cross_checks(self) -> Zone:
        for name, chain in self.chains.items():
            if not chain:
                raise ValueError(f"chains.{name}: empty chain")
            for rank in chain:
                if rank not in self.ranks:
                    raise ValueError(f"chains.{name}: unknown rank '{rank}'")
        keys = [d.key for d in self.districts]
        for k in REQUIRED_DISTRICTS:
            if k not in keys:
                raise ValueError(f"districts: missing district '{k}'")
        seen: set[str] = set()
        pads: set[int] = set()
        for i, d in enumerate(self.districts):
            if d.key in seen:
                raise ValueError(f"districts[{i}].key: duplicate district '{d.key}'")
            seen.add(d.key)
            if d.chain not in self.chains:
                raise ValueError(f"districts[{i}].chain: unknown chain '{d.chain}'")
            if d.keypad in pads:
                raise ValueError(f"districts[{i}].keypad: keypad {d.keypad} used twice")
            pads.add(d.keypad)
        cats: set[str] = set()
        for i, c in enumerate(self.categories):
            if c.key in cats:
                raise ValueError(f"categories[{i}].key: duplicate category '{c.key}'")
            cats.add(c.key)
            if c.escalate_from and c.escalate_from not in self.ranks:
                raise ValueError(f"categories[{i}].escalate_from: unknown rank '{c.escalate_from}'")
        for c in self.closing.categories:
            if c not in cats:
                raise ValueError(f"closing.categories: unknown category '{c}'")
        if "other" not in cats:
            raise ValueError("categories: the catch-all category 'other' is missing")
        groups = {g.key for g in self.category_groups}
        if len(groups) != len(self.category_groups):
            raise ValueError("category_groups: a group key is used twice")
        if len({g.keypad for g in self.category_groups}) != len(self.category_groups):
            raise ValueError("category_groups: a keypad digit is used twice")
        for i, c in enumerate(self.categories):
            if c.group is not None and c.group not in groups:
                raise ValueError(f"categories[{i}].group: unknown group '{c.group}' (category_groups lists "
                                 f"{', '.join(sorted(groups)) or 'none'})")
            if self.category_groups and c.group is None and c.key != "other":
                raise ValueError(f"categories[{i}].group: category '{c.key}' has no group")
        for g in self.category_groups:
            if not any(c.group == g.key for c in self.categories):
                raise ValueError(f"category_groups: group '{g.key}' has no category")
        sms = messages.section(messages.SMS)
        for name in sms:
            if name not in self.templates:
                raise ValueError(f"templates.{name}: the SMS text {messages.SMS}.{name} has no DLT template id "
                                 "(register it and add it here)")
        for name in self.templates:
            if name not in sms:
                raise ValueError(f"templates.{name}: a DLT template id for an unknown template (no SMS text "
                                 f"{messages.SMS}.{name} in the message catalogue)")
        for name in self.whatsapp_templates:
            if name not in self.templates:
                raise ValueError(f"whatsapp_templates.{name}: no SMS template of that name")
        if self.default_language not in self.languages:
            raise ValueError(f"default_language: '{self.default_language}' is not in languages")
        return self

    # -- look-ups ---------------------------------------------------------------------------
    @cached_property
    def district_by_key(self) -> dict[str, District]:
        return {d.key: d for d in self.districts}

    @cached_property
    def category_by_key(self) -> dict[str, Category]:
        return {c.key: c for c in self.categories}

    def groups_menu(self) -> list[CategoryGroup]:
        """The category groups in keypad order."""
        return sorted(self.category_groups, key=lambda g: g.keypad)

    def group_categories(self, group: str) -> list[Category]:
        """The categories of one group, in config order."""
        return [c for c in self.categories if c.group == group]

    @cached_property
    def station_by_code(self) -> dict[str, Station]:
        return {s.code: s for s in self.stations}

    def stations_in(self, district: str) -> list[Station]:
        """Stations of one district, in file order."""
        return [s for s in self.stations if s.district == district]

    def nodal_station(self, district: str) -> Station:
        """The district's nodal station (the 1 Number cell's default)."""
        sts = self.stations_in(district)
        for s in sts:
            if s.nodal:
                return s
        return sts[0]

    def chain_for(self, district: str) -> list[str]:
        """The chain of command (ranks, bottom to top) for a district."""
        return self.chains[self.district_by_key[district].chain]

    def district_by_keypad(self, digit: int) -> District | None:
        return next((d for d in self.districts if d.keypad == digit), None)


def _load_stations(path: Path, zone_keys: set[str]) -> list[dict]:
    if not path.exists():
        raise ConfigError(f"zone.stations_file: file not found: {path}")
    rows = []
    codes: set[str] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"code", "name_en", "name_hi", "district", "circle", "lat", "lon", "source"}
        missing = need - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
        for n, row in enumerate(reader, start=2):
            code = (row.get("code") or "").strip()
            where = f"{path.name} line {n} (station '{code}')"
            if not code:
                raise ConfigError(f"{path.name} line {n}: empty station code")
            if code in codes:
                raise ConfigError(f"{where}: duplicate station code '{code}'")
            codes.add(code)
            for col in ("lat", "lon"):
                if not (row.get(col) or "").strip():
                    raise ConfigError(f"{where}: no coordinates ({col} is empty)")
            if row["district"] not in zone_keys:
                raise ConfigError(f"{where}: unknown district '{row['district']}'")
            kind = (row.get("kind") or "thana").strip() or "thana"
            if kind not in STATION_KINDS:
                raise ConfigError(f"{where}: unknown kind '{kind}'")
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except ValueError:
                raise ConfigError(f"{where}: lat/lon are not numbers") from None
            rows.append({
                "code": code, "name_en": row["name_en"].strip(), "name_hi": row["name_hi"].strip(),
                "district": row["district"].strip(), "circle": row["circle"].strip(), "lat": lat, "lon": lon,
                "kind": kind, "nodal": (row.get("nodal") or "").strip().lower() in ("1", "true", "yes"),
                "phone": (row.get("phone") or "").strip(), "source": (row.get("source") or "").strip(),
            })
    return rows


def _format_error(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e["loc"]).replace(".[", "[")
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "missing":
        return f"{loc}: required key is missing"
    if e["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    value = e.get("input")
    shown = f" (got {value!r})" if not isinstance(value, (dict, list)) and value is not None else ""
    return f"{loc}: {msg}{shown}" if loc else msg


def load_zone(path: str | os.PathLike | None = None) -> Zone:
    """Load and validate the zone configuration.

    Args:
        path: the YAML file; default ``$BHAROSA_CONFIG`` or ``config.yaml`` next to this module.

    Returns:
        The validated :class:`Zone`, stations included.

    Raises:
        ConfigError: with one line naming the bad key, value or station row.
    """
    from zone import settings  # it imports this module

    p = Path(path or settings.get().config)
    if not p.exists():
        raise ConfigError(f"config file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p.name}: not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p.name}: the top level must be a mapping")
    keys = {d.get("key") for d in raw.get("districts") or [] if isinstance(d, dict)}
    sf = Path((raw.get("zone") or {}).get("stations_file") or "data/stations.csv")
    if not sf.is_absolute():
        sf = (p.parent / sf) if (p.parent / sf).exists() else ROOT / sf
    raw["stations"] = _load_stations(sf, keys)
    try:
        zone = Zone.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{p.name}: {_format_error(exc)}") from None
    for d in zone.districts:
        if not zone.stations_in(d.key):
            raise ConfigError(f"{sf.name}: district '{d.key}' has no station")
    return zone


_ZONE: Zone | None = None


def get_zone() -> Zone:
    """The process-wide zone, loaded once."""
    global _ZONE
    if _ZONE is None:
        _ZONE = load_zone()
    return _ZONE


def local(dt: datetime) -> datetime:
    """A stored (aware, UTC) time in the zone's time zone: what officers and citizens read."""
    return dt.astimezone(zoneinfo.ZoneInfo(get_zone().zone.timezone))


def set_zone(zone: Zone | None) -> None:
    """Replace the process-wide zone (tests, reload)."""
    global _ZONE
    _ZONE = zone
