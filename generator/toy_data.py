"""Synthetic toy stories whose answer is known: a character with a stable identity the prompts never state.

An identity is a hue (one of `HUES`), a shape and a pattern, drawn on a story's own dark grey
background. A shot moves the character in the direction its prompt names ("the hero moves
left"); nothing in the prompt says its colour, shape, pattern or the background, so a model can
get a later shot right only by reading them from memory. A prompt may name a colour ("the red
hero moves left"): then the colour is the prompt's, which is how a revision recolours one shot.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

#: The toy clip format: tiny, so a shot is made in well under a second on a CPU.
TOY_WIDTH, TOY_HEIGHT, TOY_FRAMES, TOY_FPS = 32, 32, 5, 8
HUES = {"red": 0, "orange": 40, "yellow": 60, "green": 120, "cyan": 180, "blue": 225, "purple": 270, "pink": 315}
SHAPES = ("circle", "square", "diamond")
PATTERNS = ("solid", "ring")
DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
SPEED = 2.0  # pixels a frame
RADIUS = 7.0


@dataclass(frozen=True)
class Identity:
    """What memory must carry: the character's look and the story's background grey."""

    hue: str
    shape: str
    pattern: str
    background: int  # grey level of the backdrop

    @property
    def rgb(self) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(HUES[self.hue] / 360.0, 1.0, 1.0)
        return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def random_identity(rng: np.random.Generator) -> Identity:
    return Identity(
        hue=str(rng.choice(list(HUES))), shape=str(rng.choice(SHAPES)), pattern=str(rng.choice(PATTERNS)),
        background=int(rng.integers(15, 75)),
    )


def prompt_for(direction: str, colour: str | None = None) -> str:
    """A shot prompt: the motion, and only when asked the colour."""
    return f"the {colour + ' ' if colour else ''}hero moves {direction}"


def draw_frame(identity: Identity, centre: tuple[float, float], width: int = TOY_WIDTH, height: int = TOY_HEIGHT) -> np.ndarray:
    """uint8 (H, W, 3): the character at `centre` (x, y) over its background."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    dx, dy = xs - centre[0], ys - centre[1]
    if identity.shape == "circle":
        distance = np.sqrt(dx * dx + dy * dy)
    elif identity.shape == "square":
        distance = np.maximum(np.abs(dx), np.abs(dy))
    else:
        distance = (np.abs(dx) + np.abs(dy)) / 1.3
    inside = distance <= RADIUS
    if identity.pattern == "ring":
        inside &= distance >= RADIUS * 0.5
    frame = np.full((height, width, 3), identity.background, dtype=np.uint8)
    frame[inside] = identity.rgb
    return frame


def start_for(direction: str, rng: np.random.Generator, frames: int = TOY_FRAMES, width: int = TOY_WIDTH, height: int = TOY_HEIGHT) -> tuple[float, float]:
    """A start so that the whole move stays inside the frame."""
    vx, vy = DIRECTIONS[direction]
    travel = SPEED * (frames - 1)
    margin = RADIUS + 1
    lo_x, hi_x = margin - min(vx, 0) * travel, width - margin - max(vx, 0) * travel
    lo_y, hi_y = margin - min(vy, 0) * travel, height - margin - max(vy, 0) * travel
    return float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y))


def draw_clip(identity: Identity, direction: str, start: tuple[float, float], frames: int = TOY_FRAMES) -> np.ndarray:
    """uint8 (T, H, W, 3): the character moving `direction` from `start`."""
    vx, vy = DIRECTIONS[direction]
    return np.stack([draw_frame(identity, (start[0] + vx * SPEED * t, start[1] + vy * SPEED * t)) for t in range(frames)])


# --- measuring a frame ---------------------------------------------------------------------------


def character_pixels(frame: np.ndarray) -> np.ndarray:
    """Mask of the saturated pixels (the backdrop is grey, so they are the character's)."""
    rgb = frame.astype(np.float32) / 255.0
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    saturation = (top - bottom) / np.maximum(top, 1e-6)
    return (saturation > 0.45) & (top > 0.35)


def frame_hue(frame: np.ndarray) -> float | None:
    """Circular mean hue in degrees of the character's pixels, or None when none is there."""
    mask = character_pixels(frame)
    if mask.sum() < 4:
        return None
    rgb = frame[mask].astype(np.float32) / 255.0
    hues = np.array([colorsys.rgb_to_hsv(*p)[0] for p in rgb]) * 2 * np.pi
    return float(np.degrees(np.arctan2(np.sin(hues).mean(), np.cos(hues).mean())) % 360)


def hue_error(measured: float | None, wanted: float) -> float:
    """Degrees between two hues (180, the worst, when no character is drawn)."""
    if measured is None:
        return 180.0
    difference = abs(measured - wanted) % 360
    return float(min(difference, 360 - difference))


def clip_hue_error(frames: np.ndarray, wanted: float) -> float:
    """Median over a clip's frames of the character's hue error."""
    return float(np.median([hue_error(frame_hue(f), wanted) for f in frames]))
