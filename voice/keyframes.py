"""A contact sheet of a video's keyframes, so staff and interpreters see a sign-language video at a glance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from voice.errors import NOT_MEDIA, MediaRejected
from voice.media import Probe, ProbeLimits, probe, run_limited


@dataclass(frozen=True)
class ContactSheet:
    """A contact sheet.

    Attributes:
        path: the PNG.
        tiles: number of tiles in the grid (columns × rows; late tiles are blank for short videos).
        duration: the video's duration in seconds.
        width: PNG width in pixels.
        height: PNG height in pixels.
    """

    path: Path
    tiles: int
    duration: float | None
    width: int
    height: int


def contact_sheet(video: str | os.PathLike, out_png: str | os.PathLike, *, columns: int = 4, rows: int = 3,
                  tile_width: int = 320, limits: ProbeLimits | None = None, timeout: float = 30.0,
                  memory_bytes: int = 1536 * 1024 * 1024, info: Probe | None = None) -> ContactSheet:
    """Make a PNG grid of keyframes spread over the video, within time and size caps.

    Only keyframes are decoded (``-skip_frame nokey``), one taken at least every ``duration / tiles``
    seconds, each scaled to ``tile_width`` pixels wide. The video is probed first (duration and frame-size
    caps), and ffmpeg runs under a wall-time, CPU and memory limit.

    Args:
        video: the video file.
        out_png: where to write the PNG.
        columns: tiles per row (at most 8).
        rows: rows (at most 8).
        tile_width: pixels per tile (at most 640).
        limits: probe caps; default :class:`voice.media.ProbeLimits` defaults.
        timeout: wall-clock seconds for ffmpeg.
        memory_bytes: address-space cap for ffmpeg.
        info: an existing probe of ``video`` (skips probing again).

    Returns:
        The contact sheet.

    Raises:
        MediaRejected: not a video, over a cap, or ffmpeg failed or ran out of time.
    """
    columns, rows = max(1, min(columns, 8)), max(1, min(rows, 8))
    tile_width = max(32, min(tile_width, 640))
    info = info or probe(video, limits=limits)
    if not info.has_video:
        raise MediaRejected(NOT_MEDIA, "no video stream")
    tiles = columns * rows
    step = (info.duration or 0.0) / tiles
    vf = (f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{step:.3f})',"
          f"scale={tile_width}:-2,tile={columns}x{rows}:padding=4:margin=4")
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.name}.tmp.png")
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-threads", "1", "-skip_frame", "nokey", "-i", str(video),
           "-an", "-sn", "-dn", "-vf", vf, "-fps_mode", "vfr", "-frames:v", "1", str(tmp)]
    proc = run_limited(cmd, timeout=timeout, memory_bytes=memory_bytes)
    if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise MediaRejected(NOT_MEDIA, "ffmpeg: " + (proc.stderr or b"").decode(errors="replace").strip()[:200])
    os.replace(tmp, out_png)
    from voice.media import image_size

    with open(out_png, "rb") as fh:
        w, h = image_size(fh.read(64)) or (0, 0)
    return ContactSheet(out_png, tiles, info.duration, w, h)
