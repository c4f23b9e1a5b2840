"""BRISQUE no-reference quality from the `brisque` PyPI package, whose wheel ships its fitted SVM.

Used when HPSv3 weights are absent: it needs no download. The package's feature scaling calls
`float()` on one-element arrays, which numpy 2 rejects, so `_Brisque` flattens them first.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
from PIL import Image


def brisque_available() -> bool:
    return importlib.util.find_spec("brisque") is not None and importlib.util.find_spec("cv2") is not None


class BrisqueScorer:
    """Quality = 100 - BRISQUE, so that higher is better like HPSv3; passes at >= 40.

    BRISQUE is 0 (pristine) to about 100 (heavily distorted); frames with BRISQUE above 60 are
    blurred, noisy or blocky. Frames are squashed to at most 512 pixels on the long side first
    (about 0.06 s each on one CPU core instead of 0.2 s at 832x480); a featureless frame, where
    BRISQUE is undefined, scores 0.
    """

    name = "brisque-quality"
    threshold = 40.0
    max_side = 512

    def __init__(self) -> None:
        from brisque import BRISQUE

        class _Brisque(BRISQUE):
            def scale_features(self, features):
                return super().scale_features([np.asarray(f, dtype=np.float64).reshape(-1)[0] for f in features])

        self._model = _Brisque(url=False)

    def score(self, images: list[np.ndarray]) -> np.ndarray:
        return np.array([self._score(np.asarray(image)) for image in images], dtype=np.float32)

    def _score(self, image: np.ndarray) -> float:
        image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        height, width = image.shape[:2]
        scale = self.max_side / max(height, width)
        if scale < 1:
            size = (max(8, round(width * scale)), max(8, round(height * scale)))
            image = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
        with np.errstate(all="ignore"):
            value = float(self._model.score(image))
        if not math.isfinite(value):
            return 0.0
        return float(np.clip(100.0 - value, 0.0, 100.0))
