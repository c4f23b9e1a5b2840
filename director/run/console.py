"""What a run says on the console, kept short once it has been said.

A missing-model warning (memory.vision: "CLIP embedder unavailable ... Using the weight-free
embedder ...", about 300 characters) is shown in full the first time a story folder sees it and
recorded in its run.json; later runs on that folder print one short line instead.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

VISION_LOGGER = "storymem.memory"

#: Known warnings (by how they start) and their one-line form.
SHORT_FORMS = (
    ("CLIP embedder unavailable", "no CLIP weights: memory uses the colour-structure embedder"),
    ("HPSv3 weights not found", "no HPSv3 weights: quality is scored by the packaged fallback"),
    ("HPSv3 could not be loaded", "HPSv3 could not be loaded: quality is scored by the packaged fallback"),
    ("The 'brisque' package", "no brisque package: quality is scored by the heuristic"),
)


def warning_key(message: str) -> str:
    return hashlib.sha256(message.encode()).hexdigest()[:12]


def short_form(message: str) -> str:
    for start, short in SHORT_FORMS:
        if message.startswith(start):
            return short + " (said in full on this folder's first run; see run.json)"
    first = message.split(". ", 1)[0]
    return (first if len(first) <= 100 else first[:97] + "...") + " (said in full before; see run.json)"


class _OncePerFolder(logging.Filter):
    def __init__(self, shown: dict[str, str], new: dict[str, str]):
        super().__init__()
        self.shown, self.new = shown, new

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        key = warning_key(message)
        if key in self.shown:
            record.msg, record.args = short_form(message), ()
        else:
            self.new[key] = message
        return True


@contextmanager
def warnings_once_per_folder(shown: dict[str, str]) -> Iterator[dict[str, str]]:
    """While open, model warnings already in `shown` (a folder's record: key -> message) print as
    one short line; the ones printed in full are collected in the yielded dict, to be recorded."""
    new: dict[str, str] = {}
    logger = logging.getLogger(VISION_LOGGER)
    guard = _OncePerFolder(shown if isinstance(shown, dict) else {}, new)
    logger.addFilter(guard)
    try:
        yield new
    finally:
        logger.removeFilter(guard)
