"""Names the Wan pipeline's options take, and storymem's cache folder: importable without torch,
by the command line's settings and by the modules that give the names their meaning
(generator.speed, generator.models.TIER_PLACEMENTS, generator.parallel)."""

from __future__ import annotations

import os
from pathlib import Path

SPEEDS = ("quality", "balanced", "fast")
CACHES = ("none", "first-block", "mag", "taylorseer")
VRAM_TIERS = ("80", "48", "24", "16")
PARALLEL_MODES = ("ulysses", "ring")


def default_cache_dir() -> Path:
    """storymem's one cache folder: $STORYMEM_CACHE, else $XDG_CACHE_HOME/storymem, else ~/.cache/storymem."""
    if os.environ.get("STORYMEM_CACHE"):
        return Path(os.environ["STORYMEM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "storymem"
