"""The `preview` backend: an animatic, so a whole story can be checked in seconds without a GPU.

Each shot is drawn from the plan, not printed: the setting (interior or exterior, town, sea,
forest), the sky for the time of day with rain, snow or fog, and one labelled figure per character
whose colours come from the colour words of their description (so they match in every shot). The
camera in the shot changes the framing (wide, medium, close-up, over-the-shoulder) and moves
(push-in, pull-back, pan, tracking, tilt, handheld). Motion runs on a clock that continues across
the shots of a scene, so a continuation carries on the previous shot's movement; it also opens on
the previous shot's last frames and dissolves in, as MI2V/MM2V do. Only a small caption bar
(scene, shot, transition) is written on the picture: the prompt belongs in the subtitles.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

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
    "night": ((4, 6, 20), (16, 22, 48), (225, 230, 245)),
}
_GROUNDS = [
    (("snow", "winter", "ice", "glacier", "frost", "tundra"), (225, 230, 240), "snowfield"),
    (("sea", "ocean", "harbour", "harbor", "lake", "river", "shore", "coast", "beach", "island", "lighthouse", "seaside", "pier", "bay"), (30, 70, 110), "sea"),
    (("forest", "rainforest", "jungle", "garden", "park", "meadow", "field", "farm", "woods", "orchard"), (40, 95, 45), "forest"),
    (("desert", "canyon", "sand", "dune"), (200, 165, 105), "dunes"),
    (("city", "street", "station", "rooftop", "roof", "alley", "market", "town", "village", "prague", "paris", "square"), (85, 85, 95), "town"),
    (("space", "planet", "moon", "orbit", "mars"), (40, 35, 45), "space"),
    (("mountain", "valley", "cliff", "hill", "peak"), (95, 100, 80), "mountains"),
]
_INTERIOR = ("kitchen", "workshop", "shop", "library", "house", "room", "cabin", "bakery", "cafe", "café", "studio",
             "laboratory", "lab", "apartment", "attic", "cellar", "basement", "office", "classroom", "theatre",
             "theater", "museum", "inside", "interior", "hall", "restaurant", "bar", "diner", "tavern")  # fmt: skip
_COLOURS = {
    "red": (200, 40, 40), "crimson": (170, 20, 50), "scarlet": (230, 40, 30), "rust": (170, 80, 40),
    "orange": (240, 130, 30), "amber": (240, 170, 40), "mustard": (210, 170, 40), "yellow": (245, 215, 50),
    "gold": (220, 180, 60), "golden": (220, 180, 60), "green": (40, 150, 60), "teal": (20, 140, 140),
    "blue": (40, 90, 200), "navy": (25, 35, 90), "cyan": (60, 200, 220), "purple": (130, 50, 160),
    "violet": (140, 80, 200), "pink": (240, 130, 170), "brown": (120, 75, 40), "tan": (190, 150, 100),
    "white": (240, 240, 235), "silver": (200, 200, 210), "grey": (128, 128, 132), "gray": (128, 128, 132),
    "black": (25, 25, 28), "copper": (190, 110, 60), "denim": (70, 100, 150), "olive": (110, 120, 50),
}  # fmt: skip
_CLOTHES = r"coat|jacket|scarf|raincoat|vest|shirt|blouse|cardigan|hat|collar|shell|plating|panels|dress|cloak|sweater|jumper|overalls|waistcoat|apron|uniform|hoodie|stripe|fur|coat"
_HAIR = r"hair|fur|beard|bob|braid|mane|feathers"
_SKIN = [(240, 205, 175), (205, 160, 120), (160, 110, 75), (110, 75, 50)]


@dataclass(frozen=True)
class Figure:
    """How a character is drawn: the same in every shot of the story."""

    name: str
    body: tuple[int, int, int]
    hair: tuple[int, int, int]
    skin: tuple[int, int, int]
    kind: str  # person | animal | machine


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def figure_for(name: str, description: str) -> Figure:
    """Colours from the description's colour words (clothes, then hair), else from the name."""
    text = description.lower()
    seed = _hash(name.lower())
    palette = list(_COLOURS.values())
    body = hair = None
    for match in re.finditer(r"\b(" + "|".join(_COLOURS) + r")\b(?:[\w-]*\s){0,2}?(" + _CLOTHES + "|" + _HAIR + r")\b", text):
        colour, noun = _COLOURS[match.group(1)], match.group(2)
        if re.fullmatch(_HAIR, noun) and hair is None:
            hair = colour
        elif body is None:
            body = colour
    body = body or palette[seed % len(palette)]
    hair = hair or palette[(seed // 7) % len(palette)]
    words = set(re.findall(r"[a-z]+", text))
    kind = "machine" if words & {"robot", "drone", "android", "machine", "automaton", "plating", "shell"} else "person"
    if words & {"fur", "tail", "paws", "feathers", "wings", "beak"} or words & _ANIMAL_WORDS:
        kind = "animal" if kind == "person" else kind
    return Figure(name, body, hair, _SKIN[seed % len(_SKIN)], kind)


_ANIMAL_WORDS = {"fox", "seal", "owl", "cat", "dog", "bird", "toucan", "wolf", "bear", "horse", "rabbit", "whale", "dragon", "otter", "penguin", "mouse", "deer"}


def _descriptions(request: ShotRequest) -> dict[str, str]:
    """Each character's description: from `info["descriptions"]`, else from "NAME, DESCRIPTION" in the prompt."""
    given = request.info.get("descriptions") or {}
    names = [str(n) for n in request.info.get("characters", [])]
    found = {}
    for name in names:
        if name in given:
            found[name] = str(given[name])
            continue
        match = re.search(rf"\b{re.escape(name)}\b,?\s+([^.]*)", request.prompt, re.IGNORECASE)
        text = match.group(1) if match else ""
        for other in names:
            if other != name:
                text = re.split(rf"\b{re.escape(other)}\b", text, flags=re.IGNORECASE)[0]
        found[name] = text
    return found


@dataclass(frozen=True)
class Framing:
    """Figure height as a share of the frame, horizon height, zoom of the background, and the move."""

    shot: str  # wide | medium | close | ots
    move: str  # push | pull | pan-left | pan-right | track | tilt | shake | still


def framing_for(camera: str) -> Framing:
    text = camera.lower()
    shot = "medium"
    if "over-the-shoulder" in text or "over the shoulder" in text:
        shot = "ots"
    elif "close" in text:
        shot = "close"
    elif "wide" in text or "establishing" in text or "long shot" in text:
        shot = "wide"
    move = "still"
    for keys, name in (
        (("push-in", "push in", "dolly in", "zoom in"), "push"),
        (("pull back", "pull-back", "pull out", "zoom out"), "pull"),
        (("pan left",), "pan-left"),
        (("pan right", "pan"), "pan-right"),
        (("tracking", "follows", "follow"), "track"),
        (("tilt",), "tilt"),
        (("handheld",), "shake"),
    ):
        if any(k in text for k in keys):
            move = name
            break
    return Framing(shot, move)


_HEIGHTS = {"wide": 0.26, "medium": 0.62, "close": 1.3, "ots": 0.62}
_ZOOM = {"wide": 1.0, "medium": 1.35, "close": 1.8, "ots": 1.35}


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class PreviewGenerator:
    """Animatic renderer; the same request always gives the same frames."""

    name = "preview"

    def __init__(self, width: int = 832, height: int = 480, num_frames: int = 81, fps: int = 16):
        self.width, self.height, self.num_frames, self.fps = width, height, num_frames, fps
        self._fonts: dict[int, ImageFont.ImageFont] = {}

    def _font(self, size: int) -> ImageFont.ImageFont:
        if size not in self._fonts:
            self._fonts[size] = _font(size)
        return self._fonts[size]

    def generate(self, request: ShotRequest) -> ShotResult:
        started = time.perf_counter()
        width, height, total = request.width, request.height, request.num_frames
        info = request.info
        setting = str(info.get("setting", request.prompt))
        time_of_day = str(info.get("time_of_day", "day"))
        camera = str(info.get("camera", "")) or _camera_words(request.prompt)
        framing = framing_for(camera)
        scene_key = f"{info.get('scene', '')}|{setting}"
        look = f"{setting} {request.prompt}".lower()
        rng = np.random.default_rng(_hash(scene_key))
        descriptions = _descriptions(request)
        figures = [figure_for(n, d) for n, d in descriptions.items()] or [figure_for("figure", "")]

        zoom = _ZOOM[framing.shot]
        backdrop = self._backdrop(int(width * 1.5), int(height * 1.5), setting, time_of_day, look, rng)
        caption = self._caption(request, width, height)
        weather = _weather(look)
        # The scene clock: shot k of a scene starts where shot k-1 ended, so continuations carry on.
        offset = (int(info.get("shot", 1) or 1) - 1) * total
        frames = np.empty((total, height, width, 3), dtype=np.uint8)
        flakes = rng.uniform(0, 1, size=(110, 3))
        for t in range(total):
            clock = (offset + t) / self.fps
            phase = t / max(1, total - 1)
            frame = self._camera_view(backdrop, width, height, zoom, framing.move, phase, clock)
            draw = ImageDraw.Draw(frame)
            self._draw_figures(draw, figures, framing, width, height, clock, phase, request.seed)
            _draw_weather(draw, weather, flakes, width, height, clock)
            frame.paste(caption, (0, height - caption.height))
            frames[t] = np.asarray(frame)
        if weather == "fog":
            frames[:] = (frames.astype(np.uint16) * 3 // 5 + 90).astype(np.uint8)

        context = CONTEXT_FRAMES[request.mode]
        if context:
            frames = self._continue_from(frames, request.previous_frames[-context:])
        return ShotResult(
            frames=frames[context:],
            fps=self.fps,
            metadata={"backend": self.name, "mode": request.mode.value, "memory": len(request.memory), "seconds": time.perf_counter() - started},
        )

    # --- the world ---------------------------------------------------------------------------

    @staticmethod
    def _backdrop(width: int, height: int, setting: str, time_of_day: str, look: str, rng: np.random.Generator) -> Image.Image:
        """The set, larger than the frame so the camera can move over it."""
        top, bottom, disc = _SKIES.get(time_of_day, _SKIES["day"])
        words = setting.lower()
        interior = any(re.search(rf"\b{k}\b", words) for k in _INTERIOR)
        ground, kind = next(((c, k) for keys, c, k in _GROUNDS if any(key in words for key in keys)), ((90, 80, 70), "plain"))
        dark = time_of_day in ("night", "evening")
        if dark or time_of_day == "dusk":
            ground = tuple(int(c * (0.3 if dark else 0.55)) for c in ground)
        if _weather(look) in ("rain", "storm"):
            top, bottom = tuple(int(c * 0.6) for c in top), tuple(int(c * 0.6 + 40) for c in bottom)
        horizon = int(height * 0.6)
        mix = np.linspace(0.0, 1.0, horizon)[:, None]
        image = np.empty((height, width, 3), dtype=np.uint8)
        image[:horizon] = (np.array(top)[None, :] * (1 - mix) + np.array(bottom)[None, :] * mix).astype(np.uint8)[:, None, :]
        image[horizon:] = np.array(ground, dtype=np.uint8)
        texture = rng.integers(-10, 10, size=(height - horizon, width, 1))
        image[horizon:] = np.clip(image[horizon:].astype(int) + texture, 0, 255).astype(np.uint8)
        canvas = Image.fromarray(image)
        draw = ImageDraw.Draw(canvas)
        if time_of_day == "night":
            for x, y in rng.uniform(0, 1, size=(120, 2)):
                draw.point((int(x * width), int(y * horizon * 0.8)), fill=(235, 235, 255))
        r = height // 14
        cx, cy = int(width * rng.uniform(0.2, 0.8)), int(height * 0.16)
        if _weather(look) not in ("rain", "storm", "fog"):
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=disc)
            if time_of_day == "night":
                draw.ellipse((cx - r // 2, cy - r, cx + r + r // 2, cy + r // 2), fill=top)
        if interior:
            wall = tuple(int(c * (0.45 if dark else 1.0)) for c in (170, 140, 110))
            draw.rectangle((0, 0, width, horizon), fill=wall)
            for wx in range(width // 8, width, width // 3):
                draw.rectangle((wx, height // 8, wx + width // 8, horizon - height // 6), fill=top, outline=(60, 45, 35), width=6)
            draw.rectangle((0, horizon, width, height), fill=tuple(int(c * (0.5 if dark else 1.0)) for c in (120, 85, 55)))
        elif kind == "town":
            _skyline(draw, width, horizon, rng, dark)
        elif kind == "sea":
            draw.polygon([(int(width * 0.72), horizon), (int(width * 0.75), int(horizon * 0.45)), (int(width * 0.78), horizon)], fill=(230, 230, 225))
            draw.rectangle((int(width * 0.73), int(horizon * 0.4), int(width * 0.77), int(horizon * 0.47)), fill=(250, 220, 90) if dark else (200, 40, 40))
            for y in range(horizon + 6, height, 14):
                draw.line((0, y, width, y), fill=tuple(min(255, c + 25) for c in ground), width=2)
        elif kind == "forest":
            for x in rng.uniform(0, 1, size=18):
                tx, th = int(x * width), int(height * rng.uniform(0.18, 0.32))
                draw.rectangle((tx - 5, horizon - th // 3, tx + 5, horizon), fill=(60, 40, 25))
                draw.polygon([(tx - th // 4, horizon - th // 3), (tx, horizon - th), (tx + th // 4, horizon - th // 3)], fill=tuple(int(c * 0.7) for c in ground))
        elif kind in ("mountains", "snowfield"):
            for x in rng.uniform(0, 1, size=5):
                mx, mh = int(x * width), int(height * rng.uniform(0.2, 0.35))
                draw.polygon([(mx - mh, horizon), (mx, horizon - mh), (mx + mh, horizon)], fill=tuple(int(c * 0.8) for c in ground))
        return canvas

    @staticmethod
    def _camera_view(backdrop: Image.Image, width: int, height: int, zoom: float, move: str, phase: float, clock: float) -> Image.Image:
        """The part of the set the camera sees at this moment, scaled to the frame."""
        bw, bh = backdrop.size
        scale = zoom * {"push": 1.0 + 0.35 * phase, "pull": 1.35 - 0.35 * phase}.get(move, 1.0)
        vw, vh = bw / 1.5 / scale, bh / 1.5 / scale
        cx, cy = bw / 2, bh * 0.55
        if move == "pan-left":
            cx -= (phase - 0.5) * bw * 0.3
        elif move == "pan-right":
            cx += (phase - 0.5) * bw * 0.3
        elif move == "track":
            cx += ((clock * 0.06) % 0.5 - 0.25) * bw
        elif move == "tilt":
            cy -= (phase - 0.5) * bh * 0.2
        elif move == "shake":
            cx += np.sin(clock * 7.0) * bw * 0.006
            cy += np.cos(clock * 5.0) * bh * 0.006
        cx = min(max(cx, vw / 2), bw - vw / 2)
        cy = min(max(cy, vh / 2), bh - vh / 2)
        box = (int(cx - vw / 2), int(cy - vh / 2), int(cx + vw / 2), int(cy + vh / 2))
        return backdrop.resize((width, height), Image.NEAREST, box=box)

    # --- the people ---------------------------------------------------------------------------

    def _draw_figures(self, draw: ImageDraw.ImageDraw, figures: list[Figure], framing: Framing, width: int, height: int, clock: float, phase: float, seed: int) -> None:
        """The seed sets the blocking (where each figure stands, how it drifts), so a new take looks different."""
        count = len(figures)
        size = _HEIGHTS[framing.shot] * height
        if framing.move == "push":
            size *= 1.0 + 0.3 * phase
        elif framing.move == "pull":
            size *= 1.3 - 0.3 * phase
        # A close-up keeps the head near the top of the frame however large the figure grows.
        ground = height * (0.78 if framing.shot == "wide" else 0.98) if framing.shot != "close" else height * 0.12 + size
        if framing.shot == "close":
            shown = figures[:1]
            slots = [0.5]
        elif framing.shot == "ots" and count > 1:
            shown = figures[1:2]
            slots = [0.66]
        else:
            shown = figures
            slots = [(i + 1) / (count + 1) for i in range(count)]
        for figure, slot in zip(shown, slots):
            take = _hash(f"{figure.name}|{seed}")
            speed = ((take % 7) - 3) * 0.004 if framing.move != "track" else 0.0
            x = width * (slot + ((take // 7) % 9 - 4) * 0.015 + _bounce(speed * clock))
            bob = np.sin(clock * 6.0 + _hash(figure.name) % 10) * size * 0.015
            _draw_one(draw, figure, x, ground + bob, size, self._font(max(10, height // 30)))
        if framing.shot == "ots":
            front = figures[0]
            s = height * 1.3
            x, y = width * 0.12, height * 1.45
            dim = tuple(int(c * 0.55) for c in front.body)
            draw.ellipse((x - s * 0.32, y - s * 0.62, x + s * 0.32, y), fill=dim)
            draw.ellipse((x - s * 0.13, y - s * 0.86, x + s * 0.13, y - s * 0.58), fill=tuple(int(c * 0.55) for c in front.hair))

    def _caption(self, request: ShotRequest, width: int, height: int) -> Image.Image:
        """A small bar with scene, shot and transition: everything else is in the picture or the subtitles."""
        info = request.info
        size = max(9, height // 34)
        bar = Image.new("RGB", (width, size + max(4, size // 2)), (12, 12, 14))
        transition = "CONTINUE" if request.mode.value in ("mi2v", "mm2v") else "CUT"
        text = f"Scene {info.get('scene', '?')} · Shot {info.get('shot', '?')} · {transition}"
        ImageDraw.Draw(bar).text((size // 2, max(2, size // 4)), text, font=self._font(size), fill=(230, 230, 230))
        return bar

    @staticmethod
    def _continue_from(frames: np.ndarray, context: list[np.ndarray]) -> np.ndarray:
        """Open on the previous shot's last frames, then dissolve into the new ones."""
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


def _bounce(value: float) -> float:
    """A walk that turns back instead of leaving the frame: within +-0.12 of the slot."""
    span = 0.12
    folded = (value + span) % (4 * span)
    return (folded if folded < 2 * span else 4 * span - folded) - span


def _draw_one(draw: ImageDraw.ImageDraw, figure: Figure, x: float, ground: float, size: float, font) -> None:
    """One character: person (legs, coat, head, hair), animal (body, head, ears, tail) or machine; name above."""
    s = size
    if figure.kind == "animal":
        body_w, body_h = s * 0.5, s * 0.25
        top = ground - s * 0.45
        draw.ellipse((x - body_w / 2, top + s * 0.1, x + body_w / 2, top + s * 0.1 + body_h), fill=figure.hair)
        draw.rectangle((x - body_w * 0.35, top + s * 0.3, x - body_w * 0.25, ground), fill=figure.hair)
        draw.rectangle((x + body_w * 0.25, top + s * 0.3, x + body_w * 0.35, ground), fill=figure.hair)
        draw.ellipse((x + body_w * 0.3, top - s * 0.05, x + body_w * 0.3 + s * 0.2, top + s * 0.17), fill=figure.hair)
        draw.polygon([(x + body_w * 0.34, top), (x + body_w * 0.38, top - s * 0.1), (x + body_w * 0.44, top - s * 0.01)], fill=figure.body)
        draw.line((x - body_w / 2, top + s * 0.2, x - body_w * 0.8, top), fill=figure.body, width=max(2, int(s * 0.05)))
        label_y = top - s * 0.15
    elif figure.kind == "machine":
        draw.rounded_rectangle((x - s * 0.18, ground - s * 0.7, x + s * 0.18, ground - s * 0.05), radius=max(1, int(s * 0.05)), fill=figure.body)
        draw.rectangle((x - s * 0.14, ground - s * 0.95, x + s * 0.14, ground - s * 0.72), fill=figure.hair)
        draw.ellipse((x - s * 0.06, ground - s * 0.9, x + s * 0.06, ground - s * 0.78), fill=(90, 170, 255))
        draw.rectangle((x - s * 0.12, ground - s * 0.05, x + s * 0.12, ground), fill=(40, 40, 45))
        label_y = ground - s * 1.05
    else:
        draw.rectangle((x - s * 0.1, ground - s * 0.4, x - s * 0.03, ground), fill=(40, 40, 50))
        draw.rectangle((x + s * 0.03, ground - s * 0.4, x + s * 0.1, ground), fill=(40, 40, 50))
        draw.rounded_rectangle((x - s * 0.15, ground - s * 0.78, x + s * 0.15, ground - s * 0.36), radius=max(1, int(s * 0.06)), fill=figure.body)
        draw.ellipse((x - s * 0.1, ground - s * 1.0, x + s * 0.1, ground - s * 0.78), fill=figure.skin)
        draw.chord((x - s * 0.11, ground - s * 1.03, x + s * 0.11, ground - s * 0.83), 180, 360, fill=figure.hair)
        label_y = ground - s * 1.12
    text = figure.name.removeprefix("the ")
    length = draw.textlength(text, font=font)
    label_y = max(2.0, label_y - font.size)
    draw.rectangle((x - length / 2 - 3, label_y - 1, x + length / 2 + 3, label_y + font.size + 2), fill=(0, 0, 0))
    draw.text((x - length / 2, label_y), text, font=font, fill=figure.body if sum(figure.body) > 200 else (235, 235, 235))


def _weather(text: str) -> str:
    for keys, name in (
        (("snow", "blizzard"), "snow"),
        (("rain", "monsoon", "storm", "downpour", "drizzle", "typhoon", "hurricane"), "rain"),
        (("fog", "mist", "haze"), "fog"),
    ):
        if any(re.search(rf"\b{k}", text) for k in keys):
            return name
    return ""


def _draw_weather(draw: ImageDraw.ImageDraw, weather: str, flakes: np.ndarray, width: int, height: int, clock: float) -> None:
    if weather == "rain":
        for x, y, v in flakes:
            px = (x * width + clock * 40) % width
            py = (y * height + clock * height * (1.2 + v)) % height
            draw.line((px, py, px - 4, py + height * 0.06), fill=(200, 210, 235), width=2)
    elif weather == "snow":
        for x, y, v in flakes:
            px = (x * width + np.sin(clock * 2 + v * 6) * 12) % width
            py = (y * height + clock * height * (0.12 + 0.1 * v)) % height
            r = 2 + 2 * v
            draw.ellipse((px - r, py - r, px + r, py + r), fill=(250, 250, 255))


def _skyline(draw: ImageDraw.ImageDraw, width: int, horizon: int, rng: np.random.Generator, dark: bool) -> None:
    x = 0
    while x < width:
        w, h = int(rng.uniform(0.04, 0.09) * width), int(rng.uniform(0.2, 0.55) * horizon)
        tone = int(rng.uniform(50, 90))
        draw.rectangle((x, horizon - h, x + w, horizon), fill=(tone, tone - 5, tone + 5))
        draw.polygon([(x, horizon - h), (x + w // 2, horizon - h - w // 2), (x + w, horizon - h)], fill=(tone + 40, 60, 50))
        for wy in range(horizon - h + 8, horizon - 8, 14):
            for wx in range(x + 5, x + w - 6, 12):
                if rng.random() < 0.5:
                    draw.rectangle((wx, wy, wx + 4, wy + 6), fill=(250, 210, 110) if dark else (170, 190, 210))
        x += w + int(rng.uniform(0, 0.01) * width)


def _camera_words(prompt: str) -> str:
    match = re.search(r"(wide[^.]*?shot|close-up|medium shot|over-the-shoulder shot)", prompt, re.IGNORECASE)
    move = re.search(r"Camera:\s*([^.]*)", prompt)
    return " ".join(m.group(1) for m in (match, move) if m)
