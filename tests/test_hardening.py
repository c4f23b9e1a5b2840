"""Issue 9, a new user's trial: every row of its table, each failing on the old behaviour.

Up-front checks are one line, exit 2, nothing written; failures after the first write say what is
left (nothing, or where a rerun resumes); --force removes only storymem's files; the console says
what differs and shows long warnings once per folder; scores carry their scale and gate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from director import api
from director.frontends.cli import main
from director.settings import RunSettings
from helpers import LOGLINE, SETTINGS, RecordingGenerator, make_context

FAST = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("storymem: error")]
    assert len(lines) == 1, lines
    return lines[0]


def _image(path: Path, colour=(200, 40, 40)) -> Path:
    Image.fromarray(np.full((48, 64, 3), colour, dtype=np.uint8)).save(path)
    return path


def _script(tmp_path: Path, shots_characters: list[list[str]], reference: str | None = None) -> Path:
    character = {"name": "keeper", "description": "an old keeper in a navy coat"}
    if reference:
        character["reference_images"] = [reference]
    script = {
        "title": "Refs",
        "characters": [character],
        "scenes": [{"number": 1, "setting": "a lighthouse"}],
        "shots": [{"id": f"s{i}", "scene": 1, "prompt": f"The keeper, shot {i}.", "characters": names} for i, names in enumerate(shots_characters)],
    }
    path = tmp_path / "script.storymem.json"
    path.write_text(json.dumps(script))
    return path


# --- row: --out under /proc or /sys, or naming an existing file ------------------------------------


@pytest.mark.parametrize("where", ["/proc/storymem-test", "/sys/storymem-test", "FILE", "FILE/below"])
def test_an_out_folder_that_cannot_hold_a_story_is_one_line(tmp_path, capsys, where):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    out = where.replace("FILE", str(afile))
    assert main(["make", LOGLINE, "--shots", "2", "--out", out, *FAST]) == 2
    message = _error(capsys)
    expected = {"/proc": "is under /proc, a kernel interface", "/sys/": "is under /sys, a kernel interface"}.get(where[:5], "is a file, not a folder")
    assert expected in message, message
    assert afile.read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# --- row: --reference fake.png ---------------------------------------------------------------------


def _no_models(monkeypatch) -> None:
    """Refusing bad input must not wait for a model to load (benchmarks/refusal_time.py times it)."""

    def refused_too_late(*_args, **_kwargs):
        raise AssertionError("the models were loaded before the input was checked")

    monkeypatch.setattr(api, "load_components", refused_too_late)


def test_a_reference_that_is_not_an_image_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture at all")
    out = tmp_path / "story"
    _no_models(monkeypatch)
    assert main(["make", LOGLINE, "--shots", "2", "--reference", str(fake), "--out", str(out), *FAST]) == 2
    assert _error(capsys) == f"storymem: error: --reference image {fake} is not an image this tool can read (UnidentifiedImageError)"
    assert not out.exists()
    # the same in a script's reference_images, and a truncated PNG (right header, no pixels)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(_image(tmp_path / "whole.png").read_bytes()[:60])
    script = _script(tmp_path, [["keeper"], ["keeper"]], reference="cut.png")
    assert main(["make", "--script", str(script), "--out", str(out), *FAST]) == 2
    assert "characters.0.reference_images.0: image" in _error(capsys) and not out.exists()


def test_a_rerun_after_an_interruption_is_not_refused_for_a_reference_no_shot_used(tmp_path, capsys):
    """A folder left before any shot was generated (a kill, Ctrl-C): changing the reference images,
    or the render settings, is not "a different story" since nothing used them yet."""
    look = _image(tmp_path / "look.png")
    out = tmp_path / "story"

    class Interrupting(RecordingGenerator):
        def generate(self, request):
            raise KeyboardInterrupt

    settings = SETTINGS.model_copy(update={"shots": 2, "reference": [str(look)]})
    with pytest.raises(KeyboardInterrupt) as caught:
        api.make_story(out, logline=LOGLINE, settings=settings, components=make_context(out, Interrupting(64, 48, 9)))
    assert caught.value.__notes__[-1:] == [f"rerun the same command to resume at shot 1 of 2 (0 finished, kept in {out})"]
    assert (out / "run.json").is_file() and not list((out / "takes").glob("*/t*.json"))
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(out), *[a if a != "9" else "17" for a in FAST]]) == 0
    assert json.loads((out / "run.json").read_text())["source"].get("references") is None
    assert "resuming version 1: 0 of 2 shots already kept" in capsys.readouterr().err


# --- row: --planner openai with nothing listening; an LLM outage mid-plan --------------------------


def test_an_llm_endpoint_that_does_not_answer_is_one_line_before_any_write(tmp_path, capsys, monkeypatch):
    from llm_server import free_port

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "story"
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = ["make", LOGLINE, "--shots", "2", "--out", str(out), "--planner", "openai", "--llm-base-url", url]
    with monkeypatch.context() as patched:
        _no_models(patched)  # nor the planner's client, whose retries back off
        assert main([*args, *FAST[:2], *FAST[4:]]) == 2
    message = _error(capsys)
    assert message.startswith(f"storymem: error: the LLM endpoint {url} does not answer (ConnectError)") and "--planner offline" in message
    assert not out.exists()
    # auto is not an order: it plans offline and says why
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(out), "--planner", "auto", *FAST[:2], *FAST[4:]]) == 0
    assert f"planner: offline (auto: the LLM endpoint {url} does not answer: ConnectError)" in capsys.readouterr().err


def test_an_llm_outage_mid_plan_leaves_no_folder_and_says_so(tmp_path, capsys, monkeypatch):
    import httpx2
    from llm_server import ScriptedEndpoint, status
    from test_llm_planner import BIBLE

    from director.planning.llm_planner import LLMPlanner

    endpoint = ScriptedEndpoint(json.dumps(BIBLE), *[status(401, "key revoked")] * 4)
    monkeypatch.setattr("director.run.context.make_planner", lambda *a, **k: (LLMPlanner(endpoint.client()), "planner: scripted LLM"))
    parent = tmp_path / "runs"  # made by the run, so removed with it
    out = parent / "story"
    assert main(["make", LOGLINE, "--shots", "4", "--out", str(out), *FAST]) == 1
    err = capsys.readouterr().err
    assert "storymem: error: LLMAuthError:" in err
    assert f"storymem: nothing was generated, so nothing is kept: {out} was removed; fix the cause and run the same command again" in err
    assert "finished shots are kept" not in err
    assert not parent.exists() and len(endpoint.requests) >= 2
    assert httpx2  # the scripted endpoint runs on httpx2's MockTransport


def test_a_crash_after_some_shots_says_where_the_rerun_resumes(tmp_path, capsys, monkeypatch):
    out = tmp_path / "story"
    (out / "shots").mkdir(parents=True)
    (out / "shots" / "keep.txt").write_text("mine")  # a folder that existed keeps what it had
    real = api.load_components

    def failing(settings, workspace, planner=None):
        components = real(settings, workspace, planner)
        components.generator = RecordingGenerator(64, 48, 9, fail_at="02_01")
        return components

    monkeypatch.setattr(api, "load_components", failing)
    assert main(["make", LOGLINE, "--shots", "3", "--out", str(out), "--force", *FAST]) == 1
    err = capsys.readouterr().err
    assert "storymem: error: RuntimeError: simulated crash at shot 02_01" in err
    assert f"storymem: rerun the same command to resume at shot 3 of 3 (2 finished, kept in {out})" in err
    assert (out / "shots" / "keep.txt").read_text() == "mine"


def test_a_failure_before_any_shot_in_an_existing_folder_removes_only_what_it_made(tmp_path):
    out = tmp_path / "story"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="simulated crash at shot 01_01") as caught:
        api.make_story(out, logline=LOGLINE, settings=SETTINGS.model_copy(update={"shots": 2}), force=True,
                       components=make_context(out, RecordingGenerator(64, 48, 9, fail_at="01_01")))
    assert caught.value.__notes__[-1:] == [f"nothing was generated; the files this run made in {out} were removed; fix the cause and run the same command again"]
    assert _files(out) == {"notes.txt": b"mine"}


# --- row: a script whose shot names a character not in characters ----------------------------------


def test_a_shot_naming_an_unknown_character_is_refused(tmp_path, capsys):
    script = _script(tmp_path, [["keeper"], ["Keeper", "fox"]])
    out = tmp_path / "story"
    assert main(["make", "--script", str(script), "--out", str(out), *FAST]) == 2
    assert _error(capsys) == "storymem: error: shot s1 names the character 'Keeper', which is not in characters; did you mean 'keeper'?"
    script = _script(tmp_path, [["keeper"], ["fox"]])
    assert main(["make", "--script", str(script), "--out", str(out), *FAST]) == 2
    assert _error(capsys).endswith("shot s1 names the character 'fox', which is not in characters; characters are: 'keeper'")
    assert not out.exists()


# --- row: --force with the user's shots/keep.txt ---------------------------------------------------


def test_force_keeps_the_users_files_inside_storymems_folders(tmp_path, capsys):
    out = tmp_path / "story"
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(out), *FAST]) == 0
    mine = {"shots/keep.txt": "keep", "memory/notes.md": "notes", "versions/v001/director-cut.txt": "cut", "takes/01_01/idea.txt": "idea", "report/extra.html": "x",
            # in memory/, files with the extensions storymem writes there, but not named by its bank
            "memory/face.png": "my face", "memory/m9999.png": "not an entry", "memory/embeddings.npy": "mine", "memory/tags.json": "{}"}
    for name, text in mine.items():
        (out / name).write_text(text)
    assert main(["make", "A baker bakes a cake.", "--shots", "2", "--out", str(out), "--force", *FAST]) == 0
    for name, text in mine.items():
        assert (out / name).read_text() == text, name
    assert json.loads((out / "script.json").read_text())["logline"] == "A baker bakes a cake."
    assert not (out / "shots" / "01_02.mp4").exists() or json.loads((out / "shots" / "01_02.json").read_text())


def test_force_never_replaces_a_users_script_json(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "script.json").write_text('{"my": "own script"}')
    for extra in ([], ["--force"]):
        assert main(["make", LOGLINE, "--shots", "2", "--out", str(folder), *extra, *FAST]) == 2
        message = _error(capsys)
        assert f"{folder} is not a story folder: it holds a script.json but no run.json (storymem's record)" in message
        assert "not valid JSON" not in message
    assert main(["make", "--out", str(folder), *FAST]) == 2
    assert "is not a story folder" in _error(capsys)
    assert _files(folder) == {"script.json": b'{"my": "own script"}'}


# --- row: --backend wan on a machine with no GPU ---------------------------------------------------


def test_wan_without_cuda_says_so_before_any_hub_access(tmp_path, capsys, monkeypatch):
    import huggingface_hub
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was asked")

    for name in ("hf_hub_download", "snapshot_download", "try_to_load_from_cache"):
        monkeypatch.setattr(huggingface_hub, name, no_hub)
    out = tmp_path / "story"
    assert main(["make", LOGLINE, "--shots", "2", "--backend", "wan", "--out", str(out), *FAST[2:4], *FAST[8:]]) == 2
    message = _error(capsys)
    assert "--backend wan needs a CUDA GPU" in message and "--backend tiny" in message and "--backend preview" in message
    assert not out.exists()


# --- row: tiny takes the Wan options; preview refuses them -----------------------------------------


def test_tiny_applies_lora_and_preview_refuses_wan_options(tmp_path, capsys):
    from safetensors.torch import save_file
    from test_lora import original_lora

    lora = tmp_path / "tiny-lora.safetensors"
    save_file(original_lora(2, seed=3), lora)
    out = tmp_path / "tiny"
    args = ["make", LOGLINE, "--shots", "2", "--backend", "tiny", "--lora", f"{lora}:0.5", "--offload", "group", "--steps", "2", "--quality-threshold=-1e9"]
    assert main([*args, "--out", str(out), *FAST[2:4], *FAST[8:]]) == 0
    assert "placement (cpu): group offload, leaf level (CPU to CPU, no streams)" in capsys.readouterr().err
    generated = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if '"event": "generate"' in line]
    assert [e["generator"]["loras"] for e in generated] == [[str(lora)], [str(lora)]]
    assert json.loads((out / "run.json").read_text())["settings"]["lora"] == [f"{lora}:0.5"]

    assert main(["make", LOGLINE, "--out", str(tmp_path / "p"), "--lora", str(lora), "--dtype", "float16", *FAST]) == 2
    assert _error(capsys) == "storymem: error: the preview animatic takes no Wan options (--lora, --dtype); use --backend tiny or wan for them, or leave them out"
    assert main(["make", LOGLINE, "--out", str(tmp_path / "t"), "--backend", "tiny", "--model", "Wan-AI/other", *FAST[2:4], *FAST[8:]]) == 2
    assert "--backend tiny builds its own small random model, so --model cannot apply" in _error(capsys)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 16)
    assert main(["make", LOGLINE, "--out", str(tmp_path / "b"), "--backend", "tiny", "--lora", str(bad), *FAST[2:4], *FAST[8:]]) == 2
    assert "--lora could not be applied to the tiny model" in _error(capsys)
    assert not any((tmp_path / name).exists() for name in ("p", "t", "b"))


# --- row: same logline, different --shots (and seed, size) -----------------------------------------


def test_refusals_say_what_differs(tmp_path, capsys):
    out = tmp_path / "story"
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(out), *FAST]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main(["make", LOGLINE, "--shots", "3", "--out", str(out), *FAST]) == 2
    assert _error(capsys).endswith("use --force to replace it or --out to choose another folder (the shot count differs (2 there, 3 asked))")
    assert main(["make", LOGLINE, "--shots", "2", "--seed", "7", "--out", str(out), *FAST]) == 2
    assert "(the seed differs (0 there, 7 asked))" in _error(capsys)
    assert main(["make", "A baker bakes a cake.", "--shots", "2", "--out", str(out), *FAST]) == 2
    assert "(the logline differs)" in _error(capsys)
    assert main(["make", "--out", str(out), *[a if a != "64x48" else "96x64" for a in FAST]]) == 2
    assert "(the frame size differs)" in _error(capsys)
    assert _files(out) == before


# --- row: two long warnings on every run -----------------------------------------------------------


def test_missing_model_warnings_are_full_once_per_folder_then_one_short_line(tmp_path, caplog, monkeypatch):
    from memory import vision

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("STORYMEM_HPSV3", raising=False)
    out = tmp_path / "story"
    args = ["make", LOGLINE, "--shots", "2", "--out", str(out), "--embedder", "clip", "--quality-scorer", "hpsv3", *FAST[:8]]

    def warnings() -> list[str]:
        said = [r.getMessage() for r in caplog.records if r.name == "storymem.memory" and r.levelname == "WARNING"]
        caplog.clear()
        return said

    vision.clear_cache()
    assert main(args) == 0
    first = warnings()
    assert len(first) == 2 and all(len(line) > 150 for line in first), first
    vision.clear_cache()  # as a new process: it would warn again
    assert main(args) == 0
    assert warnings() == [
        "no CLIP weights: memory uses the colour-structure embedder (said in full on this folder's first run; see run.json)",
        "no HPSv3 weights: quality is scored by the packaged fallback (said in full on this folder's first run; see run.json)",
    ]
    assert sorted(json.loads((out / "run.json").read_text())["warnings"].values()) == sorted(first)
    vision.clear_cache()
    assert main([*args[:5], str(tmp_path / "other"), *args[6:]]) == 0  # another folder: in full again
    assert warnings() == first
    vision.clear_cache()


# --- row: scores with no scale ---------------------------------------------------------------------


def test_scores_state_their_scale_model_and_gate(tmp_path, capsys):
    out = tmp_path / "story"
    assert main(["make", LOGLINE, "--shots", "3", "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    summary = [line for line in printed.splitlines() if line.startswith("scores:") or line.startswith("           ")]
    assert re.match(
        r"scores:    quality: heuristic-sharpness-exposure: sharpness, exposure and colour heuristic, scale 0 to 10, higher is better; "
        r"not gated in this run \(the preview's cards and the toy's shapes are not natural images\) -> median \d+\.\d{3}, lowest \d+\.\d{3}$",
        summary[0],
    ), summary
    assert summary[-1].strip() == "overall (in shot records) is only a ranking of one shot's attempts: the mean of their scores, on mixed scales"
    report = (out / "report.html").read_text()
    assert re.search(r"<li>quality: <b>\d+\.\d{3}</b> on 0 to 10 <small>\(heuristic-sharpness-exposure: ", report)
    assert "overall (in shot records) is only a ranking" in report
    recorded = json.loads((out / "run.json").read_text())["scores"]
    assert recorded["quality"] == {"model": "heuristic-sharpness-exposure", "gate": None}
    assert recorded["consistency"]["margin"] is None  # colour-only embedder: measured, not gated


def test_a_gated_score_says_its_gate_and_whether_it_passed():
    from director.critic.scales import summary_lines

    records = [{"scores": {"quality": q, "quality_scorer": "brisque-quality", "consistency": c, "consistency_scorer": "open_clip:ViT-B-32/openai"}} for q, c in ((55.0, 0.8), (30.0, 0.5), (62.5, 0.78))]
    recorded = {"quality": {"model": "brisque-quality", "gate": 40.0}, "consistency": {"model": "open_clip:ViT-B-32/openai", "margin": 0.15}}
    assert summary_lines(records, recorded)[:2] == [
        "quality: brisque-quality: 100 minus BRISQUE (no-reference naturalness), scale 0 to 100, higher is better; good at 40 or more -> median 55.000, lowest 30.000; 2 of 3 shots good",
        "consistency with memory: open_clip:ViT-B-32/openai: cosine similarity of frame embeddings, scale -1 to 1, higher is better; "
        "good at 0.630 or more (story median - 0.15) -> median 0.780, lowest 0.500; 2 of 3 shots good",
    ]


def test_run_settings_keep_backend_defaults_for_dtype_and_offload():
    from director.run.context import generator_options

    assert RunSettings().dtype is None and RunSettings().offload is None
    wan = generator_options("wan", RunSettings())
    assert (wan["dtype"], wan["offload"].offload, wan["loras"]) == ("bfloat16", "model", [])
    tiny = generator_options("tiny", RunSettings(dtype="bfloat16"))
    assert (tiny["dtype"], tiny["offload"].offload) == ("bfloat16", "none")


# --- what the fuzzer (tests/test_cli_fuzz.py) found beyond the table -----------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seed", "99999999999999999999"], "--seed must be between 0 and 4294967295"),  # was: the whole film made, then TypeError, exit 1
        (["--seed=-1"], "--seed must be between 0 and 4294967295, got -1"),
        (["--size", "100000x100000"], "--size needs sides of at most 4096 pixels"),  # was: an attempt at terabytes of frames
        (["--frames", "100000000"], "--frames must be between 6 and 481"),
        (["--quality-threshold", "nan"], "--quality-threshold Input should be a finite number"),
        (["--out", "OUT/" + "n" * 300], "cannot be used (File name too long)"),  # was: OSError (File name too long), exit 1
        (["--planner", "openai", "--llm-base-url", "http://[::1"], "the LLM endpoint http://[::1 does not answer (not a usable URL (InvalidURL))"),
    ],
)
def test_fuzzer_findings_are_one_line(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    extra = [e.replace("OUT", str(tmp_path)) for e in extra]
    assert main(["make", LOGLINE, "--shots", "2", *[a for a in FAST if a not in ("--planner", "offline")], *extra]) == 2
    assert message in _error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_fuzzer_findings_in_scripts_and_redo(tmp_path, capsys):
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 5000 + "]" * 5000)
    assert main(["make", "--script", str(nested), *FAST]) == 2  # was: RecursionError, exit 1
    assert _error(capsys) == f"storymem: error: {nested} is nested too deeply to be a script"
    out = tmp_path / "story"
    assert main(["make", LOGLINE, "--shots", "2", "--out", str(out), *FAST]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main(["redo", str(out), "1", "--seed=-5"]) == 2  # was: pydantic ValidationError after loading models, exit 1
    assert "argument --seed: a seed is 0 to 4294967295, got -5" in _error(capsys)
    assert _files(out) == before
