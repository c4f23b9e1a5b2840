"""The `preview` backend: an animatic, so a whole story can be checked in seconds without a GPU.

Each shot is a card at 16 fps: a sky and ground whose palette follows the scene's setting and
time of day, a sun or moon and one drifting figure per character, a slow camera drift, and the
shot's facts (scene and shot number, transition, camera, prompt) in text. A continuation starts
from the previous shot's last frame and dissolves into the new card, like MI2V/MM2V do.
"""

from __future__ import annotations

import hashlib
import textwrap
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from generator.base import CONTEXT_FRAMES, ShotRequest, ShotResult

# (sky top, sky bottom, light disc) per time of day.
_SKIES = {
    "dawn": ((70, 60, 120), (245, 160, 140), (255, 220, 180)),
    "morning": ((90, 150, 220), (200, 225, 245), (255, 245, 200)),
    "day": ((60, 130, 210), (170, 210, 240), (255, 250, 220)),
    "dusk": ((60, 40, 90), (240, 130, 60), (255, 190, 110)),
    "evening": ((25, 30, 70), (120, 80, 120), (250, 220, 170)),
    "night": ((5, 8, 25), (25, 35, 70), (225, 230, 245)),
}
# Ground colour by words in the setting, first match wins.
_GROUNDS = [
    (("snow", "winter", "ice", "glacier", "frost", "tundra"), (225, 230, 240)),
    (("sea", "ocean", "harbour", "harbor", "lake", "river", "shore", "coast", "beach", "island", "lighthouse"), (30, 70, 110)),
    (("forest", "rainforest", "jungle", "garden", "park", "meadow", "field", "farm"), (40, 95, 45)),
    (("desert", "canyon", "sand", "dune"), (200, 165, 105)),
    (("city", "street", "station", "rooftop", "roof", "alley", "market", "town", "village"), (85, 85, 95)),
    (("space", "planet", "moon", "orbit", "mars"), (40, 35, 45)),
]
_DEFAULT_GROUND = (90, 80, 70)
_FIGURE_COLOURS = [(230, 90, 60), (240, 200, 80), (120, 200, 230), (200, 120, 220)]


def _palette(setting: str, time_of_day: str) -> tuple[tuple, tuple, tuple, tuple]:
    top, bottom, disc = _SKIES.get(time_of_day, _SKIES["day"])
    words = setting.lower()
    ground = next((colour for keys, colour in _GROUNDS if any(k in words for k in keys)), _DEFAULT_GROUND)
    if time_of_day in ("night", "evening", "dusk"):
        ground = tuple(int(c * 0.45) for c in ground)
    return top, bottom, disc, ground


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class PreviewGenerator:
    """Animatic renderer; the same request always gives the same frames."""

    name = "preview"

    def __init__(self, width: int = 832, height: int = 480, num_frames: int = 81, fps: int = 16):
        self.width, self.height, self.num_frames, self.fps = width, height, num_frames, fps
        self._fonts = {size: _font(size) for size in (max(10, height // 24), max(12, height // 16))}

    def generate(self, request: ShotRequest) -> ShotResult:
        started = time.perf_counter()
        width, height, total = request.width, request.height, request.num_frames
        info = request.info
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{request.seed}|{request.prompt}".encode()).digest()[:8], "big"))
        top, bottom, disc, ground = _palette(str(info.get("setting", request.prompt)), str(info.get("time_of_day", "day")))

        background = self._background(width, height, top, bottom, ground, rng)
        overlay = self._overlay(request, width, height)
        figures = max(1, min(4, len(info.get("characters", [])) or 1))
        starts = rng.uniform(0.15, 0.85, size=figures)
        speeds = rng.uniform(-0.12, 0.12, size=figures)
        disc_x = rng.uniform(0.15, 0.85)

        frames = np.empty((total, height, width, 3), dtype=np.uint8)
        for t in range(total):
            phase = t / max(1, total - 1)
            pan = int(phase * width * 0.08)
            image = Image.fromarray(background[:, pan : pan + width])
            draw = ImageDraw.Draw(image)
            radius = height // 12
            cx, cy = int((disc_x + 0.1 * phase) * width) - pan, int(height * (0.22 - 0.05 * np.sin(np.pi * phase)))
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=disc)
            horizon = int(height * 0.62)
            for i in range(figures):
                fx = int(((starts[i] + speeds[i] * phase) % 1.0) * width)
                bob = int(4 * np.sin(2 * np.pi * (phase * 2 + i / figures)))
                body_h = height // 5
                colour = _FIGURE_COLOURS[i % len(_FIGURE_COLOURS)]
                draw.rounded_rectangle((fx - body_h // 5, horizon - body_h + bob, fx + body_h // 5, horizon + bob), radius=body_h // 6, fill=colour)
                draw.ellipse((fx - body_h // 6, horizon - body_h - body_h // 3 + bob, fx + body_h // 6, horizon - body_h + bob), fill=colour)
            image.paste(overlay, (0, 0), overlay)
            frames[t] = np.asarray(image)

        context = CONTEXT_FRAMES[request.mode]
        if context:
            frames = self._continue_from(frames, request.context[-context:])
        return ShotResult(
            frames=frames[context:],
            fps=self.fps,
            metadata={"backend": self.name, "mode": request.mode.value, "memory": len(request.memory), "seconds": time.perf_counter() - started},
        )

    @staticmethod
    def _background(width, height, top, bottom, ground, rng) -> np.ndarray:
        """Sky gradient over a ground band, twice as wide as the frame so the camera can drift."""
        wide = width * 2
        horizon = int(height * 0.62)
        mix = np.linspace(0.0, 1.0, horizon)[:, None]
        sky = (np.array(top)[None, :] * (1 - mix) + np.array(bottom)[None, :] * mix).astype(np.uint8)
        image = np.empty((height, wide, 3), dtype=np.uint8)
        image[:horizon] = sky[:, None, :]
        image[horizon:] = np.array(ground, dtype=np.uint8)
        texture = rng.integers(-12, 12, size=(height - horizon, wide, 1))
        image[horizon:] = np.clip(image[horizon:].astype(int) + texture, 0, 255).astype(np.uint8)
        return image

    def _overlay(self, request: ShotRequest, width: int, height: int) -> Image.Image:
        """The shot's text card, drawn once per shot."""
        info = request.info
        small, large = sorted(self._fonts)
        overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        header = (
            f"Scene {info.get('scene', '?')} · Shot {info.get('shot', '?')} · "
            f"{'CONTINUE' if request.mode.value in ('mi2v', 'mm2v') else 'CUT'} · {info.get('camera', '') or request.mode.value}"
        )
        pad = max(6, height // 60)
        draw.rectangle((0, 0, width, large + 2 * pad), fill=(0, 0, 0, 150))
        draw.text((pad, pad), header, font=self._fonts[large], fill=(255, 255, 255, 255))
        chars_per_line = max(20, int(width / (small * 0.55)))
        lines = textwrap.wrap(request.prompt, chars_per_line)[:5]
        box_top = height - (len(lines) * (small + 4) + 2 * pad)
        draw.rectangle((0, box_top, width, height), fill=(0, 0, 0, 150))
        for i, line in enumerate(lines):
            draw.text((pad, box_top + pad + i * (small + 4)), line, font=self._fonts[small], fill=(255, 255, 255, 235))
        return overlay

    @staticmethod
    def _continue_from(frames: np.ndarray, context: list[np.ndarray]) -> np.ndarray:
        """Open on the previous shot's last frames, then dissolve into the new card."""
        count = len(context)
        height, width = frames.shape[1:3]
        for i, frame in enumerate(context):
            if frame.shape[:2] != (height, width):
                frame = np.asarray(Image.fromarray(frame).resize((width, height)))
            frames[i] = frame
        start = frames[count - 1].astype(np.float32)
        fade = min(12, len(frames) - count)
        for i in range(fade):
            alpha = (i + 1) / (fade + 1)
            t = count + i
            frames[t] = (start * (1 - alpha) + frames[t].astype(np.float32) * alpha).astype(np.uint8)
        return frames
