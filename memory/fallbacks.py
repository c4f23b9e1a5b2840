"""Vision models that need no weights, for machines without CLIP or HPSv3 checkpoints.

They are named for what they are, so no score record can pass them off as CLIP or HPSv3.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Squash (no crop) to (width, height), as float in [0, 1]."""
    pil = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    return np.asarray(pil.resize(size, Image.BILINEAR), dtype=np.float32) / 255.0


def _grey(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ColourStructureEmbedder:
    """Colour layout plus edge-orientation layout, L2-normalised.

    Colour: an 8x8 opponent-colour thumbnail (luma, red-green, yellow-blue) centred on mid grey,
    so two different images are not similar just because pixel values are positive. Structure:
    an 8-bin gradient-orientation histogram in each cell of a 4x4 grid, centred per cell. Both
    halves are normalised before concatenation so neither dominates. Frames of one steady shot
    score above 0.9 to each other; unrelated images usually well below, which is the range the
    StoryMem thresholds assume.
    """

    name = "colour-structure-v1"
    dim = 8 * 8 * 3 + 4 * 4 * 8
    # Its similarities sit far higher than CLIP's: frames of one shot score 0.93-0.99, two shots of
    # one scene 0.77-0.99, shots of different scenes mostly below 0.7 (measured on the animatic; see
    # tests/test_embedder_thresholds.py). StoryMem's 0.9 for CLIP would keep only a shot's first frame
    # and drop most later scenes as duplicates, so novelty and deduplication sit in its own range.
    novelty_threshold = 0.97
    dedup_threshold = 0.985

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._embed(np.asarray(img)) for img in images]).astype(np.float32)

    def _embed(self, image: np.ndarray) -> np.ndarray:
        thumb = _resize(image, (8, 8)) - 0.5
        r, g, b = thumb[..., 0], thumb[..., 1], thumb[..., 2]
        colour = np.stack([(r + g + b) / 3, r - g, (r + g) / 2 - b], axis=-1).ravel()
        grey = _grey(_resize(image, (64, 64)))
        gy, gx = np.gradient(grey)
        magnitude = np.hypot(gx, gy)
        orientation = (np.arctan2(gy, gx) % np.pi) / np.pi * 8
        bins = np.minimum(orientation.astype(int), 7)
        cells = []
        for row in range(4):
            for col in range(4):
                window = (slice(row * 16, row * 16 + 16), slice(col * 16, col * 16 + 16))
                hist = np.bincount(bins[window].ravel(), weights=magnitude[window].ravel(), minlength=8)
                cells.append(hist - hist.mean())
        structure = np.concatenate(cells)
        parts = [v / (np.linalg.norm(v) + 1e-6) for v in (colour, structure)]
        vector = np.concatenate(parts)
        return vector / (np.linalg.norm(vector) + 1e-12)


class HeuristicQualityScorer:
    """Sharpness, exposure and colourfulness on a 0-10 scale; not a learned aesthetic model.

    Used only when neither HPSv3 weights nor a packaged no-reference model is available. It
    catches the failures that matter for memory (blurred, black, blown-out or washed-out
    frames). Sharpness: log variance of the Laplacian; exposure: penalty for clipped pixels and
    a mean far from mid grey; colourfulness: Hasler and Suesstrunk's metric. Threshold 4.0 is
    set so flat or blurred frames fail and ordinary rendered frames pass.
    """

    name = "heuristic-sharpness-exposure"
    threshold = 4.0
    relative_gate = True  # exposure pulls a night story down: gated against the story itself (memory.gate)

    def score(self, images: list[np.ndarray]) -> np.ndarray:
        return np.array([self._score(np.asarray(img)) for img in images], dtype=np.float32)

    @staticmethod
    def _score(image: np.ndarray) -> float:
        rgb = _resize(image, (256, 256))
        grey = _grey(rgb)
        laplacian = (
            -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
        )
        sharpness = np.clip((np.log10(laplacian.var() + 1e-8) + 5.0) / 3.0, 0.0, 1.0)
        clipped = float(np.mean((grey < 0.02) | (grey > 0.98)))
        exposure = np.clip(1.0 - 2.0 * abs(float(grey.mean()) - 0.5) - clipped, 0.0, 1.0)
        rg = rgb[..., 0] - rgb[..., 1]
        yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
        colourful = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
        colour = np.clip(colourful / 0.25, 0.0, 1.0)
        return float(10.0 * (0.5 * sharpness + 0.3 * exposure + 0.2 * colour))
