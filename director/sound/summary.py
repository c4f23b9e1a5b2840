"""The soundtrack as the report and `storymem eval` show it: lines per shot with speaker and
measured length, what the timing rule did, and the mix measured again from the film itself."""

from __future__ import annotations

import html
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from director.sound.audio import RATE, ffmpeg, read_wav


def read_summary(version_dir: Path) -> dict[str, Any] | None:
    """`audio/lines.json` of a version's folder, or None for a silent film."""
    path = version_dir / "audio" / "lines.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def film_audio(film: Path) -> np.ndarray | None:
    """The film's soundtrack decoded (mono, `RATE`), or None when it has none."""
    result = subprocess.run([ffmpeg(), "-v", "error", "-nostdin", "-i", str(film), "-map", "0:a:0?", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
                            capture_output=True, check=False)
    return np.frombuffer(result.stdout, dtype="<f4").astype(np.float32) if result.returncode == 0 and result.stdout else None


def soundtrack_metrics(folder: Path, shot_ids: list[str]) -> dict[str, Any] | None:
    """Speech seconds per shot, lines cut or moved, integrated loudness, true peak and ducking depth
    of a story folder's current film, measured from its audio; None for a silent film."""
    from director.folder.workspace import Workspace
    from director.sound.mix import ducking_depth, loudness, true_peak

    workspace = Workspace(folder)
    version = workspace.current()
    if version is None:
        return None
    film = workspace.film_of(version)
    version_dir = film.parent
    summary = read_summary(version_dir)
    audio = film_audio(film) if summary is not None else None
    if summary is None or audio is None:
        return None
    lines = summary["lines"]
    speech = {shot: round(sum(l["seconds"] for l in lines if l["shot"] == shot), 3) for shot in shot_ids}
    music = read_wav(version_dir / "audio" / "music.wav")
    depths = [d for d in ducking_depth(music, [(l["start"], l["end"]) for l in lines]) if d is not None]
    return {
        "metrics": {
            "speech_seconds_per_shot": float(np.mean(list(speech.values()))) if speech else 0.0,
            "lines_cut": sum(l["status"] in ("cut", "shortened") for l in lines),
            "lines_moved": sum(l["status"] == "moved" for l in lines),
            "loudness_lufs": float(loudness(audio)) if np.any(audio) else None,
            "true_peak_dbtp": float(true_peak(audio)) if np.any(audio) else None,
            "ducking_db": float(min(depths)) if depths else None,
        },
        "speech_seconds": speech,
    }


def sound_html(summary: dict[str, Any] | None, numbers: dict[str, int]) -> str:
    """The report's sound section: each shot's lines, speaker and measured length; each scene's music."""
    if summary is None:
        return ""
    e = html.escape
    rows = "".join(
        f"<tr><td>#{numbers.get(l['shot'], '?')}</td><td>{e(l['speaker'])}</td><td>{e(l['text'])}</td><td>{l['start']:.2f}</td>"
        f"<td>{l['seconds']:.2f}</td><td>{e(l['status'])}{'' if l['text'] == l['planned'] else ' (planned: ' + e(l['planned']) + ')'}</td></tr>"
        for l in summary["lines"]
    )
    music = "".join(f"<li>scene {m['scene']}: {e(m['mood'])}{' · ' + e(m['track']) if m['track'] else ''}</li>" for m in summary["music"])
    figures = " · ".join(f"{label} {summary[key]}{unit}" for key, label, unit in (("loudness", "loudness", " LUFS"), ("true_peak", "true peak", " dBTP"), ("ducking_db", "music ducked", " dB under speech")) if summary.get(key) is not None)
    return f"""<h2 id="sound">Sound</h2>
<p><small>voice: {e(str(summary.get('engine') or 'none'))} · parts: {e(summary.get('part', 'all'))} · {figures}</small></p>
<table><tr><th>shot</th><th>speaker</th><th>line</th><th>starts at s</th><th>seconds</th><th>timing</th></tr>{rows or '<tr><td colspan=6>no lines</td></tr>'}</table>
<ul>{music}</ul>"""
