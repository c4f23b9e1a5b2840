"""The GPU check script, run as its CPU smoke (tiny shapes) so it cannot rot between lent GPUs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def load_script():
    """The script as a module (registered first: its dataclasses look their module up)."""
    if "gpu_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_check"] = module
        spec.loader.exec_module(module)
    return sys.modules["gpu_check"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    done = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke", "--frames", "9", "--out", str(out)], capture_output=True, text=True)  # 9 frames, not 17: the same rows for half the work
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("row",) and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells
    return rows


def test_every_row_is_measured_through_make_and_written_as_it_goes(smoke):
    out, stdout = smoke
    module = load_script()
    printed, written = table_rows(stdout), table_rows((out / "gpu_check.md").read_text())
    assert list(printed) == [row.name for row in module.ROWS] == list(written)
    for name, cells in written.items():
        assert "ERROR" not in cells[-1], (name, cells)
        assert len(cells) == len(module.COLUMNS)
        float(cells[1].lstrip("~")), float(cells[2]), float(cells[3]), float(cells[5]), float(cells[7])  # figures, not blanks
        assert cells[8] == "no"  # no NaN in any decoded frame
    assert written["quality-80-M10"][1].startswith("~") and "extrapolated from 1 to 40 steps" in written["quality-80-M10"][-1]


def test_rows_run_what_they_name(smoke):
    """M = 0 rows run every shot without memory, M = 10 rows with ten entries (the references: MR2V);
    the LoRA rows load both formats, the fp8 row stores weights in fp8, the 24 GiB tier offloads."""
    out, _ = smoke
    stories = out / "work" / "stories"
    for row in load_script().ROWS:
        records = sorted((stories / row.name / "shots").glob("*.json"))
        assert len(records) == 3, row.name
        for record in records:
            data = json.loads(record.read_text())
            assert len(data["memory"]) == row.memory, (row.name, record.name)
            assert data["backend"] == "tiny" and data["frames"] == 9
        assert len(list((stories / row.name / "shots").glob("*.mp4"))) == 3
    notes = {row: (stories / f"{row}.notes.txt").read_text() for row in ("fast-80-M0", "fast-24-M0", "fast+lora-80-M10", "fast+lora-fp8-M10")}
    assert "lightx2v" in notes["fast-80-M0"] and "StoryMem" not in notes["fast-80-M0"]
    assert "StoryMem, rank 4" in notes["fast+lora-80-M10"] and "lightx2v" in notes["fast+lora-80-M10"]
    assert "fp8" in notes["fast+lora-fp8-M10"] and "fp8" not in notes["fast+lora-80-M10"]
    assert "fp8" in notes["fast-24-M0"] and "VAE tiling" in notes["fast-24-M0"]


def test_a_failing_row_is_a_row_and_the_table_goes_on(tmp_path):
    module = load_script()
    broken = [
        module.Row("steps-on-fast", {"speed": "fast", "vram": "80", "steps": 2}, memory=0),
        module.Row("bad-cache", {"speed": "quality", "cache": "mag"}, memory=0),
    ]
    lines: list[str] = []
    module.run_rows(broken, module.TINY, tmp_path / "work", 17, torch.device("cpu"), lines.append)
    assert [line.split("|")[1].strip() for line in lines] == ["steps-on-fast", "bad-cache"]
    assert "ERROR" in lines[0] and "distillation's own 4 steps" in lines[0]
    assert "ERROR" in lines[1] and "--mag-ratios" in lines[1]


def test_nan_in_a_decoded_frame_is_reported():
    module = load_script()

    class Decoder:
        def decode(self, latents, return_dict=False):
            return (latents * float("nan"),)

    clock, vae = module.Clock(torch.device("cpu")), Decoder()
    clock.time_decode(vae)
    vae.decode(torch.ones(1, 3, 2, 2))
    assert clock.nan
    clean = module.Clock(torch.device("cpu"))
    healthy = Decoder()
    healthy.decode = lambda latents, return_dict=False: (latents,)
    clean.time_decode(healthy)
    healthy.decode(torch.ones(1, 3, 2, 2))
    assert not clean.nan
