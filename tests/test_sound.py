"""The film's sound, measured on real audio: speech where the script puts it, inside its shot;
the bed ducked under it; the mix at -16 LUFS under -1 dBTP; one video and one audio stream with
the silent film's video bytes; subtitles that are the spoken lines at their real times."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

from director.folder.video import count_frames
from director.sound.audio import ffmpeg
from director.sound import voices
from director.story import Story, Voice

ROOT = Path(__file__).resolve().parents[1]
FPS, RATE = 16, 48_000
FAST = ["--backend", "preview", "--planner", "offline", "--size", "96x64", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]
LONG_MARA = "Ivan, the boat leaves at dawn and I am not going without you, whatever the harbour master says to us tonight."
LONG_IVAN = ("Mara, listen to me, the nets are torn, the engine coughs like an old dog, the harbour master wants his money "
             "by Friday, and still you ask me to sail out into that grey water with you before the sun is even up.")
SCRIPT = {
    "title": "Harbour",
    "characters": [
        {"name": "Mara", "description": "a young woman in a red knitted hat and a yellow oilskin coat"},
        {"name": "Ivan", "description": "a broad old fisherman with a white beard and a blue wool sweater"},
    ],
    "scenes": [
        {"number": 1, "setting": "a snowy harbour at dawn", "time_of_day": "dawn", "music": {"mood": "calm", "intensity": 0.6}},
        {"number": 2, "setting": "a fishing boat's deck", "time_of_day": "morning", "music": {"mood": "nostalgic", "intensity": 0.5}},
    ],
    "shots": [
        {"id": "01_01", "scene": 1, "prompt": "Wide shot of a snowy harbour at dawn.", "lines": [{"text": "Snow falls on the harbour town."}]},
        {"id": "01_02", "scene": 1, "prompt": "Mara speaks to Ivan on the quay.", "characters": ["Mara", "Ivan"], "seed": 1,
         "lines": [{"speaker": "Mara", "text": LONG_MARA}]},
        {"id": "01_03", "scene": 1, "prompt": "Mara keeps talking, the same moment.", "transition": "continue", "seed": 2},
        {"id": "02_01", "scene": 2, "prompt": "Ivan on the deck, close-up.", "characters": ["Ivan"], "seed": 3,
         "lines": [{"speaker": "Ivan", "text": LONG_IVAN}]},
        {"id": "02_02", "scene": 2, "prompt": "The boat leaves the harbour.", "seed": 4, "lines": [{"text": "They sail together at first light."}]},
    ],
}


@pytest.fixture(scope="module", autouse=True)
def default_voice():
    """The engine `auto` picks on a machine that sets nothing: piper (the suite's other files speak with espeak-ng)."""
    chosen = os.environ.pop(voices.VOICE_ENV, None)
    yield
    if chosen is not None:
        os.environ[voices.VOICE_ENV] = chosen


def _storymem(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "director.frontends.cli", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The script made twice from the same seed: with sound, and silent."""
    base = tmp_path_factory.mktemp("sound")
    script = base / "harbour.json"
    script.write_text(json.dumps(SCRIPT))
    sound = _storymem("make", "--script", str(script), "--out", str(base / "sound"), *FAST)
    assert sound.returncode == 0, sound.stderr
    silent = _storymem("make", "--script", str(script), "--out", str(base / "silent"), "--no-sound", *FAST)
    assert silent.returncode == 0, silent.stderr
    return base / "sound", base / "silent", sound.stderr


def _wav(path: Path) -> np.ndarray:
    rate, samples = wavfile.read(path)
    assert rate == RATE
    return samples.astype(np.float64) / 32768.0


def _film_audio(film: Path) -> np.ndarray:
    out = subprocess.run([ffmpeg(), "-v", "error", "-i", str(film), "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"], capture_output=True, check=True)
    return np.frombuffer(out.stdout, dtype="<f4").astype(np.float64)


def _video_stream(film: Path) -> bytes:
    return subprocess.run([ffmpeg(), "-v", "error", "-i", str(film), "-map", "0:v:0", "-c", "copy", "-f", "h264", "-"], capture_output=True, check=True).stdout


def _spans(folder: Path) -> dict[str, tuple[float, float]]:
    """Each shot's interval in the film, from the frames each shot gives the film."""
    story = Story.model_validate_json((folder / "script.json").read_text())
    counts = [json.loads((folder / "shots" / f"{s.id}.json").read_text())["frames"] for s in story.shots]
    edges = np.concatenate([[0], np.cumsum(counts)]) / FPS
    assert edges[-1] * FPS == count_frames(folder / "story.mp4")
    return {s.id: (edges[i], edges[i + 1]) for i, s in enumerate(story.shots)}


def _lines(folder: Path) -> list[dict]:
    return json.loads((folder / "versions" / "v001" / "audio" / "lines.json").read_text())["lines"]


def _rms_db(samples: np.ndarray) -> float:
    return 20 * np.log10(max(float(np.sqrt(np.mean(samples**2))), 1e-9))


def _true_peak_db(samples: np.ndarray) -> float:
    return 20 * np.log10(float(np.max(np.abs(resample_poly(samples, 4, 1)))))


def test_speech_is_heard_inside_its_shot_where_the_script_puts_it(made):
    folder, _, _ = made
    spans, lines = _spans(folder), _lines(folder)
    voice = _wav(folder / "versions" / "v001" / "audio" / "voice.wav")
    assert [(l["shot"], l["speaker"]) for l in lines] == [("01_01", "narrator"), ("01_02", "Mara"), ("02_01", "Ivan"), ("02_02", "narrator")]
    shots = list(spans)
    for line in lines:
        start, end = spans[line["shot"]]
        if line["status"] == "moved":  # runs on over the next shot, which continues this one
            end = spans[shots[shots.index(line["shot"]) + 1]][1]
        assert start <= line["start"] < line["end"] <= end, line
        inside = voice[int(line["start"] * RATE): int(line["end"] * RATE)]
        windows = inside[: len(inside) // 2400 * 2400].reshape(-1, 2400)  # 50 ms
        loud = np.mean([_rms_db(w) > -45 for w in windows])
        assert loud > 0.6, (line, loud)
    silence = np.ones(len(voice), bool)
    for line in lines:
        silence[int(line["start"] * RATE): int(line["end"] * RATE)] = False
    assert _rms_db(voice[silence]) < -60  # nothing heard outside the lines
    for shot in ("01_03",):  # a shot without a line has no speech of its own
        assert not [l for l in lines if l["shot"] == shot]


def test_a_line_too_long_continues_over_a_continuation_or_is_cut_at_a_word(made):
    folder, _, console = made
    mara, ivan = (l for l in _lines(folder) if l["speaker"] != "narrator")
    assert mara["status"] == "moved" and mara["text"] == LONG_MARA
    assert ivan["status"] == "cut" and LONG_IVAN.startswith(ivan["text"]) and LONG_IVAN[len(ivan["text"])] in " ,"
    assert "shot 02_01: Ivan's line was cut to fit its shot" in console
    assert "shot 01_02: Mara's line runs on over shot 01_03" in console


def test_mix_is_minus_16_lufs_under_minus_1_dbtp(made):
    folder, _, _ = made
    mix = _film_audio(folder / "story.mp4")
    loudness = pyloudnorm.Meter(RATE).integrated_loudness(mix)
    assert abs(loudness + 16.0) <= 1.0, loudness
    assert _true_peak_db(mix) < -1.0


def test_music_is_ducked_at_least_6_db_under_speech(made):
    folder, _, _ = made
    music = _wav(folder / "versions" / "v001" / "audio" / "music.wav")
    lines = _lines(folder)
    spoken = np.zeros(len(music), bool)
    for line in lines:
        spoken[int((line["start"] - 0.2) * RATE): int((line["end"] + 0.2) * RATE)] = True
    measured = 0
    for line in lines:
        a, b = int(line["start"] * RATE), int(line["end"] * RATE)
        beside = np.r_[max(0, a - 2 * RATE): a, b: min(len(music), b + 2 * RATE)]
        beside = beside[~spoken[beside]]
        if len(beside) < RATE // 2:
            continue
        assert _rms_db(music[beside]) - _rms_db(music[a:b]) >= 6.0, line
        measured += 1
    assert measured >= 2
    assert _rms_db(music) > -45  # there is music at all


def test_film_has_one_video_and_one_audio_stream_of_equal_length_and_the_silent_video(made):
    folder, silent, _ = made
    probe = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(folder / "story.mp4")], capture_output=True, text=True).stderr
    streams = re.findall(r"Stream #0:\d+.*?: (Video|Audio):", probe)
    assert streams == ["Video", "Audio"], probe
    frames = count_frames(folder / "story.mp4")
    assert abs(len(_film_audio(folder / "story.mp4")) / RATE - frames / FPS) <= 1 / FPS
    assert _video_stream(folder / "story.mp4") == _video_stream(silent / "story.mp4")
    assert "Audio" not in subprocess.run([ffmpeg(), "-hide_banner", "-i", str(silent / "story.mp4")], capture_output=True, text=True).stderr


def test_subtitles_are_the_spoken_lines_at_their_times(made):
    folder, _, _ = made

    def stamp(seconds: float) -> str:
        millis = int(round(seconds * 1000))
        return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"

    cues = re.findall(r"\d+\n(\S+) --> (\S+)\n(.+)\n", (folder / "story.srt").read_text())
    assert cues == [(stamp(l["start"]), stamp(l["end"]), l["text"]) for l in _lines(folder)]


def test_voices_are_recorded_in_the_script(made):
    folder, _, _ = made
    story = Story.model_validate_json((folder / "script.json").read_text())
    assert [v.speaker for v in story.voices] == ["narrator", "Mara", "Ivan"]
    assert len({(v.speed, v.pitch) for v in story.voices}) == 3


def test_the_machine_can_choose_what_auto_speaks_with(monkeypatch):
    monkeypatch.setenv(voices.VOICE_ENV, " Espeak ")
    assert voices.load_engine("auto")[1] == "voice: espeak-ng" and voices.load_engine("piper")[0].name == "piper"
    monkeypatch.setenv(voices.VOICE_ENV, " ")  # blank is unset
    assert voices.load_engine("auto")[0].name == "piper"
    monkeypatch.setenv(voices.VOICE_ENV, "festival")
    with pytest.raises(voices.SoundError, match=r"^\$STORYMEM_VOICE must name a speech engine: piper, espeak, openai \(got 'festival'\)$"):
        voices.load_engine("auto")


def test_espeak_speaks_when_piper_is_absent(monkeypatch, caplog):
    monkeypatch.setattr(voices, "piper_voice", lambda: None)
    with caplog.at_level(logging.WARNING):
        engine, note = voices.load_engine("auto")
    assert engine.name == "espeak" and note == "voice: espeak-ng"
    assert [r.getMessage() for r in caplog.records] == ["piper is not installed (pip install 'storymem[voice]'); speaking with espeak-ng instead"]
    low, high = engine.speak(["The boat leaves at dawn."] * 2, Voice(speaker="a", pitch=0.6)), engine.speak(["The boat leaves at dawn."], Voice(speaker="b", pitch=1.4))
    assert 0.8 < len(low[0]) / RATE < 3.0 and _rms_db(low[0].astype(np.float64)) > -35
    assert not np.array_equal(low[0], high[0])
    with pytest.raises(voices.SoundError, match="--voice piper needs piper"):
        voices.load_engine("piper")


def test_a_music_folder_with_a_non_audio_file_stops_before_any_generation(tmp_path):
    import immich_memories_music

    music = tmp_path / "music"
    (music / "calm").mkdir(parents=True)
    track = next((immich_memories_music.tracks_dir() / "calm").glob("*.opus"))
    (music / "calm" / track.name).write_bytes(track.read_bytes())
    (music / "calm" / "notes.txt").write_text("not a song")
    done = _storymem("make", "A fox crosses a frozen lake.", "--out", str(tmp_path / "story"), "--music-dir", str(music), *FAST)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"storymem: error: --music-dir {music}: calm/notes.txt is not an audio file (Opus, Ogg, MP3, WAV, FLAC or M4A)"]
    assert not (tmp_path / "story").exists()


def test_a_2000_character_line_is_refused_in_one_line(tmp_path):
    script = json.loads(json.dumps(SCRIPT))
    script["shots"][0]["lines"][0]["text"] = ("The snow keeps falling. " * 90)[:2000]
    (tmp_path / "long.json").write_text(json.dumps(script))
    done = _storymem("make", "--script", str(tmp_path / "long.json"), "--out", str(tmp_path / "story"), *FAST)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["storymem: error: shots.0.lines.0.text: String should have at most 400 characters"]
    assert not (tmp_path / "story").exists()


def _audio_files(folder: Path, version: str) -> dict[str, bytes]:
    audio = folder / "versions" / version / "audio"
    return {str(p.relative_to(audio)): p.read_bytes() for p in sorted(audio.rglob("*.wav"))}


def test_sound_only_revisions_change_only_the_sound_and_undo_restores_it(made, tmp_path):
    import shutil

    folder = tmp_path / "harbour"
    shutil.copytree(made[0], folder, symlinks=True)
    film, subtitles, audio = (folder / "story.mp4").read_bytes(), (folder / "story.srt").read_bytes(), _audio_files(folder, "v001")
    takes = {p: p.read_bytes() for p in (folder / "takes").rglob("*.mp4")}
    scene_2 = _spans(folder)["02_01"][0]

    plan = _storymem("revise", str(folder), "no music in scene 2", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["generations"] == 0
    for instruction in ("no music in scene 2", "give Ivan a deeper voice", "shot 5: Mara says 'wait for me'"):
        done = _storymem("revise", str(folder), instruction)
        assert done.returncode == 0, done.stderr
    v2, v3, v4 = (_audio_files(folder, v) for v in ("v002", "v003", "v004"))
    for version in ("v002", "v003", "v004"):
        assert _video_stream(folder / "versions" / version / "story.mp4") == _video_stream(made[0] / "story.mp4")
    assert {p: p.read_bytes() for p in (folder / "takes").rglob("*.mp4")} == takes  # no shot generated

    # no music in scene 2: scene 1's bed and every voice as they were, scene 2 silent
    music_1, music_2 = _wav(folder / "versions/v001/audio/music.wav"), _wav(folder / "versions/v002/audio/music.wav")
    edge = int((scene_2 - 1.0) * RATE)
    assert np.array_equal(music_1[:edge], music_2[:edge]) and _rms_db(music_2[int((scene_2 + 1.0) * RATE):]) < -90
    assert v2["voice.wav"] == audio["voice.wav"] and (folder / "versions/v002/story.srt").read_bytes() == subtitles
    # Ivan's voice deeper: his line changes, every other line is the same audio
    changed = {name for name in v3 if name.startswith("lines/") and v3[name] != v2.get(name)}
    assert changed == {"lines/02_01_01.wav"} and v3["music.wav"] == v2["music.wav"]
    pitch = {v: next(x.pitch for x in Story.model_validate(json.loads((folder / f"versions/{v}.json").read_text())["script"]).voices if x.speaker == "Ivan") for v in ("v002", "v003")}
    assert pitch["v003"] == round(pitch["v002"] * 0.85, 3)
    # a new line in shot 5, heard inside it, and its cue
    lines = json.loads((folder / "versions/v004/audio/lines.json").read_text())["lines"]
    wait = next(l for l in lines if l["shot"] == "02_02" and l["speaker"] == "Mara")
    start, end = _spans(folder)["02_02"]
    assert wait["text"] == "wait for me" and start <= wait["start"] < wait["end"] <= end
    assert "wait for me" in (folder / "story.srt").read_text()
    assert {n: b for n, b in v4.items() if n != "lines/02_02_02.wav" and n.startswith("lines/")} == {n: b for n, b in v3.items() if n.startswith("lines/")}

    for _ in range(3):
        assert _storymem("undo", str(folder)).returncode == 0
    assert (folder / "story.mp4").read_bytes() == film and (folder / "story.srt").read_bytes() == subtitles
    assert _audio_files(folder, "v001") == audio


def test_report_and_eval_show_the_soundtrack(made, tmp_path):
    import html

    folder, _, _ = made
    page = (folder / "report.html").read_text()
    assert '<h2 id="sound">Sound</h2>' in page
    for line in _lines(folder):
        assert f"<td>{html.escape(line['speaker'])}</td><td>{html.escape(line['text'])}</td><td>{line['start']:.2f}</td><td>{line['seconds']:.2f}</td>" in page
    done = _storymem("eval", str(folder), "--json", str(tmp_path / "eval.json"))
    assert done.returncode == 0, done.stderr
    story = json.loads((tmp_path / "eval.json").read_text())["stories"][0]
    metrics = story["metrics"]
    assert metrics["lines_cut"] == 1 and metrics["lines_moved"] == 1
    assert abs(metrics["loudness_lufs"] + 16) <= 1 and metrics["true_peak_dbtp"] < -1 and metrics["ducking_db"] >= 6
    assert story["speech_seconds"] == {s: round(sum(l["seconds"] for l in _lines(folder) if l["shot"] == s), 3) for s in ("01_01", "01_02", "01_03", "02_01", "02_02")}
    assert story["speech_seconds"]["01_03"] == 0 and "speech seconds per shot, Harbour: " in done.stdout


@pytest.mark.parametrize("answer, status", [("The nets are torn, Mara.", "shortened"), (LONG_IVAN.removesuffix(" before the sun is even up."), "cut")])
def test_the_llm_shortens_a_line_once_before_it_is_cut(tmp_path, answer, status):
    import shutil

    from director.sound.lines import Voicebox, llm_shortener, place_lines
    from llm_server import ScriptedEndpoint

    script = json.loads(json.dumps(SCRIPT))
    for shot in script["shots"]:
        shot["lines"] = [l for l in shot.get("lines", []) if l.get("speaker") == "Ivan"]
    story = Story.model_validate(script)
    spans = [(5.0 * i, 5.0 * (i + 1)) for i in range(len(story.shots))]
    endpoint = ScriptedEndpoint({"text": answer})
    box = Voicebox(voices.EspeakEngine(shutil.which("espeak-ng")), voices.cast_voices(story), tmp_path)
    (ivan,) = place_lines(story, spans, box, "all", llm_shortener(endpoint.client()))
    assert len(endpoint.requests) == 1 and LONG_IVAN in endpoint.requests[0]["messages"][-1]["content"]
    assert ivan.status == status and 15.0 <= ivan.start < ivan.end <= 20.0
    assert ivan.text == answer if status == "shortened" else (answer.startswith(ivan.text) and ivan.text != answer)


def test_the_sound_instructions_read_offline_change_no_shot():
    from director.revision.edits import RevisionError, apply_edits
    from director.revision.parse import parse_offline

    story = Story.model_validate(SCRIPT)
    story = story.model_copy(update={"voices": voices.cast_voices(story)})
    expected = {
        "the narrator says: The tide turns.": "shot 1: narrator says 'The tide turns.'",
        "shot 3: Mara says 'wait for me'": "shot 3: Mara says 'wait for me'",
        "no music in scene 2": "scene 2: music none",
        "sadder music in the last scene": "scene 2: music nostalgic at 0.5",  # already the saddest
        "happier music in scene 1": "scene 1: music happy at 0.6",
        "give Ivan a deeper voice": "Ivan's voice: deeper (pitch 0.714)",
    }
    for instruction, change in expected.items():
        applied = apply_edits(story, parse_offline(instruction, story))
        assert applied.sound == [change] and not applied.changed and not applied.removed, instruction
        assert [s.model_dump(exclude={"lines"}) for s in applied.story.shots] == [s.model_dump(exclude={"lines"}) for s in story.shots]
    applied = apply_edits(story, parse_offline("shot 3: Mara says 'wait for me'", story))
    assert applied.story.shots[2].lines[0].model_dump() == {"speaker": "Mara", "text": "wait for me"}
    applied = apply_edits(story, parse_offline("give Ivan a deeper voice", story))
    assert [(v.speaker, v.pitch) for v in applied.story.voices] == [("narrator", 1.0), ("Mara", 1.18), ("Ivan", 0.714)]
    applied = apply_edits(story, parse_offline("no music in scene 2", story))
    assert [s.music.mood for s in applied.story.scenes] == ["calm", "none"]
    with pytest.raises(RevisionError, match="^text: String should have at most 400 characters$"):
        apply_edits(story, parse_offline("the narrator says: " + "The snow keeps falling. " * 90, story))
    with pytest.raises(RevisionError, match="no character named 'Bob' to speak"):
        apply_edits(story, parse_offline("shot 2: Bob says hi", story))


def test_piper_loads_once_per_process_and_says_a_line_the_same_way_twice():
    first, note = voices.load_engine("auto")
    assert note == "voice: piper, en_US-joe-medium (a separate process)"
    narrator = Voice(speaker="narrator")
    (once,) = first.speak(["The tide turns at dawn."], narrator)
    processes = dict(first._processes)
    again, _ = voices.load_engine("auto")  # another story in the same worker
    (twice,) = again.speak(["The tide turns at dawn."], narrator)
    assert again is first and again._processes == processes  # the same piper process served both
    assert np.array_equal(once, twice) and 1.0 < len(once) / RATE < 3.0


def test_the_studio_shows_a_shots_lines(made):
    from director.frontends.studio import shot_details

    folder, _, _ = made
    _, text, _, _ = shot_details(folder, 1)
    assert f"**Mara** says: {LONG_MARA}" in text.splitlines()
