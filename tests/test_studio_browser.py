"""The studio in headless Chromium (Debian's, driven by Playwright) against `storymem studio` on
loopback: make a story from the form, see the film and the storyboard, open a shot, revise it by
chat (plan, confirm, a new version where only shot 2 changed), undo, and reload the page while a
story is being made to see its progress again. Screenshots go to the test's folder and, when
STORYMEM_ARTIFACTS is set, there too."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from director import api
from director.settings import RunSettings
from gate import storymem_held_at, wait_for, wait_for_file
from helpers import chromium
from studio_support import running_studio, studio_env

TOKEN = "studio-test-token"
LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."
TINY = {"shots": "4", "size": "192x112", "frames": "17"}
CHOICES = {"backend": "preview", "planner": "offline"}
MEMORY = {"embedder": "colour-structure", "quality_scorer": "heuristic"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio")
    root = folder / "runs"
    root.mkdir()
    hold = tmp_path_factory.mktemp("studio-hold")  # where a test holds the studio's generation (gate.hold_when_armed)
    with running_studio(root, TOKEN, tmp_path_factory.mktemp("studio-log") / "studio.log", hold=hold) as url:
        yield url, root, hold


@pytest.fixture
def browser_page(studio, tmp_path):
    from playwright.sync_api import sync_playwright

    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(0)  # every wait is on what the page shows; a page that never shows it fails on the test's timeout
            hosts: set[str] = set()
            page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or request.url.split(":")[0]))

            def screenshot(name: str) -> None:
                path = tmp_path / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                shots.append(path)

            yield page, screenshot
            assert hosts <= {"127.0.0.1", "data", "blob"}, hosts  # the page asks nothing of the network (no fonts, no analytics)
        finally:
            browser.close()
            artifacts = os.environ.get("STORYMEM_ARTIFACTS")
            if artifacts:
                Path(artifacts).mkdir(parents=True, exist_ok=True)
                for path in shots:
                    shutil.copy(path, Path(artifacts) / f"studio-{path.name}")


def _fill_form(page, name: str, logline: str, tiny: dict[str, str]) -> None:
    page.get_by_text("New story", exact=True).click()
    page.locator("#new-name :is(input, textarea)").fill(name)
    page.locator("#new-logline textarea").fill(logline)
    for field, value in tiny.items():
        page.locator(f"#setting-{field} :is(input, textarea)").first.fill(value)
    for field, value in CHOICES.items():
        page.locator(f"#setting-{field}").get_by_role("radio", name=value, exact=True).check()
    page.get_by_text("Memory models and reference images", exact=True).click()
    for field, value in MEMORY.items():
        page.locator(f"#setting-{field} :is(input, textarea)").first.fill(value)


def _versions(page) -> list[list[str]]:
    return page.evaluate("Array.from(document.querySelectorAll('#versions tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()))")


def _current(page) -> str:
    return next(row[0] for row in _versions(page) if "current" in row)


def _shot_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "shots").glob("*.mp4"))}


def test_make_revise_undo_in_the_browser(studio, browser_page):
    url, root, _ = studio
    page, screenshot = browser_page
    page.goto(f"{url}/?token={TOKEN}")  # the cookie this visit leaves carries the token for the page's own requests
    _fill_form(page, "keeper", LOGLINE, TINY)
    page.locator("#make").click()

    # the film and the storyboard of version 1
    page.wait_for_function("document.querySelectorAll('#storyboard img').length === 4 && document.querySelector('#versions').innerText.includes('current')")
    story = root / "keeper"
    script = json.loads((story / "script.json").read_text())
    assert [s["id"] for s in script["shots"]] == ["01_01", "01_02", "02_01", "02_02"]
    run = json.loads((story / "run.json").read_text())
    assert run["render"] == {"backend": "preview", "size": "192x112", "frames": 17, "fps": 16}
    assert run["settings"] == {**RunSettings(**CHOICES, **MEMORY, shots=4, size="192x112", frames=17).model_dump(mode="json", exclude={"reference", "checkpoint_db"})}
    page.wait_for_function("(() => { const v = document.querySelector('#film video'); return v && v.readyState >= 1; })()")
    film = page.evaluate("(() => { const v = document.querySelector('#film video'); return [v.src, v.duration]; })()")
    assert film[0].endswith("/story.mp4") and film[1] == pytest.approx(4 * 17 / 16, abs=0.1)
    captions = page.locator("#storyboard .caption-label, #storyboard figcaption").all_inner_texts() or page.locator("#storyboard").inner_text().split("\n")
    assert [c.split(" · ")[0] for c in captions if " · " in c] == ["1", "2", "3", "4"]
    assert _versions(page) == [["v1", "-", "current", "4", f"made from the logline: {LOGLINE}"]]
    screenshot("1-made")

    # a shot: its video alone, prompt, scores, the critic's reasons, its memory
    page.locator("#storyboard img").nth(1).click()
    page.wait_for_selector("#shot-info h3")
    record = json.loads((story / "shots" / "01_02.json").read_text())
    info = page.locator("#shot-info").inner_text()
    assert page.locator("#shot-info h3").inner_text() == "shot 2 · 01_02 · cut" and record["prompt"] in info and "quality" in info
    assert f"attempt 1 (t001, seed {record['seed']}" in info and record["history"][0]["decision"]["reason"] in info
    page.wait_for_function("(() => { const v = document.querySelector('#shot-video video'); return v && v.src.endsWith('/01_02.mp4') && v.readyState >= 1; })()")
    assert page.locator("#shot-memory img").count() == len(record["memory"]) > 0
    screenshot("2-shot")

    # chat: the plan first, nothing generated; confirm makes version 2 with only shot 2 changed
    before = _shot_files(story)
    page.locator("#instruction textarea").fill("make shot 2 at night")
    page.locator("#send").click()
    page.wait_for_selector("#answer-yes", state="visible")
    plan = page.locator("#chat").inner_text()
    assert "1 shot to generate" in plan and re.search(r"shot 2\s+regenerate\s+condition: at night", plan)
    assert re.search(r"shot 3\s+keep\s+its memory holds keyframes of shot 2", plan)
    assert sorted(p.name for p in (story / "versions").glob("v*.json")) == ["v001.json"]  # a plan spends nothing
    screenshot("3-plan")
    page.locator("#answer-yes").click()
    page.wait_for_function("document.querySelector('#versions tbody').innerText.includes('v2') && document.querySelector('#progress').innerText.includes('finished')")
    page.wait_for_function("document.querySelector('#versions tbody tr').innerText.includes('current')")
    assert _versions(page)[0] == ["v2", "v1", "current", "4", "make shot 2 at night"] and _current(page) == "v2"
    after = _shot_files(story)
    assert after["01_02.mp4"] != before["01_02.mp4"]
    assert {k: v for k, v in after.items() if k != "01_02.mp4"} == {k: v for k, v in before.items() if k != "01_02.mp4"}
    assert "night" in json.loads((story / "script.json").read_text())["shots"][1]["prompt"]
    v1, v2 = (json.loads((story / "versions" / f"v00{n}.json").read_text())["shots"] for n in (1, 2))
    assert {sid: entry["take"] for sid, entry in v2.items()} == {"01_01": 1, "01_02": 2, "02_01": 1, "02_02": 1} and v2["02_01"] == v1["02_01"]
    assert [sorted(p.name for p in (story / "takes" / sid).glob("*.mp4")) for sid in ("01_01", "02_01", "02_02")] == [["t001.mp4"]] * 3  # kept, not made again
    page.wait_for_function("document.querySelector('#shot-info').innerText.includes('take t002')")  # the selected shot, as remade
    assert "at night" in page.locator("#shot-info").inner_text()
    page.wait_for_function(f"!document.querySelector('#film video').src.includes('{film[0].split('/file=')[1].rsplit('/', 2)[-2]}')")
    screenshot("4-revised")

    # undo: version 1 again, byte for byte
    page.locator("#undo").click()
    page.wait_for_function("document.querySelector('#versions tbody tr:nth-child(2)').innerText.includes('current')")
    assert _current(page) == "v1" and _shot_files(story) == before
    screenshot("5-undone")

    # cancel spends nothing; cascade also makes again the shots that remember the changed one
    page.locator("#instruction textarea").fill("make shot 1 at night")
    page.locator("#send").click()
    page.wait_for_selector("#answer-no", state="visible")
    page.locator("#answer-no").click()
    page.wait_for_function("document.querySelector('#chat').innerText.includes('cancelled: nothing changed')")
    assert len(_versions(page)) == 2 and sorted(p.name for p in (story / "versions").glob("v*.json")) == ["v001.json", "v002.json"]
    page.locator("#instruction textarea").fill("make shot 3 at night")
    page.locator("#send").click()
    page.wait_for_selector("#answer-cascade", state="visible")
    assert re.search(r"shot 4\s+keep\s+its memory holds keyframes of shot 3", page.locator("#chat").inner_text())
    page.locator("#answer-cascade").click()
    page.wait_for_function("document.querySelector('#versions tbody tr')?.innerText.includes('v3') && document.querySelector('#versions tbody tr').innerText.includes('current')")
    v3 = json.loads((story / "versions" / "v003.json").read_text())
    assert v3["parent"] == 1 and {sid: entry["take"] for sid, entry in v3["shots"].items()} == {"01_01": 1, "01_02": 1, "02_01": 2, "02_02": 2}
    screenshot("6-cascade")

    # the memory of a shot, pinned from the page
    page.locator("#storyboard img").nth(2).click()
    page.wait_for_function("document.querySelector('#shot-info h3') && document.querySelector('#shot-info h3').innerText.startsWith('shot 3')")
    entry = json.loads((story / "shots" / "02_01.json").read_text())["memory"][0]
    page.wait_for_function(f"document.querySelector('#memory-entry input').value === '{entry}'")
    page.locator("#memory-pin").click()
    page.wait_for_function(f"document.querySelector('#bank').innerText.includes('{entry} shot') && /{entry}[^\\n]*pinned/.test(document.querySelector('#bank').innerText)")
    assert json.loads((story / "memory" / "bank.json").read_text())["entries"][entry]["pinned"] is True
    screenshot("7-pinned")


def test_reload_while_a_story_is_made_shows_its_progress(studio, browser_page, tmp_path):
    url, root, hold = studio
    page, screenshot = browser_page
    quick = RunSettings(**CHOICES, **MEMORY, shots=2, size="64x48", frames=9)
    api.make_story(root / "other", logline="A heron fishes at dawn.", settings=quick)  # another story, made earlier
    page.goto(f"{url}/?token={TOKEN}")
    _fill_form(page, "storm", "A fisherman and a gull ride out a storm at sea.", {"shots": "5", "size": "320x192", "frames": "81"})
    (hold / "arm").write_text("2")  # the studio holds as it starts shot 2, until released: the reload sees the story being made
    page.locator("#make").click()
    page.wait_for_function("/shot 1 `?01_01`?: made/.test(document.querySelector('#progress').innerText)")
    wait_for_file(hold / "held")
    api.edit_memory(root / "other", "unpin", "m0001")  # meanwhile another story changes: it is now the latest, but not the busy one
    page.reload()  # a new page: nothing of the old one is left but the cookie
    page.wait_for_function("document.querySelector('#progress')?.innerText.includes('being made')")
    progress = page.locator("#progress").inner_text()
    assert "version 1 being made" in progress and "shot 1 01_01: made" in progress and "shot 5" in progress
    assert page.locator("#stories input:checked").get_attribute("value") == "storm"  # reattached to the running work
    screenshot("8-reloaded")
    (hold / "release").write_text("")
    page.wait_for_function("document.querySelector('#progress').innerText.includes('finished')")
    assert "version 1: 5 shots made" in page.locator("#progress").inner_text()
    assert json.loads((root / "storm" / "versions" / "v001.json").read_text())["finished"] is not None

    # a story made from the command line in the root appears in the list and shows its progress live
    # (the command holds as it starts its second shot until the page has shown that)
    arguments = ["make", "A harbour cat waits for the last ferry.", "--out", str(root / "harbour"),
                 "--backend", "preview", "--planner", "offline", "--embedder", "colour-structure", "--quality-scorer", "heuristic",
                 "--shots", "3", "--size", "320x192", "--frames", "81"]
    held, release = tmp_path / "cli-held", tmp_path / "cli-release"
    with subprocess.Popen(storymem_held_at(2, held, *arguments, release=release), env=studio_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as cli:
        wait_for(held, cli)
        page.locator("#stories").get_by_role("radio", name="harbour").check()
        page.wait_for_function("document.querySelector('#progress').innerText.includes('being made')")
        screenshot("9-from-the-cli")
        release.write_text("")
        page.wait_for_function("document.querySelectorAll('#storyboard img').length === 3 && document.querySelector('#progress').innerText.includes('version 1: 3 shots')")
        assert cli.wait() == 0, cli.stderr.read()
