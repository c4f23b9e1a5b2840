"""`--voice openai` against a real loopback server answering `POST /v1/audio/speech` with real
speech (espeak-ng's): the engine asks for the line, model and voice it should; the audio it returns
is the audio the server sent; a server error is one line; and a preview film made with it has an
audio stream and every spoken line went to the server."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from scipy.io import wavfile

from director.sound import voices
from director.sound.audio import RATE, ffmpeg
from director.story import Voice
from llm_server import LoopbackEndpoint

ROOT = Path(__file__).resolve().parents[1]
ESPEAK = shutil.which("espeak-ng") or "espeak-ng"  # a system package, as the espeak engine's tests need


def _speech(text: str) -> bytes:
    """What a speech server answers for `text`: a WAV of espeak-ng saying it (written to a file: on
    stdout its header cannot know the length)."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([ESPEAK, "-w", f"{folder}/line.wav", text], capture_output=True, check=True)
        return Path(folder, "line.wav").read_bytes()


def _decoded(wav: bytes) -> tuple[int, np.ndarray]:
    rate, samples = wavfile.read(io.BytesIO(wav))
    return rate, samples.astype(np.float64) / 32768.0


def _speaker(body: dict[str, Any]) -> bytes | str:
    """The server: speech for /v1/audio/speech requests, nothing useful for anything else."""
    return _speech(body["input"]) if "input" in body else "{}"


def _rms_db(samples: np.ndarray) -> float:
    return 20 * np.log10(max(float(np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2))), 1e-9))


def test_the_engine_asks_for_the_line_model_and_voice_and_returns_the_servers_audio(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("STORYMEM_TTS_MODEL", "tts-test-model")
    lines = ["The boat leaves at dawn.", "Snow falls   on the\nharbour town."]
    with LoopbackEndpoint(_speaker) as server:
        engine, note = voices.load_engine("openai", server.base_url)
        assert (engine.name, note) == ("openai", f"voice: tts-test-model at {server.base_url}")
        plain = engine.speak(lines, Voice(speaker="narrator", variant=1, speed=1.06, pitch=1.0))
        high = engine.speak(lines[:1], Voice(speaker="Mara", variant=2, speed=1.0, pitch=1.25))
    assert server.paths == ["/v1/audio/speech"] * 3
    assert [(r["input"], r["model"], r["voice"], r["response_format"]) for r in server.requests] == [
        ("The boat leaves at dawn.", "tts-test-model", "nova", "wav"),
        ("Snow falls on the harbour town.", "tts-test-model", "nova", "wav"),  # one line, single spaces
        ("The boat leaves at dawn.", "tts-test-model", "onyx", "wav"),
    ]
    assert [r["speed"] for r in server.requests] == pytest.approx([1.06, 1.06, 1.25])
    for text, audio in zip(lines, plain):
        rate, sent = _decoded(_speech(text))
        assert audio.dtype == np.float32 and abs(len(audio) / RATE - len(sent) / rate) < 0.003, text
        assert _rms_db(audio) > -35 and abs(_rms_db(audio) - _rms_db(sent)) < 0.5, text
        resampled = np.interp(np.arange(len(audio)) / RATE, np.arange(len(sent)) / rate, sent)
        assert np.corrcoef(audio, resampled)[0, 1] > 0.95, text  # the same waveform, not just as long
    rate, sent = _decoded(_speech(lines[0]))
    assert abs(len(high[0]) / RATE - len(sent) / rate / 1.25) < 0.003  # raised a pitch: shorter by it, as the engine asked for faster speech


def test_a_server_error_is_one_line_not_a_traceback(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with LoopbackEndpoint(lambda body: 400) as server:
        engine, _ = voices.load_engine("openai", server.base_url)
        with pytest.raises(openai.APIStatusError) as raised:
            engine.speak(["The boat leaves at dawn."], Voice(speaker="narrator"))
    message = str(raised.value)
    assert raised.value.status_code == 400 and "not supported by this stub" in message and "\n" not in message
    assert server.paths == ["/v1/audio/speech"]


SCRIPT = {
    "title": "Harbour",
    "characters": [{"name": "Mara", "description": "a young woman in a red knitted hat"}],
    "scenes": [{"number": 1, "setting": "a snowy harbour at dawn", "time_of_day": "dawn"}],
    "shots": [
        {"id": "01_01", "scene": 1, "prompt": "Wide shot of a snowy harbour at dawn.", "lines": [{"text": "Snow falls on the harbour town."}]},
        {"id": "01_02", "scene": 1, "prompt": "Mara on the quay.", "characters": ["Mara"], "seed": 1,
         "lines": [{"speaker": "Mara", "text": "The boat leaves at dawn."}]},
    ],
}


def _storymem(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "director.frontends.cli", *argv], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_preview_film_spoken_by_the_server_has_its_audio_and_every_line_was_asked_for(tmp_path):
    script = tmp_path / "harbour.json"
    script.write_text(json.dumps(SCRIPT))
    with LoopbackEndpoint(_speaker) as server:
        made = _storymem("make", "--script", str(script), "--out", str(tmp_path / "film"), "--backend", "preview", "--planner", "offline",
                         "--size", "64x48", "--frames", "16", "--embedder", "colour-structure", "--quality-scorer", "heuristic",
                         "--voice", "openai", "--llm-base-url", server.base_url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    speech = [r for p, r in zip(server.paths, server.requests) if p == "/v1/audio/speech"]
    asked = [r["input"] for r in speech]
    assert asked[:2] == ["Snow falls on the harbour town.", "The boat leaves at dawn."]  # each script line, in order
    heard = json.loads((tmp_path / "film" / "versions" / "v001" / "audio" / "lines.json").read_text())["lines"]
    assert len(heard) == 2 and all(line["text"] in asked for line in heard)  # in 1 s shots a line is cut at a word and said again
    film = tmp_path / "film" / "story.mp4"
    probe = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(film)], capture_output=True, text=True).stderr
    assert re.findall(r"Stream #0:\d+.*?: (Video|Audio):", probe) == ["Video", "Audio"], probe
    audio = subprocess.run([ffmpeg(), "-v", "error", "-i", str(film), "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
                           capture_output=True, check=True).stdout
    assert _rms_db(np.frombuffer(audio, dtype="<f4")) > -45


def test_a_server_error_while_making_a_film_is_one_error_line_and_no_traceback(tmp_path):
    script = tmp_path / "harbour.json"
    script.write_text(json.dumps(SCRIPT))
    with LoopbackEndpoint(lambda body: 500 if "input" in body else "{}") as server:
        made = _storymem("make", "--script", str(script), "--out", str(tmp_path / "film"), "--backend", "preview", "--planner", "offline",
                         "--size", "64x48", "--frames", "16", "--embedder", "colour-structure", "--quality-scorer", "heuristic",
                         "--voice", "openai", "--llm-base-url", server.base_url, cwd=tmp_path)
    assert "/v1/audio/speech" in server.paths
    errors = [line for line in made.stderr.splitlines() if line.startswith("storymem: error:")]
    assert made.returncode == 1 and "Traceback" not in made.stderr, made.stderr
    assert len(errors) == 1 and "InternalServerError" in errors[0] and "not supported by this stub" in errors[0], made.stderr
