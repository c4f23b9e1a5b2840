"""Loglines the offline planner cannot read: another script or language is refused in one line
that says how to plan it (an LLM reads any language), a logline of no words is refused, and every
logline gets its own folder name, so two non-Latin stories never collide."""

from __future__ import annotations

import pytest

from director.frontends.cli import main
from director.planning.language import language_of
from director.planning.offline import OfflinePlanner
from director.planning.plan_check import check_plan
from director.planning.base import PlanError
from director.story import slugify

FAST = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--frames", "17", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]

FOREIGN = [
    ("猫と少女が雨の東京で迷子の子犬を探す。", "Japanese"),
    ("Кот и девочка ищут дом в зимнем лесу.", "Cyrillic"),
    ("قطة وفتاة تبحثان عن منزل في المدينة القديمة", "Arabic"),
    ("Un fantasma y una niña buscan su casa durante el invierno.", "Spanish"),
]


@pytest.mark.parametrize("logline, language", FOREIGN)
def test_a_logline_in_another_language_is_refused_with_the_way_to_plan_it(capsys, tmp_path, monkeypatch, logline, language):
    assert language_of(logline) == language
    with pytest.raises(PlanError, match=f"reads English, and this logline is in {language}"):
        OfflinePlanner().plan(logline, 4, 0)
    monkeypatch.chdir(tmp_path)
    assert main(["make", logline, "--shots", "2", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--planner openai" in err[0], err
    assert not (tmp_path / "runs").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "logline",
    [
        "Siobhán, a fisherwoman, rescues a stranded whale off the coast of Galway.",
        "In La Paz, a girl and her dog look for the last bus at night.",
        "Amara and her grandmother plant a mango tree in Lagos.",
        "Yuki finds a lost umbrella in 東京 and returns it.",
    ],
)
def test_english_with_foreign_names_is_still_read(logline):
    assert language_of(logline) == "English"
    assert OfflinePlanner().plan(logline, 4, 0).characters


def test_an_llm_plan_of_another_language_is_not_checked_for_english_characters():
    english = OfflinePlanner().plan("A girl and her cat walk through Tokyo in the rain.", 4, 0)
    japanese = english.model_copy(update={"logline": FOREIGN[0][0]})
    assert check_plan(japanese) == []


@pytest.mark.parametrize("logline", ["🦊🌧️🤖", "  ?! 123 …  "])
def test_a_logline_of_no_words_is_refused_in_one_line(capsys, tmp_path, monkeypatch, logline):
    monkeypatch.chdir(tmp_path)
    assert main(["make", logline, *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no words" in err[0], err
    assert not (tmp_path / "runs").exists()


def test_every_logline_has_its_own_folder_name():
    names = [slugify(text) for text, _ in FOREIGN] + [slugify("猫と少女が雨の東京で迷子の子猫を探す。"), slugify("Кот и мальчик ищут дом в зимнем лесу.")]
    assert len(set(names)) == len(names), names
    assert all(name.isascii() and name.startswith("story-") for name in names[:3]), names
    assert slugify(FOREIGN[0][0]) == slugify(FOREIGN[0][0])  # the same logline, the same folder (a resume finds it)
    assert slugify(FOREIGN[3][0]).startswith("un-fantasma-y-una-nina")  # accents folded, not dropped
    assert slugify("Siobhán rescues a whale") == "siobhan-rescues-a-whale"
    assert slugify("A lighthouse keeper befriends a fox") == "a-lighthouse-keeper-befriends-a-fox"  # English as before
