"""ST-Bench through `storymem batch`, once per ablation, then `storymem eval`: the paper-shaped table.

The scripts are read from ST-Bench's folder (default ../shared/stbench; non-commercial, never copied
into this project: the chosen ones go to a temporary folder for the batch). Each ablation makes every
chosen story into OUT/<ablation>/<story>/ through `director.api.run_batch` (rerunning resumes), then
all of them are evaluated with the same encoders and printed beside the published numbers.

Run: python benchmarks/stbench.py --stories cat,dog --ablations full,no-memory --backend preview
     python benchmarks/stbench.py --limit 30 --backend wan --embedder clip --clip-checkpoint ViT-B-32.pt \\
         --aesthetic-head sac+logos+ava1-l14-linearMSE.pth --viclip ViClip-InternVid-10M-FLT.pth
The preview animatic ignores memory (it draws cards from the script), so ablations only differ with
`--backend tiny` (random weights: noise) or `wan`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

ABLATIONS = {
    "full": {},
    "no-memory": {"no_memory": True},
    "no-sink": {"no_sink": True},
    "no-quality-gate": {"no_quality_gate": True},
    "no-semantic-selection": {"no_semantic_selection": True},
    "memory-5": {"memory_size": 5},
    "critic-off": {"critic": "off"},
}
COLUMNS = [("aesthetic", "aesthetic"), ("prompt_global", "PF global"), ("prompt_shot", "PF shot"), ("consistency_all", "cons all"),
           ("consistency_top10", "cons top10"), ("continuation_fidelity", "cont fid"), ("attempts_per_shot", "att/shot"), ("seconds_per_shot", "s/shot")]


def _make_all(scripts: Path, out: Path, settings, workers: int) -> list[Path]:
    from director import api

    if hasattr(api, "run_batch"):
        result = api.run_batch(scripts, out, settings=settings, workers=workers)
        return [out / record["folder"] for record in result.stories if record.get("status") == "done"]
    print("  (director.api.run_batch is not there: making the stories one by one with make_story)")
    folders = []
    for script in sorted(scripts.glob("*.json")):
        folders.append(api.make_story(out / script.stem, script=script, settings=settings).folder)
    return folders


def _cell(value) -> str:
    return "-" if value is None else (f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stbench", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "stbench")
    parser.add_argument("--stories", help="comma-separated script names (cat,dog,...); default: the first --limit")
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--ablations", default="full,no-memory", help=f"comma-separated, from: {', '.join(ABLATIONS)}")
    parser.add_argument("--out", type=Path, default=Path("runs/stbench"))
    parser.add_argument("--backend", default="preview")
    parser.add_argument("--size", default="416x240")
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--clip-checkpoint")
    parser.add_argument("--aesthetic-head")
    parser.add_argument("--aesthetic-clip-checkpoint")
    parser.add_argument("--viclip")
    parser.add_argument("--quality-scorer", default="auto")
    args = parser.parse_args()

    from director import api
    from director.film.evaluate import PUBLISHED, format_report

    names = args.stories.split(",") if args.stories else sorted(p.stem for p in args.stbench.glob("*.json"))[: args.limit]
    unknown = [n for n in args.ablations.split(",") if n not in ABLATIONS]
    if unknown:
        raise SystemExit(f"unknown ablation(s) {', '.join(unknown)}; choose from {', '.join(ABLATIONS)}")
    encoder_options = dict(embedder=args.embedder, clip_checkpoint=args.clip_checkpoint, aesthetic_head=args.aesthetic_head,
                           aesthetic_clip_checkpoint=args.aesthetic_clip_checkpoint, viclip=args.viclip, quality_scorer=args.quality_scorer)
    rows = {}
    with tempfile.TemporaryDirectory() as temp:
        scripts = Path(temp)
        for name in names:
            source = args.stbench / f"{name}.json"
            if not source.is_file():
                raise SystemExit(f"no ST-Bench script {source}")
            shutil.copy(source, scripts / source.name)
        for ablation in args.ablations.split(","):
            settings = api.RunSettings(backend=args.backend, size=args.size, frames=args.frames, embedder=args.embedder,
                                       clip_checkpoint=args.clip_checkpoint, quality_scorer=args.quality_scorer, **ABLATIONS[ablation])
            print(f"{ablation}: making {len(names)} stories into {args.out / ablation}")
            folders = _make_all(scripts, args.out / ablation, settings, args.workers)
            report = api.evaluate(folders, **encoder_options)
            rows[ablation] = report
    encoders = next(iter(rows.values()))["encoders"]
    print("\n" + format_report({"encoders": encoders, "stories": [], "overall": {}}).splitlines()[0])
    print(f"ST-Bench subset: {len(names)} stories ({', '.join(names)}); backend {args.backend}; mean per story")
    print(f"{'':<40}" + "".join(f"{label:>11}" for _, label in COLUMNS))
    for ablation, report in rows.items():
        print(f"{ablation:<40}" + "".join(f"{_cell(report['overall'].get(key)):>11}" for key, _ in COLUMNS))
    for name, published in PUBLISHED.items():
        print(f"{name:<40}" + "".join(f"{_cell(published.get(key)):>11}" for key, _ in COLUMNS))
    print("published rows: ViCLIP and the LAION predictor on Wan2.2 videos; compare only with rows measured by the same encoders")


if __name__ == "__main__":
    main()
