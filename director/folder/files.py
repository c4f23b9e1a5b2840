"""Atomic file writes: a crash or kill never leaves a half-written file under its real name.

Every temporary file is named `.<stem>.<random>.partial<suffix>` beside its target, so a run
that starts after a kill can find and remove what the killed one left (`sweep_partial_files`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

def _file_mode() -> int:
    """Permissions a plain `open()` would give under the current umask (mkstemp uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, durable) as temp:
        temp.write_bytes(data)


@contextmanager
def atomic_path(path: Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so encoders pick the format); on success
    it replaces `path` in one step, on failure it is removed and `path` is untouched. `durable`
    also syncs it to disk first; views that are made again from the records (the report's
    pages and pictures) skip that: a process kill never loses them, and a sync costs a shot
    about 10 ms per file on a busy disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        if durable:
            with open(temp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(temp, _file_mode())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def atomic_link(source: Path, path: Path) -> None:
    """Make `path` the same file as `source`: a hard link (no copy, byte-identical by construction),
    or a copy where the file system has no hard links; replaced in one step either way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and os.path.samefile(source, path):
        return
    with atomic_path(path) as temp:
        temp.unlink()
        try:
            os.link(source, temp)
        except OSError:
            shutil.copyfile(source, temp)
