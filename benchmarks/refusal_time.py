"""Seconds from `storymem make` to its one-line refusal of bad input (the tests check that no model
loads first; this prints how long a user waits): a reference that is not an image, an LLM endpoint
with nothing listening, a script that does not parse. Each runs in-process, as `main()` does.

    .venv/bin/python benchmarks/refusal_time.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import socket
import statistics
import tempfile
import time
from pathlib import Path

from director.frontends import cli

LOGLINE = "A lighthouse keeper befriends a stray fox during a week-long winter storm."
FAST = ["--backend", "preview", "--size", "64x48", "--frames", "9", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cases(root: Path) -> dict[str, list[str]]:
    fake = root / "fake.png"
    fake.write_text("not a picture at all")
    broken = root / "broken.json"
    broken.write_text('{"title": "cut off')
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    return {
        "--reference that is not an image": ["make", LOGLINE, "--reference", str(fake), "--planner", "offline", *FAST],
        "--planner openai, nothing listening": ["make", LOGLINE, "--planner", "openai", "--llm-base-url", url, *FAST],
        "--script that does not parse": ["make", "--script", str(broken), "--planner", "offline", *FAST],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, argv in cases(root).items():
            seconds = []
            for attempt in range(args.repeat):
                out = root / f"out-{len(seconds)}-{attempt}"
                started = time.perf_counter()
                with contextlib.redirect_stderr(io.StringIO()) as err:
                    code = cli.main([*argv, "--out", str(out)])
                seconds.append(time.perf_counter() - started)
                assert code == 2 and not out.exists(), (name, code, err.getvalue())
            print(f"{name:40s} median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s ({args.repeat} runs)")


if __name__ == "__main__":
    main()
