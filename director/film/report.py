"""report.html: the film, and for every shot its frames, prompt, decision, scores and memory."""

from __future__ import annotations

import html
from pathlib import Path

from PIL import Image

from director.film.video import read_video
from director.story import Story
from director.run.files import atomic_path, atomic_write_bytes
from director.run.scales import Reading, readings, summary_lines
from director.run.workspace import Workspace

THUMB_WIDTH = 240


def _thumbnail(image, path: Path) -> None:
    picture = Image.fromarray(image)
    picture.thumbnail((THUMB_WIDTH, THUMB_WIDTH))
    with atomic_path(path) as temp:
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


def write_report(workspace: Workspace, story: Story) -> Path:
    """Write report.html plus its thumbnails under report/; returns the page's path."""
    folder = workspace.inside("report")
    folder.mkdir(exist_ok=True)
    sections = []
    records = [workspace.load_shot_record(shot.id) for shot in story.shots]
    recorded = workspace.load_run().get("scores")
    per_shot = readings(records, recorded)
    for shot, record, shot_readings in zip(story.shots, records, per_shot):
        frames = read_video(workspace.shot_video(shot.id))
        pictures = []
        for label, index in (("first", 0), ("middle", len(frames) // 2), ("last", len(frames) - 1)):
            name = f"{shot.id}_{label}.jpg"
            _thumbnail(frames[index], folder / name)
            pictures.append(f'<img src="report/{name}" alt="{shot.id} {label} frame">')
        memory = "".join(
            f'<img class="memory" src="memory/{entry_id}.png" title="{entry_id}" alt="memory {entry_id}">' for entry_id in record.get("memory", [])
        )
        sections.append(
            f"""<section>
<h2>Scene {shot.scene} · {html.escape(shot.id)} · {shot.transition} <small>({record['mode']}, {record['frames']} frames,
attempt {record['attempt']} of {record['attempts']}, {record['decision']})</small></h2>
<div class="frames">{''.join(pictures)}</div>
<p>{html.escape(shot.prompt)}</p>
{_scores(shot_readings)}
<p><small>memory that conditioned it ({len(record.get('memory', []))}):</small><br>{memory or '<small>none (first shot)</small>'}</p>
</section>"""
        )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(story.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 900px; margin: 2em auto; color: #222; }}
.frames img {{ width: {THUMB_WIDTH}px; margin-right: 6px; border-radius: 4px; }}
img.memory {{ width: 96px; margin: 2px; border: 1px solid #ccc; }}
section {{ border-top: 1px solid #ddd; padding-top: 0.5em; }}
</style></head><body>
<h1>{html.escape(story.title)}</h1>
<p><em>{html.escape(story.logline)}</em></p>
<p>{html.escape(story.overview)}</p>
<video src="story.mp4" controls width="832"></video>
<p><small>{len(story.shots)} shots in {len(story.scenes)} scenes · subtitles: story.srt · every decision: events.jsonl</small></p>
<h3>Scores</h3>
<ul>{''.join(f"<li>{html.escape(line)}</li>" for line in summary_lines(records, recorded))}</ul>
{''.join(sections)}
</body></html>
"""
    path = workspace.root / "report.html"
    atomic_write_bytes(path, page.encode())
    return path
