"""report.html in headless Chromium (Debian's, driven by Playwright): it renders offline, shows the
contact sheet and a chart for every shot, breaks no image or link; it is rewritten after every shot."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image

from director import api
from director.settings import RunSettings
from helpers import chromium

LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."
SETTINGS = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="heuristic", shots=5, size="192x112", frames=17)


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    root = tmp_path_factory.mktemp("report") / "story"
    seen = []

    def watch(event):
        if "shot_done" in event:  # the report of the running story, as a person would open it now
            page = (root / "report.html").read_text()
            seen.append((event["index"] + 1, re.search(r"being made: (\d+) of (\d+) shots finished", page).groups(), page.count("<section>")))

    api.make_story(root, logline=LOGLINE, settings=SETTINGS, on_event=watch)
    api.redo_shots(root, [2])  # a second version: the page lists the versions
    return root, seen


def test_report_is_rewritten_after_every_shot(story):
    _, seen = story
    assert seen == [(k, (str(k), "5"), k) for k in range(1, 6)]


def test_report_renders_in_headless_chromium(story, tmp_path):
    from playwright.sync_api import sync_playwright

    root, _ = story
    requests = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto((root / "report.html").as_uri(), wait_until="load")
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
            cards = page.locator("#contact-sheet .card").count()
            labels = page.locator("#contact-sheet .card .label").all_inner_texts()
            charts = page.evaluate("Array.from(document.querySelectorAll('section img.chart')).map(i => [i.complete, i.naturalWidth])")
            broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src').slice(0, 80))")
            images = page.evaluate("document.images.length")
            links = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            sections = page.locator("section").count()
            versions = page.locator("#versions").count()
        finally:
            browser.close()
    with Image.open(screenshot) as shot:
        assert shot.width == 1100 and shot.height > 3000
    assert sections == 5 and cards == 5 and len(charts) == 5 and all(ok and width > 100 for ok, width in charts)
    assert [l.split(" ")[0] for l in labels] == ["#1", "#2", "#3", "#4", "#5"] and any("CONTINUE" in l for l in labels) and any("CUT" in l for l in labels)
    assert images > 5 * 4 and broken == []
    assert versions == 1
    assert len(links) >= 5 * 2 + 4
    for link in links:
        target = Path(unquote(urlparse(link).path))
        assert link.startswith("file://") and target.is_file() and target.is_relative_to(root), link
    assert {urlparse(u).scheme for u in requests} <= {"file", "data"}  # offline: nothing from the network


def test_storyboard_png_is_the_contact_sheet(story):
    root, _ = story
    with Image.open(root / "storyboard.png") as sheet:
        assert sheet.width > 3 * 200 and sheet.height > 5 * 100
    page = (root / "report.html").read_text()
    assert '<a href="storyboard.png">' in page and "<script" not in page and "@font-face" not in page and "http" not in page.replace("http-equiv", "")


def test_charts_are_cached_by_what_they_show_and_redrawn_when_it_changes(tmp_path):
    from director.film.storyboard import shot_chart, story_chart

    one = [{"take": 1, "scores": {"quality": 40.0, "consistency": 0.8}}]
    two = [*one, {"take": 2, "scores": {"quality": 55.0, "consistency": 0.9}}]
    gates = {"quality": {"gate": 45.0}}
    first = shot_chart(tmp_path, "01_01", one, 0, gates)
    assert shot_chart(tmp_path, "01_01", one, 0, gates) == first  # the cached file, same bytes
    second = shot_chart(tmp_path, "01_01", two, 1, gates)
    assert second != first and Image.open(io.BytesIO(second)).size == Image.open(io.BytesIO(first)).size
    assert len(list(tmp_path.glob("chart_01_01_*.png"))) == 1  # the stale chart is gone
    story = story_chart(tmp_path, [1], [{"scores": one[0]["scores"]}])
    assert story_chart(tmp_path, [1, 2], [{"scores": one[0]["scores"]}, {"scores": two[1]["scores"]}]) != story
    assert len(list(tmp_path.glob("chart_story_*.png"))) == 1
