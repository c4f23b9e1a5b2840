"""report.html: a page a person wants to open, rewritten as shots finish so a running story can be watched.

Live, the page is rewritten after a shot when it is at least `REWRITE_EVERY_S` old: after every
shot of a real model (minutes a shot), every few shots of a fast preview, so the rewrites (which
read every finished shot's records) never grow into the story's cost. Each shot's thumbnails are
made at its commit, from its frames still in memory; its chart is a few lines of inline SVG; the
pictures of the whole story (storyboard.png, the scores over the story) are drawn once, with the
finished film, when the page is written a last time.

Self-contained and offline: no scripts, no fonts, no network; shot charts are inline SVG and the chart
over the story (matplotlib) a data URI, and frame thumbnails (report/), memory images (memory/), shot files and the film are
relative links inside the story folder. In order: the film and its files; the script; the
storyboard contact sheet (keyframes per shot, film shot numbers, cut or continue; also written as
storyboard.png); scores over the story; the memory timeline (which entries conditioned each shot,
sink marked, the shot each came from); then every shot with its frames, prompt, scores with their
scales (`director.critic.scales`), a chart of its attempts, the critic's decisions and reasons, its
memory and timings; finally the versions when the story has been revised.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from director.film.storyboard import Tile, contact_sheet, frames_of, shot_chart, spaced, story_chart
from director.folder.files import atomic_path, atomic_write_bytes
from director.critic.scales import Reading, readings, summary_lines
from director.folder.workspace import Workspace
from director.story import Story

THUMB_WIDTH = 240
FRAME_LABELS = ("first", "middle", "last")
#: Seconds a live report stays before a finished shot rewrites it (the finished film always does).
REWRITE_EVERY_S = 2.0


def _thumbnail(image, path: Path) -> None:
    picture = Image.fromarray(image)
    picture.thumbnail((THUMB_WIDTH, THUMB_WIDTH))
    with atomic_path(path, durable=False) as temp:
        picture.save(temp, format="JPEG", quality=85)


def _scores(readings: list[Reading]) -> str:
    """Each score with its scale, its model and what counts as good (the gate it was judged by)."""
    rows = []
    for r in readings:
        mark = "" if r.passed is None else (" ✓ good" if r.passed else " ✗ under the gate")
        rows.append(
            f"<li>{html.escape(r.label)}: <b>{r.value:.3f}</b> on {html.escape(r.scale)}{mark} "
            f"<small>({html.escape(r.model)}; {html.escape(r.good)})</small></li>"
        )
    return "<ul>" + "".join(rows) + "</ul>" if rows else "<p><small>no scores</small></p>"


def _e(text: Any) -> str:
    return html.escape(str(text))


def _png(data: bytes | None, alt: str, css: str) -> str:
    if not data:
        return ""
    return f'<img class="{css}" alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _thumbnails(workspace: Workspace, folder: Path, shot_id: str, frames: np.ndarray | None = None) -> list[Path]:
    """First, middle and last frame of the shot as JPEGs under report/, made again only when the
    shot's video is newer (a redo or a revision): from `frames` when given (the shot just
    committed), else decoded from its video."""
    paths = [folder / f"{shot_id}_{label}.jpg" for label in FRAME_LABELS]
    video = workspace.shot_video(shot_id)
    made = min((p.stat().st_mtime_ns for p in paths if p.is_file()), default=None)
    if made is None or len([p for p in paths if p.is_file()]) < len(paths) or made < video.stat().st_mtime_ns:
        for frame, path in zip(frames_of(video, len(paths)) if frames is None else spaced(frames, len(paths)), paths):
            _thumbnail(frame, path)
    return paths


def _bank(workspace: Workspace) -> dict[str, Any]:
    path = workspace.memory_dir / "bank.json"
    return json.loads(path.read_text()) if path.is_file() else {"entries": {}, "config": {"sink": 3}}


def _attempts(workspace: Workspace, version: Any, shot_id: str) -> list[dict[str, Any]]:
    entry = version.shots.get(shot_id) if version is not None else None
    if entry is None:
        return []
    takes = []
    for number in entry.attempts:
        if workspace.take_path(shot_id, number, ".json").is_file():
            take = workspace.load_take(shot_id, number)
            takes.append({"take": take.number, "attempt": take.attempt, "seed": take.seed, "seconds": take.seconds, "scores": take.scores,
                          "decision": take.decision or {}, "prompt": take.prompt, "memory": take.memory})
    return takes


def _judged(decision: dict[str, Any]) -> str:
    """What the LLM judge saw (per aspect), why its answer was not used, the prompt change it asked
    for, and the pairwise comparisons that picked the kept take."""
    lines = [f"{'pass' if a.get('passed') else 'FAIL'} {a.get('aspect')}{' (' + a['character'] + ')' if a.get('character') else ''}: {a.get('evidence', '')}" for a in decision.get("evidence", [])]
    if decision.get("change"):
        lines.append(f"prompt change: {decision['change']}")
    if decision.get("fallback"):
        lines.append(f"rules decided: {decision['fallback']}")
    lines += [f"t{c['a']:03d} vs t{c['b']:03d}: {c['better']}, kept t{c['kept']:03d} ({c['reasons']})" for c in decision.get("comparisons", [])]
    return f"<ul class=evidence>{''.join(f'<li>{_e(line)}</li>' for line in lines)}</ul>" if lines else ""


def _director_seconds(events: list[dict[str, Any]], story: Story) -> dict[str, float]:
    """Seconds the director spent per shot outside generation (memory, critic, commit), from events.jsonl."""
    seconds: dict[str, float] = {}
    for event in events:
        if event.get("event") == "node" and event.get("node") in ("remember", "critique", "commit", "drop_memory", "pin_memory", "refine_prompt", "prepare_shot"):
            cursor = event.get("cursor")
            if isinstance(cursor, int) and 0 <= cursor < len(story.shots):
                shot_id = story.shots[cursor].id
                seconds[shot_id] = seconds.get(shot_id, 0.0) + float(event.get("seconds", 0.0))
    return seconds


def _memory_notes(events: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """Why each shot added no keyframe, and the warnings that memory stayed empty, from events.jsonl."""
    notes, warnings = {}, []
    for event in events:
        if event.get("event") == "memory_note":
            notes[event.get("shot")] = str(event.get("note", ""))
        elif event.get("event") == "memory_empty" and event.get("warning") not in warnings:
            warnings.append(str(event.get("warning")))
    return notes, warnings


def _added(keyframes: list[str], why: str) -> str:
    if keyframes:
        return f"added to memory: {_e(', '.join(keyframes))}"
    return f"added no keyframe to memory: {_e(why or 'none was selected')}"


def _link(workspace: Workspace, relative: str, text: str) -> str:
    return f'<a href="{_e(relative)}">{_e(text)}</a>' if (workspace.root / relative).is_file() else ""


def _memory_cell(entry_id: str, position: int, sink: int, entries: dict[str, Any], numbers: dict[str, int]) -> str:
    entry = entries.get(entry_id, {})
    source = entry.get("shot_id")
    origin = f"from #{numbers[source]}" if source in numbers else ("reference" if entry.get("kind") == "reference" else f"from {source}")
    is_sink = position < sink
    return (
        f'<figure class="mem{" sink" if is_sink else ""}"><img class="memory" src="memory/{_e(entry_id)}.png" title="{_e(entry_id)}" alt="memory {_e(entry_id)}">'
        f'<figcaption>{_e(entry_id)}<br>{_e(origin)}{"<br><b>sink</b>" if is_sink else ""}</figcaption></figure>'
    )


def write_report(workspace: Workspace, story: Story) -> Path:
    """Write report.html (thumbnails and chart caches under report/; with the finished film also
    storyboard.png and the chart over the story) for the shots the folder shows now; returns the
    page's path."""
    folder = workspace.inside("report")
    folder.mkdir(exist_ok=True)
    version = workspace.current() or workspace.draft()
    recorded_run = workspace.load_run()
    recorded = recorded_run.get("scores")
    gates = {key: {"gate": value.get("gate")} for key, value in (recorded or {}).items()}
    numbers = {shot.id: k + 1 for k, shot in enumerate(story.shots)}
    done = [shot for shot in story.shots if workspace.is_done(shot.id)]
    done_ids = {shot.id for shot in done}
    records = [workspace.load_shot_record(shot.id) for shot in done]
    per_shot = readings(records, recorded)
    bank = _bank(workspace)
    sink = int(bank.get("config", {}).get("sink", 3))
    entries = bank.get("entries", {})
    events = workspace.events()
    director_seconds = _director_seconds(events, story)
    memory_notes, memory_warnings = _memory_notes(events)

    tiles, sections, timeline, timing_rows, total_generation = [], [], [], [], 0.0
    for shot, record, shot_readings in zip(done, records, per_shot):
        number = numbers[shot.id]
        thumbs = _thumbnails(workspace, folder, shot.id)
        tiles.append(Tile(number, shot.id, shot.transition, thumbs))
        attempts = _attempts(workspace, version, shot.id)
        kept = next((k for k, a in enumerate(attempts) if f"t{a['take']:03d}" == record.get("take")), len(attempts) - 1)
        chart = shot_chart(attempts or [{"scores": record.get("scores", {})}], max(kept, 0), gates)
        memory_ids = record.get("memory", [])
        memory = "".join(_memory_cell(i, k, sink, entries, numbers) for k, i in enumerate(memory_ids))
        timeline.append(f'<tr><th>#{number}<br><small>{_e(shot.id)}</small></th><td>{memory or "<small>empty</small>"}</td></tr>')
        generation = sum(a["seconds"] for a in attempts)
        total_generation += generation
        timing_rows.append(f"<tr><td>#{number}</td><td>{len(attempts)}</td><td>{generation:.2f}</td><td>{director_seconds.get(shot.id, 0.0):.2f}</td></tr>")
        decisions = "".join(
            f"<tr{' class=kept' if k == kept else ''}><td>t{a['take']:03d}</td><td>{a['attempt']}</td><td>{a['seed']}</td><td>{a['seconds']:.2f}</td>"
            f"<td>{_e(a['decision'].get('action', '-'))}</td><td>{_e(a['decision'].get('judge', 'rules'))}</td><td>{_e(a['decision'].get('reason', ''))}{_judged(a['decision'])}</td></tr>"
            for k, a in enumerate(attempts)
        )
        pictures = "".join(f'<img src="report/{p.name}" alt="{_e(shot.id)} {label} frame">' for p, label in zip(thumbs, FRAME_LABELS))
        links = " · ".join(x for x in (_link(workspace, f"shots/{shot.id}.mp4", "video"), _link(workspace, f"shots/{shot.id}.json", "record")) if x)
        sections.append(
            f"""<section>
<h2 id="shot-{number}">#{number} · scene {shot.scene} · {_e(shot.id)} · <span class="{shot.transition}">{shot.transition}</span> <small>({_e(record['mode'])}, {record['frames']} frames,
attempt {record['attempt']} of {record['attempts']}, {_e(record['decision'])})</small></h2>
<div class="frames">{pictures}</div>
<p>{_e(record.get('prompt', shot.prompt))}</p>
{_scores(shot_readings)}
{chart}
<table class="critic"><tr><th>take</th><th>attempt</th><th>seed</th><th>seconds</th><th>decision</th><th>judge</th><th>reason</th></tr>{decisions}</table>
<p><small>memory that conditioned it ({len(memory_ids)}):</small><br>{memory or '<small>none (first shot, or --no-memory)</small>'}</p>
<p class="added"><small>{_added(version.shots[shot.id].keyframes if version is not None and shot.id in version.shots else [], memory_notes.get(shot.id, ""))}</small></p>
<p><small>{links}</small></p>
</section>"""
        )

    film = workspace.film_path.is_file() and len(done) == len(story.shots)
    sheet = ""
    if tiles:
        if film:
            contact_sheet(tiles, workspace.root / "storyboard.png", story.title)
        cards = "".join(
            f'<div class="card {t.transition}"><div class="label">#{t.number} <small>{_e(t.shot_id)}</small> · {"CONTINUE" if t.transition == "continue" else "CUT"}</div>'
            + "".join(f'<img src="report/{p.name}" alt="shot {t.number} keyframe">' for p in t.frames)
            + "</div>"
            for t in tiles
        )
        sheet = f'<div class="sheet" id="contact-sheet">{cards}</div>'
    overview_chart = story_chart(folder, [numbers[s.id] for s in done], records) if film else None
    links = " · ".join(x for x in (
        _link(workspace, "story.mp4", "film"), _link(workspace, "story.srt", "subtitles"), _link(workspace, "storyboard.png", "storyboard.png"),
        _link(workspace, "script.json", "script.json"), _link(workspace, "events.jsonl", "events.jsonl"),
    ) if x)
    script_rows = "".join(
        f"<tr><td>#{numbers[s.id]}</td><td>{s.scene}</td><td>{_e(s.id)}</td><td class=\"{s.transition}\">{s.transition}</td><td>{_e(', '.join(s.characters))}</td>"
        f"<td>{_e(s.prompt)}</td><td>{'✓' if s.id in done_ids else '…'}</td></tr>"
        for s in story.shots
    )
    characters = "".join(f"<li><b>{_e(c.name)}</b>: {_e(c.description)}</li>" for c in story.characters)
    scenes = "".join(f"<li>scene {sc.number}: {_e(sc.setting)} ({_e(sc.time_of_day)}){' — ' + _e(sc.purpose) if sc.purpose else ''}</li>" for sc in story.scenes)
    versions = workspace.versions()
    current = workspace.current()
    version_rows = "".join(
        f"<tr><td>v{v.number}{' (current)' if current is not None and v.number == current.number else ''}</td><td>{'v' + str(v.parent) if v.parent else '-'}</td>"
        f"<td>{len(v.shots)}</td><td>{'done' if v.done else 'being made'}</td><td>{_e(v.note)}</td><td>{_link(workspace, f'versions/{v.name}/story.mp4', 'film')}</td></tr>"
        for v in versions
    )
    from director.run.ablations import names, recorded_settings

    used = names(recorded_settings(recorded_run.get("settings", {})))
    from director.sound.summary import read_summary, sound_html

    sound = sound_html(read_summary(workspace.film_of(version).parent), numbers) if version is not None and film else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(story.title)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1000px; margin: 2em auto; color: #222; padding: 0 1em; }}
.frames img {{ width: {THUMB_WIDTH}px; margin-right: 6px; border-radius: 4px; }}
img.memory {{ width: 96px; border: 1px solid #ccc; }}
figure.mem {{ display: inline-block; margin: 2px; text-align: center; font-size: 11px; }}
figure.mem.sink img {{ border: 3px solid #d4a017; }}
section {{ border-top: 1px solid #ddd; padding-top: 0.5em; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ddd; padding: 2px 6px; vertical-align: top; text-align: left; }}
tr.kept {{ background: #eef5ee; }}
.cut {{ color: #c83c28; }} .continue {{ color: #2878c8; }}
.sheet {{ display: flex; flex-wrap: wrap; gap: 8px; }}
.card {{ border: 2px solid #c83c28; border-radius: 6px; padding: 4px; }}
.card.continue {{ border-color: #2878c8; }}
.card img {{ width: 96px; margin: 1px; }}
.card .label {{ font-weight: bold; font-size: 13px; }}
img.chart {{ max-width: 100%; }}
</style></head><body>
<h1>{_e(story.title)}</h1>
<p><em>{_e(story.logline)}</em></p>
<p>{_e(story.overview)}</p>
{'<video src="story.mp4" controls width="832"></video>' if film else f'<p><b>being made: {len(done)} of {len(story.shots)} shots finished</b> (this page is rewritten as shots finish, at most every {REWRITE_EVERY_S:g} seconds: reload it)</p>'}
<p><small>{len(story.shots)} shots in {len(story.scenes)} scenes{f" · version {version.number}" if version is not None else ""}{" · ablations: " + _e(" ".join(used)) if used else ""} · {links}</small></p>
<h2 id="script">Script</h2>
<ul>{characters}</ul><ul>{scenes}</ul>
<table><tr><th>shot</th><th>scene</th><th>id</th><th>transition</th><th>characters</th><th>prompt</th><th>done</th></tr>{script_rows}</table>
<h2 id="storyboard">Storyboard</h2>
<p><small>keyframes (first, middle, last) of each shot, numbered as in the film; red: hard cut, blue: continuation</small></p>
{sheet or '<p><small>no shot finished yet</small></p>'}
<h3>Scores</h3>
<ul>{''.join(f"<li>{_e(line)}</li>" for line in summary_lines(records, recorded))}</ul>
{_png(overview_chart, "scores over the story", "overview") or "<p><small>the chart over the story is drawn with the finished film</small></p>"}
<h2 id="memory">Memory timeline</h2>
<p><small>the memory entries that conditioned each shot, in conditioning order; a gold border marks the sink (the {sink} permanent earliest entries); each says the shot it came from</small></p>
{''.join(f'<p class="warning"><b>{_e(w)}</b></p>' for w in memory_warnings)}
<table class="timeline">{''.join(timeline)}</table>
<h2 id="timings">Timings</h2>
<table><tr><th>shot</th><th>attempts</th><th>generation s</th><th>director s (memory, critic, commit)</th></tr>{''.join(timing_rows)}</table>
<p><small>generation in total: {total_generation:.1f} s</small></p>
{sound}
<h2 id="shots">Shots</h2>
{''.join(sections)}
{f'<h2 id="versions">Versions</h2><table><tr><th>version</th><th>made from</th><th>shots</th><th>state</th><th>what</th><th>film</th></tr>{version_rows}</table>' if len(versions) > 1 else ''}
</body></html>
"""
    path = workspace.root / "report.html"
    atomic_write_bytes(path, page.encode(), durable=False)
    return path


def update_report(workspace: Workspace, shot_id: str, frames: np.ndarray) -> Path | None:
    """After shot `shot_id` (whose kept `frames` these are) is committed, while the first version
    fills the folder (a revision's draft is not shown until it is finished): make the shot's
    thumbnails, and rewrite the page when it is `REWRITE_EVERY_S` old. Never fails the story: a
    problem is logged."""
    if workspace.current() is not None:
        return None
    try:
        folder = workspace.inside("report")
        folder.mkdir(exist_ok=True)
        _thumbnails(workspace, folder, shot_id, frames)
        page = workspace.root / "report.html"
        if page.is_file() and time.time() - page.stat().st_mtime < REWRITE_EVERY_S:
            return None
        return write_report(workspace, workspace.load_script())
    except Exception as error:  # noqa: BLE001 - the report is a view; the film must go on
        workspace.log("report", error=f"{type(error).__name__}: {error}")
        return None
