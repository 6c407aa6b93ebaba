"""voice.keyframes: a contact sheet PNG from a video, refused for audio."""

from __future__ import annotations

import pytest

from voice.errors import MediaRejected
from voice.keyframes import contact_sheet
from voice.media import sniff_file


def test_contact_sheet(clips, tmp_path):
    sheet = contact_sheet(clips["video.mp4"], tmp_path / "sheet.png", columns=3, rows=2, tile_width=160)
    assert sniff_file(sheet.path) == ("image/png", "image")
    assert sheet.tiles == 6 and 400 < sheet.width < 600 and sheet.height > 100
    assert abs(sheet.duration - 4.0) < 0.2


def test_audio_has_no_contact_sheet(clips, tmp_path):
    with pytest.raises(MediaRejected):
        contact_sheet(clips["en.ogg"], tmp_path / "x.png")
