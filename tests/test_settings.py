"""The one settings object (zone.settings): every variable typed and checked at start-up, each problem naming it."""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

import pytest

from zone import settings
from zone.settings import SettingsError

telegram_settings = importlib.import_module("channels.telegram.settings")  # registers the Telegram section

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token"}


def _problems(**env) -> list[str]:
    with pytest.raises(SettingsError) as exc:
        settings.load({**PRODUCTION, **env})
    return exc.value.problems


@pytest.mark.parametrize("name,bad,what", [
    ("BHAROSA_WARM", "maybe", "not 1 or 0"),  # bool
    ("BHAROSA_WHISPER_PROMPT", "2", "not 1 or 0"),
    ("BHAROSA_TRUSTED_PROXIES", "two", "not a whole number from 0 to 10"),  # int, in its range
    ("BHAROSA_TRUSTED_PROXIES", "11", "not a whole number from 0 to 10"),
    ("BHAROSA_WHISPER_THREADS", "1.5", "not a whole number from 1 to 256"),
    ("PORT", "http", "not a whole number from 1 to 65535"),
    ("TWILIO_HTTP_TIMEOUT", "fast", "not a number of seconds"),  # float, in its range
    ("TWILIO_HTTP_TIMEOUT", "0", "not a number of seconds"),
    ("TELEGRAM_HTTP_TIMEOUT", "nan", "not a number of seconds"),
    ("PUBLIC_BASE_URL", "bharosa.example.org", "not a URL starting https://, http://"),  # url
    ("REDIS_URL", "127.0.0.1:6379", "not a URL starting redis://"),
    ("DATABASE_URL", "mysql://db/bharosa", "not a URL starting sqlite://, postgresql://"),
    ("TELEGRAM_API_BASE_URL", "http://api.telegram.org",
     "not a URL starting https://, http:// (http:// only to 127.0.0.1 or localhost)"),
    ("BHAROSA_WHISPER_BACKEND", "whisper.cpp", "not one of faster-whisper, openai-whisper"),  # choice
    ("BHAROSA_WHISPER_DEVICE", "gpu", "not one of cpu, cuda, auto"),
    ("BHAROSA_LANGUAGE_WEIGHTS", "hi:100", "not lang=weight pairs"),  # weights
    ("BHAROSA_SMS_SENDER", "state_gateway", "not package.module:ClassName"),
    ("TWILIO_SMS_FROM", "9839012345", "not a phone number"),
    ("TWILIO_WHATSAPP_FROM", "whatsapp:sandbox", "not a phone number"),
])
def test_a_bad_value_names_its_variable_what_is_wrong_and_the_value(name, bad, what):
    [line] = _problems(**{name: bad})
    assert line.startswith(f"{name}: {what}") and line.endswith(f": {bad!r}"), line


def test_every_bad_value_is_named_in_one_error():
    with pytest.raises(SettingsError) as exc:
        settings.load({**PRODUCTION, "BHAROSA_TRUSTED_PROXIES": "two", "BHAROSA_WHISPER_BEAM": "wide",
                       "REDIS_URL": "localhost", "BHAROSA_WARM": "sometimes"})
    named = sorted(p.split(":", 1)[0] for p in exc.value.problems)
    assert named == ["BHAROSA_TRUSTED_PROXIES", "BHAROSA_WARM", "BHAROSA_WHISPER_BEAM", "REDIS_URL"]
    assert str(exc.value).startswith("environment: ") and "\n" not in str(exc.value)
    assert "'two'" in str(exc.value) and "'wide'" in str(exc.value)


def test_a_value_the_zone_must_agree_with_is_checked_against_the_zone():
    [line] = _problems(BHAROSA_LANGUAGE_WEIGHTS="hi=100,ur=5")
    assert line == "BHAROSA_LANGUAGE_WEIGHTS: ur not among the zone's languages (hi, en)"
    s = settings.load({**PRODUCTION, "BHAROSA_LANGUAGE_WEIGHTS": "hi=50, en=2"})
    assert s.language_weights == (("hi", 50.0), ("en", 2.0))


def test_values_are_typed_and_an_empty_variable_is_unset(tmp_path):
    s = settings.load({**PRODUCTION, "BHAROSA_TRUSTED_PROXIES": "2", "BHAROSA_WARM": "off",
                       "TWILIO_HTTP_TIMEOUT": "4.5", "BHAROSA_MEDIA_DIR": str(tmp_path / "m"), "DATABASE_URL": "postgres://u@db/bharosa",
                       "TWILIO_WHATSAPP_FROM": "+919839000000", "PUBLIC_BASE_URL": "https://b.example/",
                       "BHAROSA_SPOOL_DIR": "  ", "BHAROSA_NODE": ""})
    assert (s.trusted_proxies, s.warm, s.twilio_http_timeout) == (2, False, 4.5)
    assert s.media_dir == tmp_path / "m" and s.spool_dir == ROOT / "var" / "spool"
    assert s.database_url == "postgresql+psycopg://u@db/bharosa"
    assert s.twilio_whatsapp_from == "whatsapp:+919839000000" and s.public_base_url == "https://b.example"
    assert s.node and not s.is_set("BHAROSA_NODE") and s.is_set("BHAROSA_WARM")
    assert settings.get() is s  # what the process reads from now on


def test_a_secret_is_never_shown_and_a_urls_password_is_masked():
    problems = _problems(TELEGRAM_BOT_TOKEN="12345:not-a-token", TELEGRAM_WEBHOOK_SECRET="ok-secret",
                         REDIS_URL="http://:hunter2@redis:6379")
    assert "TELEGRAM_BOT_TOKEN: not a bot token (<digits>:<letters>)" in problems
    assert "not-a-token" not in str(problems) and "hunter2" not in str(problems)
    assert "REDIS_URL: not a URL starting redis://, rediss://, unix://: 'http://:***@redis:6379'" in problems
    s = settings.load({**PRODUCTION, "BHAROSA_SECRET_KEY": "s3cret-key", "DATABASE_URL": "postgresql://u:pw@db/x"})
    assert "s3cret-key" not in repr(s) and "pw@" not in repr(s)


def test_an_unknown_bharosa_variable_is_named_in_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="zone.settings")
    s = settings.load({**PRODUCTION, "BHAROSA_WROKERS": "2", "BHAROSA_HEALTH_TOKN": "x", "OTHER_THING": "1"})
    assert s.warnings[0] == "BHAROSA_HEALTH_TOKN: no such setting, ignored (did you mean BHAROSA_HEALTH_TOKEN?)"
    assert s.warnings[1].startswith("BHAROSA_WROKERS: no such setting, ignored") and len(s.warnings) == 2
    assert "BHAROSA_WROKERS: no such setting" in caplog.text and "OTHER_THING" not in caplog.text


def test_dev_mode_warns_about_a_bad_value_and_uses_its_default(caplog):
    caplog.set_level(logging.WARNING, logger="zone.settings")
    s = settings.load({"BHAROSA_ENV": "dev", "BHAROSA_TRUSTED_PROXIES": "two", "TELEGRAM_HTTP_TIMEOUT": "soon"})
    assert s.dev and s.trusted_proxies == 0 and s.section("telegram").http_timeout == 15.0
    warned = "BHAROSA_TRUSTED_PROXIES: not a whole number from 0 to 10: 'two' (dev mode: using its default)"
    assert warned in caplog.text
    assert "TELEGRAM_HTTP_TIMEOUT" in caplog.text and len(s.problems) == 2


def test_telegrams_own_section_is_read_and_checked_by_the_same_object():
    """channels/telegram/settings.py registers TELEGRAM_*; load() parses them, and checks them against each other."""
    assert telegram_settings.SECTION in settings.sections()
    problems = _problems(TELEGRAM_BOT_TOKEN="nonsense", BHAROSA_WARM="maybe")
    assert problems == ["BHAROSA_WARM: not 1 or 0 (true/false, yes/no, on/off): 'maybe'",
                        "TELEGRAM_BOT_TOKEN: not a bot token (<digits>:<letters>)",
                        "TELEGRAM_WEBHOOK_SECRET: not set: the webhook would refuse every update"]
    assert "nonsense" not in str(problems)
    assert _problems(TELEGRAM_WEBHOOK_SECRET="s") == ["TELEGRAM_BOT_TOKEN: not set, but TELEGRAM_WEBHOOK_SECRET is"]
    token = "7000000001:AAtestTOKENnot-a-real-one_0123456789"  # noqa: S105
    settings.load({**PRODUCTION, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_WEBHOOK_SECRET": "s",
                   "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/", "TELEGRAM_HTTP_TIMEOUT": "3"})
    tg = telegram_settings.settings()
    assert (tg.bot_token, tg.webhook_secret, tg.api_base_url, tg.http_timeout) == (token, "s", "http://127.0.0.1:9",
                                                                                   3.0)
    assert token not in repr(tg)
    assert settings.load(PRODUCTION).section("telegram").bot_token == ""  # not configured: nothing wrong


def test_a_section_registered_after_the_load_is_read_from_the_same_environment():
    s = settings.load({**PRODUCTION, "EXAMPLE_RETRIES": "3"})
    settings.register("example", [settings.Var("EXAMPLE_RETRIES", settings.whole(0, 9), 1, "tries", attr="retries")])
    try:
        assert s.section("example").retries == 3
        with pytest.raises(SettingsError, match="EXAMPLE_RETRIES: not a whole number from 0 to 9: '12'"):
            settings.load({**PRODUCTION, "EXAMPLE_RETRIES": "12"})
    finally:
        settings._SECTIONS.pop("example")


def test_create_app_in_production_with_a_bad_setting_refuses_to_start_naming_it(db, monkeypatch):
    from app import create_app

    monkeypatch.setenv("BHAROSA_WHISPER_THREADS", "two")
    monkeypatch.setenv("TELEGRAM_HTTP_TIMEOUT", "-3")
    with pytest.raises(SettingsError) as exc:
        create_app(db.url, check_env=False, TESTING=True)
    assert [p.split(":")[0] for p in exc.value.problems] == ["BHAROSA_WHISPER_THREADS", "TELEGRAM_HTTP_TIMEOUT"]
    monkeypatch.setenv("BHAROSA_ENV", "dev")  # dev mode starts, and says what it ignored
    assert create_app(db.url, check_env=False, TESTING=True)


def test_app_check_prints_one_line_naming_the_variable(capsys, monkeypatch):
    from app import main

    monkeypatch.setenv("BHAROSA_TRUSTED_PROXIES", "lots")
    assert main(["check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "bharosa: environment: BHAROSA_TRUSTED_PROXIES: not a whole number from 0 to 10: 'lots'"


# -- one reader ------------------------------------------------------------------------------------

READS_ENV = re.compile(r"\bos\.(?:environb?|getenv|putenv|unsetenv)\b"
                       r"|\bfrom\s+os\s+import\b[^\n]*\b(?:environ|getenv)\b")
# Modules that may read the environment themselves, and why.
MAY_READ = {"zone/settings.py": "the one reader"}
NOT_THE_APP = ("tests", "bench", "scripts", ".venv", ".git", "var", "node_modules", "build")


def test_no_module_but_zone_settings_reads_the_environment():
    for line in ('os.environ.get("X")', "os.getenv('X')", "from os import environ", "os.environ['X'] = '1'"):
        assert READS_ENV.search(line), line  # the pattern sees each way of reading it
    assert not READS_ENV.search("request.environ.get('werkzeug.proxy_fix.orig')")
    readers = []
    for f in sorted(ROOT.rglob("*.py")):
        rel = f.relative_to(ROOT)
        if rel.parts[0] in NOT_THE_APP or rel.parts[0].endswith(".egg-info") or rel.as_posix() in MAY_READ:
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if READS_ENV.search(line):
                readers.append(f"{rel}:{n}: {line.strip()}")
    assert readers == [], "read settings through zone.settings.get():\n" + "\n".join(readers)


def test_the_readme_configuration_table_names_every_setting():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", table))
    every = [v.env for v in settings.core_vars()] + [v.env for sec in settings.sections().values() for v in sec.vars]
    assert sorted(set(every) - named) == []
