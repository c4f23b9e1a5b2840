"""report.html in headless Chromium (Debian's, driven by Playwright): it renders offline, shows the
contact sheet and a chart for every shot, breaks no image or link; live, it is rewritten as shots
finish, at most every `REWRITE_EVERY_S` seconds."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image

from director import api
from director.film import report
from director.settings import RunSettings
from helpers import chromium

LOGLINE = "A lighthouse keeper befriends a stray fox during a winter storm."
SETTINGS = RunSettings(backend="preview", planner="offline", embedder="colour-structure", quality_scorer="heuristic", shots=5, size="192x112", frames=17)


def _watched(root: Path, seen: list):
    def watch(event):
        if "shot_done" in event:  # the report of the running story, as a person would open it now
            page = (root / "report.html").read_text()
            found = re.search(r"being made: (\d+) of (\d+) shots finished", page)
            seen.append((event["index"] + 1, found.groups() if found else None, page.count("<section>"), len(list((root / "report").glob("*.jpg")))))

    return watch


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    root = tmp_path_factory.mktemp("report") / "story"
    seen = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "REWRITE_EVERY_S", 0.0)  # every shot rewrites the page
        api.make_story(root, logline=LOGLINE, settings=SETTINGS, on_event=_watched(root, seen))
    api.redo_shots(root, [2])  # a second version: the page lists the versions
    return root, seen


def test_a_live_report_older_than_the_interval_is_rewritten_after_every_shot(story):
    _, seen = story
    assert seen == [(k, (str(k), "5"), k, 3 * k) for k in range(1, 6)]


def test_a_live_report_younger_than_the_interval_waits_but_thumbnails_do_not(tmp_path, monkeypatch):
    root = tmp_path / "story"
    seen = []
    monkeypatch.setattr(report, "REWRITE_EVERY_S", 1e9)  # the page written at shot 1 is never old enough again
    api.make_story(root, logline=LOGLINE, settings=SETTINGS.model_copy(update={"shots": 3}), on_event=_watched(root, seen))
    assert seen == [(1, ("1", "3"), 1, 3), (2, ("1", "3"), 1, 6), (3, ("1", "3"), 1, 9)]
    page = (root / "report.html").read_text()  # the finished film writes it whatever its age
    assert page.count("<section>") == 3 and "being made" not in page and '<video src="story.mp4"' in page


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
            charts = page.evaluate("Array.from(document.querySelectorAll('section svg.chart')).map(s => [s.querySelectorAll('rect[fill=\"#1f4e79\"]').length, s.getBoundingClientRect().width])")
            broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src').slice(0, 80))")
            images = page.evaluate("document.images.length")
            links = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            sections = page.locator("section").count()
            versions = page.locator("#versions").count()
        finally:
            browser.close()
    with Image.open(screenshot) as shot:
        assert shot.width == 1100 and shot.height > 3000
    assert sections == 5 and cards == 5 and len(charts) == 5 and all(kept >= 1 and width > 400 for kept, width in charts)  # drawn: a kept bar per measured score
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


def test_a_shot_chart_draws_each_attempt_s_score_to_scale_with_its_gate():
    from director.film.storyboard import shot_chart

    two = [{"take": 1, "scores": {"quality": 40.0, "consistency": 0.8}}, {"take": 2, "scores": {"quality": 60.0, "consistency": None}}]
    svg = shot_chart(two, 1, {"quality": {"gate": 45.0}})
    bars = re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="(#[0-9a-f]+)"><title>(t\d): ([^<]+)</title>', svg)
    # quality: two bars, the kept (second) one dark, heights in proportion to the scores; consistency: one bar (the other unmeasured)
    assert [(label, value, colour) for _, _, colour, label, value in bars] == [
        ("t1", "40", "#9dbbd6"), ("t2", "60", "#1f4e79"), ("t1", "0.8", "#9dbbd6"), ("t2", "-", "#1f4e79")]
    assert float(bars[1][1]) / float(bars[0][1]) == pytest.approx(60 / 40, rel=5e-3)
    gate = re.search(r'<line x1="0" x2="124" y1="([\d.]+)"[^>]*><title>gate 45</title>', svg)
    bottom = float(bars[0][0]) + float(bars[0][1])  # the bars stand on the panel's floor
    assert gate and bottom - float(gate.group(1)) == pytest.approx(float(bars[0][1]) * 45 / 40, rel=5e-3)
    assert svg.count("not measured") == 2  # continuity and prompt following


def test_the_story_chart_is_cached_by_what_it_shows_and_redrawn_when_it_changes(tmp_path):
    from director.film.storyboard import story_chart

    one, two = {"quality": 40.0, "consistency": 0.8}, {"quality": 55.0, "consistency": 0.9}
    story = story_chart(tmp_path, [1], [{"scores": one}])
    assert story_chart(tmp_path, [1], [{"scores": one}]) == story  # the cached file, same bytes
    assert story_chart(tmp_path, [1, 2], [{"scores": one}, {"scores": two}]) != story
    assert len(list(tmp_path.glob("chart_story_*.png"))) == 1  # the stale chart is gone
