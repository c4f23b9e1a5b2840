"""`storymem eval`: the command line of `director.api.evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from director import api
from director.film.evaluate import DEFAULT_FRAMES, format_report

EPILOG = """examples:
  storymem eval runs/keeper
  storymem eval runs/keeper --baseline runs/keeper-no-memory --json eval.json
  storymem eval my_videos/ --embedder clip --clip-checkpoint ViT-B-32.pt   (mp4 files beside a StoryMem script)
  storymem eval runs/a runs/b --aesthetic-head sac+logos+ava1-l14-linearMSE.pth --aesthetic-clip-checkpoint ViT-L-14.pt

Nothing is downloaded: CLIP comes from a local checkpoint or cache (else the colour-structure
embedder, which has no text side: prompt following is then unavailable), the LAION aesthetic
head when given (else the frame quality model on its own scale), ViCLIP when given."""


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="score stories with ST-Bench's metrics and ours; compare with a baseline",
        description="Per story and overall: aesthetic, prompt following (global, per shot), cross-shot consistency (all pairs, "
        "top-10, within and across scenes), cut/continuation fidelity, per-character consistency, critic statistics and "
        "seconds per shot. With --baseline, a side-by-side table with the relative change.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="story folders, or folders of mp4 files with a script")
    parser.add_argument("--baseline", nargs="+", type=Path, default=[], metavar="DIR", help="one folder per DIR, same script, to compare with")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every number as JSON")
    parser.add_argument("--embedder", default="auto", metavar="NAME", help="image(-text) embedder: auto, clip, clip:MODEL[@TAG], colour-structure")
    parser.add_argument("--clip-checkpoint", metavar="FILE", help="a local open_clip checkpoint for --embedder clip")
    parser.add_argument("--aesthetic-head", metavar="FILE", help="LAION aesthetic predictor weights (on CLIP ViT-L/14)")
    parser.add_argument("--aesthetic-clip-checkpoint", metavar="FILE", help="the CLIP ViT-L/14 checkpoint for --aesthetic-head (default: the local openai cache)")
    parser.add_argument("--viclip", metavar="FILE", help="ViCLIP checkpoint (InternVideo's viclip module on PYTHONPATH) for prompt following and consistency")
    parser.add_argument("--quality-scorer", default="auto", metavar="NAME", help="the aesthetic fallback: auto, hpsv3, brisque, heuristic")
    parser.add_argument("--frames-per-shot", type=int, default=DEFAULT_FRAMES, metavar="N", help=f"frames sampled evenly from each shot, first and last included (default {DEFAULT_FRAMES})")


def run(args: argparse.Namespace) -> int:
    report = api.evaluate(
        args.folders,
        baseline=args.baseline,
        json_out=args.json,
        embedder=args.embedder,
        clip_checkpoint=args.clip_checkpoint,
        aesthetic_head=args.aesthetic_head,
        aesthetic_clip_checkpoint=args.aesthetic_clip_checkpoint,
        viclip=args.viclip,
        quality_scorer=args.quality_scorer,
        frames=args.frames_per_shot,
    )
    print(format_report(report))
    if args.json:
        print(f"json: {args.json}")
    return 0
