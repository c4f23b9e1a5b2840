"""What storymem wrote in a story folder, known from its own records and file names, so `--force`
and a failed first run remove those files and never a user's file (shots/keep.txt stays).

- top level: the names in `workspace.OWNED` that are files (script.json, run.json, story.mp4, ...);
- shots/<id>.mp4|.json|.tail.npz and report/<id>_first|middle|last.jpg for the shot ids the
  folder's scripts name (script.json and every version's);
- takes/<id>/tNNN.mp4|.json|.tail.npz|.analysis.npz|.frames.npy;
- versions/vNNN.json, versions/current, versions/vNNN/story.mp4|.srt;
- memory/bank.json and the image and embedding of every entry bank.json lists;
- the temporary `.name.partial*` files atomic writes leave when killed.
A folder is removed only when nothing is left in it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from director.folder.workspace import OWNED, Workspace

_TAKE = re.compile(r"^t\d{3}\.(mp4|json|tail\.npz|analysis\.npz|frames\.npy)$")
_VERSION = re.compile(r"^v\d{3}\.json$|^current$")
_VERSION_DIR = re.compile(r"^v\d{3}$")
_FILM = re.compile(r"^story\.(mp4|srt)$")
_PARTIAL = re.compile(r"^\..+\.partial")
FOLDERS = ("shots", "takes", "versions", "memory", "report")


def _shot_ids(workspace: Workspace) -> set[str]:
    ids: set[str] = set()
    scripts = [workspace.script_path, *sorted(workspace.versions_dir.glob("v[0-9][0-9][0-9].json"))] if workspace.versions_dir.is_dir() else [workspace.script_path]
    for path in scripts:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data = data.get("script", data) if path.parent == workspace.versions_dir else data
            ids.update(str(shot["id"]) for shot in data.get("shots", []) if isinstance(shot, dict) and "id" in shot)
        except (OSError, ValueError, AttributeError, TypeError):
            continue
    return ids


def _memory_files(workspace: Workspace) -> set[str]:
    try:
        bank = json.loads((workspace.memory_dir / "bank.json").read_text(encoding="utf-8"))
        entries = bank.get("entries", {})
    except (OSError, ValueError, AttributeError):
        return {"bank.json"}
    names = {"bank.json"}
    for entry_id, entry in entries.items() if isinstance(entries, dict) else []:
        names.update({f"{entry_id}.png", f"{entry_id}.npy"})
        if isinstance(entry, dict) and isinstance(entry.get("image"), str):
            names.add(entry["image"])
    return names


def storymem_files(workspace: Workspace) -> list[Path]:
    """Every file in the folder that storymem wrote (by its records and names); nothing else."""
    root = workspace.root
    ids = _shot_ids(workspace)
    found: list[Path] = []

    def take(path: Path, ok: bool) -> None:
        if (ok or _PARTIAL.match(path.name)) and (path.is_file() or path.is_symlink()) and not path.is_dir():
            found.append(path)

    for name in OWNED:
        if name not in FOLDERS:
            take(root / name, True)
    for path in root.glob(".*.partial*"):
        take(path, True)
    shots = root / "shots"
    for path in shots.iterdir() if shots.is_dir() else []:
        take(path, path.name.split(".", 1)[0] in ids and path.name.split(".", 1)[-1] in ("mp4", "json", "tail.npz"))
    report = root / "report"
    for path in report.iterdir() if report.is_dir() else []:
        stem, _, suffix = path.name.rpartition(".")
        take(path, suffix == "jpg" and stem.rpartition("_")[0] in ids and stem.rpartition("_")[2] in ("first", "middle", "last"))
    takes = root / "takes"
    for folder in takes.iterdir() if takes.is_dir() else []:
        for path in folder.iterdir() if folder.is_dir() and folder.name in ids else []:
            take(path, bool(_TAKE.match(path.name)))
    versions = root / "versions"
    for path in versions.iterdir() if versions.is_dir() else []:
        if path.is_dir() and _VERSION_DIR.match(path.name):
            for film in path.iterdir():
                take(film, bool(_FILM.match(film.name)))
        else:
            take(path, bool(_VERSION.match(path.name)))
    memory = root / "memory"
    ours = _memory_files(workspace)
    for path in memory.iterdir() if memory.is_dir() else []:
        take(path, path.name in ours)
    return found


def remove_storymem_files(workspace: Workspace) -> list[Path]:
    """Remove what storymem wrote (see the module docstring), then its folders that are left empty."""
    removed = storymem_files(workspace)
    for path in removed:
        path.unlink(missing_ok=True)
    root = workspace.root
    for name in FOLDERS:
        folder = root / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        for inner in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            _rmdir_if_empty(inner)
        _rmdir_if_empty(folder)
    return removed


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def remove_created(workspace: Workspace, existed: set[str] | None, made_from: Path | None) -> None:
    """Undo a first run that generated nothing: remove the top-level entries it created (`existed`
    lists those that were there before; None when the folder itself was new), then the folder and
    the parents it made (up to `made_from`, the first folder that did not exist) when empty."""
    root = workspace.root
    if not root.is_dir():
        return
    for name in OWNED:
        path = root / name
        if existed is not None and name in existed:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink(missing_ok=True)
    for path in root.glob(".*.partial*"):
        path.unlink(missing_ok=True)
    if existed is None and made_from is not None:
        folder = root
        while True:
            _rmdir_if_empty(folder)
            if folder == made_from or folder.exists() or folder.parent == folder:
                break
            folder = folder.parent


# --- a run that fails after its first write ---------------------------------------------------------


class FirstWrites:
    """What a folder held before a run's first write, so a run that fails before generating
    anything can remove exactly what it created (`remove_created`)."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        root = workspace.root
        self.existed: set[str] | None = {n for n in OWNED if (root / n).exists() or (root / n).is_symlink()} if root.is_dir() else None
        missing = root
        while not missing.parent.exists() and missing.parent != missing:
            missing = missing.parent
        self.made_from: Path | None = None if root.exists() else missing


def generated_any(workspace: Workspace) -> bool:
    """Whether any attempt at any shot was generated in this folder (a take's record exists)."""
    takes = workspace.root / "takes"
    return takes.is_dir() and any(takes.glob("*/t[0-9][0-9][0-9].json"))


def resume_point(workspace: Workspace) -> str:
    """Where a rerun picks up, in words: "resume at shot 4 of 9 (3 finished)"."""
    try:
        draft = workspace.draft()
        if draft is None:
            if workspace.current() is None:
                return "nothing was planned yet; rerun the same command to start"
            return "the current version is complete; rerun the same command to check it"
        ids = [str(shot["id"]) for shot in draft.script.get("shots", [])]
        pending = [i for i in ids if i not in draft.shots]
    except Exception:  # a damaged record: say nothing we cannot stand behind
        return "rerun the same command to resume"
    if not pending:
        return f"all {len(ids)} shots are kept; rerun the same command to assemble the film"
    done = len(ids) - len(pending)
    return f"rerun the same command to resume at shot {ids.index(pending[0]) + 1} of {len(ids)} ({done} finished, kept in {workspace.root})"


def explain_failure(error: BaseException, workspace: Workspace, first: FirstWrites | None) -> str:
    """Attach to `error` a true sentence about the folder (a PEP 678 note, also kept as
    `error.storymem_note`): removed when this run generated nothing on a folder it started, else
    where a rerun resumes. Returns the sentence."""
    if isinstance(error, Exception) and first is not None and not generated_any(workspace):
        remove_created(workspace, first.existed, first.made_from)
        if first.existed is None:
            note = f"nothing was generated, so nothing is kept: {workspace.root} was removed; fix the cause and run the same command again"
        else:
            note = f"nothing was generated; the files this run made in {workspace.root} were removed; fix the cause and run the same command again"
    else:
        note = resume_point(workspace)
    error.add_note(note)
    error.storymem_note = note  # type: ignore[attr-defined]  (other notes, e.g. LangGraph's, may come before)
    return note
