"""Pictures for the report: the storyboard contact sheet (storyboard.png), the chart over the story
and per-shot score charts.

A shot's chart is a few bars, written as inline SVG for a fraction of a millisecond, so the live
report costs nothing per chart. The chart over the story is drawn with
matplotlib's object API on the Agg canvas (no pyplot, no global state, no display) once, with the
finished film, and cached under report/ by the hash of what it shows; so is the contact sheet.
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


def shot_chart(attempts: list[dict[str, Any]], kept: int, gates: dict[str, Any]) -> str:
    """An inline SVG: one small panel per score, a bar per attempt (the kept one dark, its value on
    top), the score's gate as a dashed line. Inline vector markup, not a matplotlib figure: it costs
    a fraction of a millisecond, so the live report can show it for every shot without a cache."""
    labels = [f"t{a['take']}" if "take" in a else str(k + 1) for k, a in enumerate(attempts)]
    panel, top, bottom, gap = 124, 18, 16, 4  # panel width; room for the title and the bar labels
    height = 100
    parts = []
    for index, (score, title) in enumerate(PANELS):
        left = index * (panel + gap)
        parts.append(f'<text x="{left + panel / 2:.0f}" y="12" text-anchor="middle" font-size="11">{title}</text>')
        parts.append(f'<rect x="{left}" y="{top}" width="{panel}" height="{height - top - bottom}" fill="#f6f7f9" stroke="#ccc"/>')
        values = _series(attempts, score)
        if all(v is None for v in values):
            parts.append(f'<text x="{left + panel / 2:.0f}" y="{(height + top - bottom) / 2 + 4:.0f}" text-anchor="middle" font-size="10" fill="#888">not measured</text>')
            continue
        gate = (gates.get(score) or {}).get("gate")
        ceiling = max([abs(v) for v in values if v is not None] + ([abs(gate)] if gate is not None else [])) * 1.15 or 1.0
        span = height - top - bottom - 12  # bar area below the value labels
        width = min(28.0, (panel - 8) / len(values) - 4)
        for k, (value, label) in enumerate(zip(values, labels)):
            x = left + 4 + k * (width + 4)
            tall = span * max(value or 0.0, 0.0) / ceiling
            colour = "#1f4e79" if k == kept else "#9dbbd6"
            shown = "-" if value is None else f"{value:.3g}"
            parts.append(f'<rect x="{x:.1f}" y="{height - bottom - tall:.1f}" width="{width:.1f}" height="{tall:.1f}" fill="{colour}"><title>{label}: {shown}</title></rect>')
            parts.append(f'<text x="{x + width / 2:.1f}" y="{height - bottom - tall - 2:.1f}" text-anchor="middle" font-size="9">{shown}</text>')
            parts.append(f'<text x="{x + width / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="9">{label}</text>')
        if gate is not None:
            y = height - bottom - span * max(gate, 0.0) / ceiling
            parts.append(f'<line x1="{left}" x2="{left + panel}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c0392b" stroke-dasharray="4 3"><title>gate {gate:.3g}</title></line>')
    total = len(PANELS) * (panel + gap) - gap
    return (f'<svg class="chart" width="{total}" height="{height}" viewBox="0 0 {total} {height}" '
            f'font-family="sans-serif" role="img">{"".join(parts)}</svg>')


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
    it shows (`shown`), so a report written again redraws only what changed."""
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
    from director.folder.video import read_video

    return spaced(read_video(video), count)


def spaced(frames: np.ndarray, count: int = 3) -> list[np.ndarray]:
    """First, middle and last of `frames` (or `count` evenly spaced)."""
    return [frames[i] for i in sorted({int(i) for i in np.linspace(0, len(frames) - 1, count).round()})]
