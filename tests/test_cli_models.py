"""The CLI with model backends and reference images (MR2V)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from director.folder.video import count_frames
from director.frontends.cli import main
from director.folder.workspace import Workspace
from helpers import LOGLINE

LIGHT = ["--embedder", "colour-structure", "--quality-scorer", "heuristic", "--planner", "offline"]


def _image(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.fromarray(np.full((48, 64, 3), colour, dtype=np.uint8)).save(path)
    return path


def test_tiny_backend_runs_the_real_pipeline_with_mm2v_continuations(tmp_path, capsys):
    out = tmp_path / "tiny"
    # The tiny model draws noise, which fails any real quality gate: open it so keyframes are kept.
    args = ["make", LOGLINE, "--shots", "5", "--backend", "tiny", "--steps", "2", "--continuation", "mm2v", "--quality-threshold=-1e9"]
    assert main([*args, "--out", str(out), *LIGHT]) == 0
    workspace = Workspace(out)
    records = [workspace.load_shot_record(s.id) for s in workspace.load_script().shots]
    # 5 shots in scenes of 3 and 2; the third continues with motion: 17 frames minus 5 copied.
    assert [r["mode"] for r in records] == ["t2v", "m2v", "mm2v", "m2v", "m2v"]
    assert [r["frames"] for r in records] == [17, 17, 12, 17, 17]
    assert count_frames(out / "story.mp4") == 80
    generated = [e for e in workspace.events() if e["event"] == "generate"]
    assert all(e["generator"]["backend"] == "tiny" for e in generated)
    assert [e["generator"]["M"] for e in generated][0] == 0 and generated[1]["generator"]["M"] >= 1
    err = capsys.readouterr().err
    assert "backend: tiny (as asked)" in err
    assert "Loading pipeline components" not in err and "Loading weights" not in err  # no loading bars for a model that loads in a second


def test_script_reference_images_become_the_initial_memory(tmp_path):
    face = _image(tmp_path / "keeper.png", (200, 40, 40))
    script = {
        "title": "Refs",
        "characters": [{"name": "keeper", "description": "an old keeper in a navy coat", "reference_images": ["keeper.png"]}],
        "scenes": [{"number": 1, "setting": "a lighthouse"}],
        "shots": [
            {"id": "a", "scene": 1, "prompt": "The keeper climbs the stairs.", "characters": ["keeper"]},
            {"id": "b", "scene": 1, "prompt": "The keeper lights the lamp.", "characters": ["keeper"]},
        ],
    }
    (tmp_path / "refs.json").write_text(json.dumps(script))
    out = tmp_path / "out"
    assert main(["make", "--script", str(tmp_path / "refs.json"), "--out", str(out), "--backend", "preview", "--size", "64x48", "--frames", "9", *LIGHT]) == 0
    bank = json.loads((out / "memory" / "bank.json").read_text())
    reference = bank["entries"][bank["snapshots"]["a"][0]]
    assert reference["kind"] == "reference" and reference["characters"] == ["keeper"]
    stored = np.asarray(Image.open(out / "memory" / reference["image"]))
    assert np.array_equal(stored, np.asarray(Image.open(face).convert("RGB")))
    assert Workspace(out).load_shot_record("a")["mode"] == "m2v"  # MR2V: shot 1 by M2V from the references


def test_reference_option_for_a_logline_run(tmp_path):
    _image(tmp_path / "look.png", (10, 120, 200))
    out = tmp_path / "out"
    assert main(["make", LOGLINE, "--shots", "2", "--reference", str(tmp_path / "look.png"), "--out", str(out), "--backend", "preview", "--size", "64x48", "--frames", "9", *LIGHT]) == 0
    bank = json.loads((out / "memory" / "bank.json").read_text())
    assert [bank["entries"][i]["kind"] for i in bank["snapshots"]["01_01"]] == ["reference"]


def test_missing_reference_images_are_one_line_errors(tmp_path, capsys):
    script = {"title": "T", "characters": [{"name": "k", "description": "d", "reference_images": ["gone.png"]}], "scenes": [{"number": 1, "setting": "s"}], "shots": [{"id": "a", "scene": 1, "prompt": "p"}]}
    (tmp_path / "s.json").write_text(json.dumps(script))
    assert main(["make", "--script", str(tmp_path / "s.json")]) == 2
    assert capsys.readouterr().err.strip() == "storymem: error: characters.0.reference_images.0: image not found: gone.png"
    assert main(["make", LOGLINE, "--reference", str(tmp_path / "none.png")]) == 2
    assert "--reference image not found" in capsys.readouterr().err


def test_missing_wan_model_is_one_line_and_leaves_the_folder_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "story"
    assert main(["make", LOGLINE, "--backend", "wan", "--model", str(tmp_path / "no-such-model"), "--out", str(out), *LIGHT]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("storymem: error")]
    assert len(err) == 1 and "no-such-model" in err[0]
    assert not out.exists()


def test_lora_option_errors_are_one_line(tmp_path, capsys):
    lora = tmp_path / "m2v.safetensors"
    lora.write_bytes(b"")
    for spec, message in ((f"{lora}:heavy", "--lora takes PATH, PATH:WEIGHT or PATH:HIGH,LOW"), (str(tmp_path / "none.safetensors"), "--lora file not found")):
        assert main(["make", LOGLINE, "--backend", "wan", "--lora", spec, "--out", str(tmp_path / "o"), *LIGHT]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("storymem: error")]
        assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "o").exists()
