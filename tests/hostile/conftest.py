"""Hostile-input fixtures: a media folder of our own, and a watch on ERROR logs (a swallowed exception
that was answered politely is still a bug the corpus should show)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _own_media_dir(media_dir):
    """Every test here stores media in its own folder."""
    return media_dir


@pytest.fixture
def no_errors_logged(caplog):
    """Fail the test if the app logged an ERROR (an exception it caught and answered politely)."""
    caplog.set_level(logging.ERROR)
    yield caplog
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR and not r.name.startswith(("rq", "worker"))]
    assert not bad, "the app logged errors: " + "; ".join(f"{r.name}: {r.getMessage()[:200]}" for r in bad)
