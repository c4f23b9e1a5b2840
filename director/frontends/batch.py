"""`storymem batch FILE --out DIR`: the command line of `director.batch`.

Every `make` option is the default for all stories (the same flags, generated from RunSettings);
the batch's own options choose the executor. Progress: one overall bar (stories and shots) and a
line per story being made; at the end a table of every story and the paths of the films.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from director import api
from director.frontends.options import add_settings_options, settings_from

EPILOG = """\
FILE is one of:
  a text file, one logline per line          storymem batch loglines.txt --out runs/batch
  a folder of scripts (ours or StoryMem's)   storymem batch ../shared/stbench --backend wan
  JSONL, one job per line:                   {"id": "keeper", "logline": "...", "settings": {"shots": 4}}
                                             {"script": "scripts/cat.json", "seed": 3}
examples:
  storymem batch loglines.txt --workers 2 --backend preview
  storymem batch stories/ --ray auto --gpus-per-worker 1
  storymem batch jobs.jsonl --checkpoint-db postgresql://storymem@127.0.0.1:5432/storymem

Rerunning the same command resumes: finished stories are skipped, unfinished ones continue at
their first unfinished shot, failed ones are tried again (--no-retry-failed leaves them).
Story folders are OUT/<id>/; OUT/batch.json records every story. Under Ray, OUT must be on
storage every node mounts at the same path.
"""


def add_parser(commands: Any) -> None:
    batch = commands.add_parser(
        "batch",
        help="make many stories unattended, on worker processes or a Ray cluster",
        description="Make every story of FILE, each in its own folder, with worker processes that keep their models loaded (or Ray actors).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("file", type=Path, metavar="FILE", help="loglines (one a line), a folder of scripts, or a JSONL file of jobs")
    batch.add_argument("--out", type=Path, metavar="DIR", help="batch folder (default: runs/batch-<FILE name>); rerunning on it resumes")
    runs = batch.add_argument_group("batch")
    runs.add_argument("--workers", type=int, metavar="N", help="worker processes, or Ray actors with --ray (default: one per GPU, else 1)")
    runs.add_argument("--ray", metavar="auto|ADDRESS", help="run on a Ray cluster: auto (this machine's, or a new local one) or HOST:PORT")
    runs.add_argument("--gpus-per-worker", type=int, default=1, metavar="N", help="GPUs each worker holds (default 1)")
    runs.add_argument("--force", action="store_true", help="remake finished stories whose settings differ from what they were made with (without it, each is named and left)")
    runs.add_argument("--retry-failed", dest="retry_failed", action=argparse.BooleanOptionalAction, default=True, help="retry stories that failed in an earlier run (default: yes)")
    add_settings_options(batch)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    with BatchProgress() as progress:
        result = api.run_batch(
            args.file, args.out, settings=settings, workers=args.workers, ray=args.ray,
            gpus_per_worker=args.gpus_per_worker, retry_failed=args.retry_failed, force=args.force, on_event=progress,
        )
    print(summary_table(result.stories))
    films = [r["film"] for r in result.stories if r["status"] == "done" and r.get("film")]
    if films:
        print("films:")
        for film in films:
            print(f"  {film}")
    print(f"manifest: {result.manifest}")
    if result.interrupted:
        print("storymem: interrupted; finished shots are kept, run the same command again to resume", file=sys.stderr)
        return 130
    return 1 if result.failed else 0


def summary_table(records: list[dict[str, Any]]) -> str:
    """story, shots, attempts, minutes, mean scores, status (and the error of a failed story)."""
    keys = [k for k in ("quality", "consistency", "continuity", "prompt_following", "overall") if any(k in (r.get("scores") or {}) for r in records)]
    names = {"quality": "quality", "consistency": "consist", "continuity": "contin", "prompt_following": "prompt", "overall": "overall"}
    width = max([5] + [len(r["id"]) for r in records])
    head = f"{'story':<{width}}  {'shots':>7}  {'tries':>5}  {'min':>6}  " + "".join(f"{names[k]:>8}" for k in keys) + "  status"
    lines = [head, "-" * len(head)]
    for r in records:
        planned = r.get("shots_planned")
        shots = f"{r.get('shots', 0)}/{planned}" if planned else str(r.get("shots", 0))
        scores = r.get("scores") or {}
        cells = "".join(f"{scores[k]:>8.3f}" if k in scores else f"{'-':>8}" for k in keys)
        status = r["status"] + (f": {r['error']}" if r.get("error") and r["status"] != "done" else "")
        lines.append(f"{r['id']:<{width}}  {shots:>7}  {r.get('attempts', 0):>5}  {r.get('minutes', 0):>6.2f}  {cells}  {status}")
    done = sum(r["status"] == "done" for r in records)
    lines.append(f"{done} of {len(records)} stories done")
    return "\n".join(lines)


class BatchProgress:
    """An overall bar (stories done, shots made) and a line per story being made; plain lines
    when stderr is not a terminal."""

    def __init__(self):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = tqdm(total=0, unit="story", desc="stories", file=sys.stderr, dynamic_ncols=True, disable=None, position=0)
        self.live = not self.bar.disable
        self.lines: dict[str, Any] = {}
        self.shots = 0
        self.free: list[int] = []
        self.warned: set[str] = set()  # the workers' model warnings, each said once for the batch

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc) -> None:
        for line in self.lines.values():
            line.close()
        self.bar.close()

    def write(self, text: str) -> None:
        if self.live:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("batch") == "start":
            skipped = len(event["skipped"])
            self.bar.reset(total=event["stories"])
            self.bar.update(skipped)
            self.write(f"{event['executor']}; {len(event['to_run'])} of {event['stories']} stories to make" + (f", {skipped} already done" if skipped else "") + f" -> {event['out']}")
            for line in event.get("refused", {}).values():
                self.write(f"storymem: {line}")
            return
        story = event.get("story")
        if story is None:
            return
        if "warning" in event:
            if event["warning"] not in self.warned:
                self.warned.add(event["warning"])
                self.write(f"storymem: warning: {event['warning']}")
        elif event.get("started"):
            self._open(story, event.get("worker", ""))
        elif "shot_done" in event:
            self.shots += 1
            line = self.lines.get(story)
            if line is not None:
                if line.total != event["total"]:
                    line.reset(total=event["total"])
                    line.update(event["index"] + 1)
                else:
                    line.update(1)
            elif not self.live:
                pass
            self.bar.set_postfix_str(f"{self.shots} shots made", refresh=True)
        elif "done" in event:
            record = event["done"]
            line = self.lines.pop(story, None)
            if line is not None:
                self.free.append(line.pos)
                line.close()
            if record["status"] == "done":
                self.bar.update(1)
            text = f"{story}: {record['status']}, {record.get('shots', 0)} shots, {record.get('minutes', 0):.2f} min"
            self.write(text + (f" ({record['error']})" if record.get("error") and record["status"] != "done" else ""))

    def _open(self, story: str, worker: str) -> None:
        if not self.live:
            self.write(f"{story}: started on {worker}")
            return
        position = self.free.pop(0) if self.free else len(self.lines) + 1
        self.lines[story] = self._tqdm(total=None, unit="shot", desc=f"  {story[:30]}", file=sys.stderr, dynamic_ncols=True, position=position, leave=False)
