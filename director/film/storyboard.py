"""Pictures for the report: the storyboard contact sheet (storyboard.png) and per-shot score charts.

Charts are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no
display) and cached under report/ by the hash of what they show, so the report can be rewritten
after every shot for the cost of the new shot's chart. The contact sheet and the chart over the
story are drawn with the finished film.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from director.folder.files import atomic_path, atomic_write_bytes

TILE_WIDTH = 200
CUT_COLOUR, CONTINUE_COLOUR = (200, 60, 40), (40, 120, 200)
#: (key, title) of the panels of a shot's chart.
PANELS = (("quality", "quality"), ("consistency", "consistency"), ("continuity", "continuity"), ("prompt_following", "prompt"))


@dataclass
class Tile:
    """One shot on the contact sheet."""

    number: int  # in the film, from 1
    shot_id: str
    transition: str  # cut or continue
    frames: list[Path]  # keyframe thumbnails (first, middle, last)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the bitmap font
        return ImageFont.load_default()


def contact_sheet(tiles: list[Tile], path: Path, title: str = "") -> Path:
    """storyboard.png: a row per shot (film number, shot id, CUT or CONTINUE, its keyframes)."""
    label_width, pad, banner = 150, 6, 34 if title else 0
    thumbs = [[Image.open(p).convert("RGB") for p in tile.frames] for tile in tiles]
    height = max((im.height * TILE_WIDTH // im.width for row in thumbs for im in row), default=112)
    columns = max((len(row) for row in thumbs), default=3)
    sheet = Image.new("RGB", (label_width + columns * (TILE_WIDTH + pad) + pad, banner + len(tiles) * (height + pad) + pad), (250, 250, 248))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 8), title, fill=(20, 20, 20), font=_font(18))
    for row, (tile, images) in enumerate(zip(tiles, thumbs)):
        top = banner + pad + row * (height + pad)
        colour = CONTINUE_COLOUR if tile.transition == "continue" else CUT_COLOUR
        draw.rectangle([pad, top, label_width - pad, top + height], fill=colour)
        draw.text((pad + 8, top + 8), f"#{tile.number}", fill="white", font=_font(28))
        draw.text((pad + 8, top + 46), tile.shot_id, fill="white", font=_font(14))
        draw.text((pad + 8, top + 66), "CONTINUE" if tile.transition == "continue" else "CUT", fill="white", font=_font(16))
        for column, image in enumerate(images):
            sheet.paste(image.resize((TILE_WIDTH, height)), (label_width + column * (TILE_WIDTH + pad), top))
    with atomic_path(path, durable=False) as temp:  # fast zlib, not `optimize` (20x slower for 10% fewer bytes)
        sheet.save(temp, format="PNG", compress_level=3)
    return path


def _series(attempts: list[dict[str, Any]], key: str) -> list[float | None]:
    return [(a.get("scores") or {}).get(key) for a in attempts]


def shot_chart(folder: Path, shot_id: str, attempts: list[dict[str, Any]], kept: int, gates: dict[str, Any]) -> bytes:
    """PNG bytes: one small panel per score, a bar per attempt (the kept one dark), the quality gate
    as a line. Cached in `folder` by content."""
    return _cached_chart(folder, f"chart_{shot_id}", [shot_id, attempts, kept, gates], (6.4, 1.6), lambda axes: _draw_shot(axes, attempts, kept, gates))


def _draw_shot(axes, attempts: list[dict[str, Any]], kept: int, gates: dict[str, Any]) -> None:
    labels = [f"t{a['take']}" if "take" in a else str(k + 1) for k, a in enumerate(attempts)]
    for axis, (score, title) in zip(axes, PANELS):
        values = _series(attempts, score)
        axis.set_title(title, fontsize=8)
        axis.tick_params(labelsize=7)
        if all(v is None for v in values):
            axis.text(0.5, 0.5, "not measured", ha="center", va="center", fontsize=7, color="#888", transform=axis.transAxes)
            axis.set_xticks([])
            axis.set_yticks([])
            continue
        colours = ["#1f4e79" if k == kept else "#9dbbd6" for k in range(len(values))]
        axis.bar(range(len(values)), [v or 0.0 for v in values], color=colours)
        axis.set_xticks(range(len(values)), labels)
        gate = (gates.get(score) or {}).get("gate")
        if gate is not None:
            axis.axhline(gate, color="#c0392b", linewidth=1, linestyle="--")


def story_chart(folder: Path, numbers: list[int], records: list[dict[str, Any]]) -> bytes | None:
    """PNG bytes: each score over the film's shots (kept takes), one panel per score."""
    if not records:
        return None
    return _cached_chart(folder, "chart_story", [numbers, [r.get("scores") for r in records]], (8.0, 1.9), lambda axes: _draw_story(axes, numbers, records))


def _draw_story(axes, numbers: list[int], records: list[dict[str, Any]]) -> None:
    for axis, (score, title) in zip(axes, PANELS):
        points = [(n, r["scores"].get(score)) for n, r in zip(numbers, records) if (r.get("scores") or {}).get(score) is not None]
        axis.set_title(title, fontsize=8)
        axis.tick_params(labelsize=7)
        if points:
            xs, ys = zip(*points)
            axis.plot(xs, ys, marker="o", markersize=3, linewidth=1, color="#1f4e79")
            axis.set_xlabel("shot", fontsize=7)
        else:
            axis.text(0.5, 0.5, "not measured", ha="center", va="center", fontsize=7, color="#888", transform=axis.transAxes)
            axis.set_xticks([])
            axis.set_yticks([])


def _cached_chart(folder: Path, name: str, shown: Any, size: tuple[float, float], draw: Callable[[Any], None]) -> bytes:
    """PNG bytes of a row of `PANELS` drawn by `draw(axes)`, cached in `folder` by the hash of what
    it shows (`shown`), so a report rewritten after every shot redraws only what changed."""
    key = hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cached = folder / f"{name}_{key}.png"
    if cached.is_file():
        return cached.read_bytes()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=80)
    FigureCanvasAgg(figure)
    draw(figure.subplots(1, len(PANELS)))
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.3, top=0.85, wspace=0.3)  # fixed: tight_layout doubles the cost
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = buffer.getvalue()
    for stale in folder.glob(f"{name}_*.png"):
        stale.unlink()
    atomic_write_bytes(cached, data, durable=False)
    return data


def frames_of(video: Path, count: int = 3) -> list[np.ndarray]:
    """First, middle and last frame (or `count` evenly spaced) of a video."""
    from director.film.video import read_video

    return spaced(read_video(video), count)


def spaced(frames: np.ndarray, count: int = 3) -> list[np.ndarray]:
    """First, middle and last of `frames` (or `count` evenly spaced)."""
    return [frames[i] for i in sorted({int(i) for i in np.linspace(0, len(frames) - 1, count).round()})]
