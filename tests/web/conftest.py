"""Fixtures for the citizen web page: a media folder of its own, real image and video bytes."""

from __future__ import annotations

import pytest

from tests.web.helpers import ffmpeg_bytes, png_bytes


@pytest.fixture(autouse=True)
def media_dir(tmp_path, settings_env):
    d = tmp_path / "media"
    settings_env(BHAROSA_MEDIA_DIR=d)
    return d


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("img")
    return {
        "png": png_bytes(),
        "jpeg": ffmpeg_bytes(d / "a.jpg", "-f", "lavfi", "-i", "color=c=blue:s=64x48", "-frames:v", "1"),
        "mp4": ffmpeg_bytes(d / "v.mp4", "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10",
                            "-pix_fmt", "yuv420p", "-c:v", "libx264"),
    }
