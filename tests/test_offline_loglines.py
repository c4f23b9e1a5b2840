"""A regression suite of varied loglines for the offline planner: every character of the logline
becomes its own character (none dropped, none merged, pronouns as the logline gives them), every
place, time and weather phrase reaches the script, the beats are the logline's own, and the plan
passes the same checks an LLM's plan must pass.

The expectations are written from the loglines as a reader would, not from the planner's output.
Each case: (logline, characters as (word, pronoun or None), phrases that must reach the settings or
prompts). A group ("two sisters") is one entry per member.
"""

from __future__ import annotations

import re
from itertools import combinations

import pytest

from director.planning.offline import OfflinePlanner
from director.planning.plan_check import check_plan
from director.story import Story

#: Pure computation: a hang (a loop that never ends) fails here in a minute, not at the suite default.
pytestmark = pytest.mark.timeout(60)

CASES = [
    ("A lonely lighthouse keeper teaches a seal to sing during a winter storm.", [("keeper", None), ("seal", None)], ["winter storm"]),
    (
        "Two sisters restore their grandfather's carousel in a seaside town before the autumn fair.",
        [("sister", "she"), ("sister", "she"), ("grandfather", "he")],
        ["carousel", "seaside town", "autumn fair"],
    ),
    (
        "A shy robot mechanic and a retired pirate captain race to repair a flying boat before a monsoon hits their floating market town.",
        [("mechanic", None), ("captain", None)],
        ["flying boat", "monsoon", "floating market town"],
    ),
    (
        "An old clockmaker and her apprentice chase a runaway mechanical owl across the rooftops of Prague.",
        [("clockmaker", "she"), ("apprentice", None), ("owl", None)],
        ["rooftops of Prague"],
    ),
    ("Kenji, a retired sumo wrestler, opens a noodle shop in Osaka.", [("Kenji", None)], ["noodle shop", "Osaka"]),
    ("At midnight, a curious kitten explores an abandoned subway station.", [("kitten", None)], ["midnight", "abandoned subway station"]),
    ("Amara and her grandmother plant a mango tree in Lagos during the rainy season.", [("Amara", "she"), ("grandmother", "she")], ["mango tree", "Lagos", "rainy season"]),
    ("A talking teapot helps a nervous waiter survive his first night at a Paris bistro.", [("teapot", None), ("waiter", "he")], ["first night", "Paris bistro"]),
    (
        "Siobhán, a fisherwoman, rescues a stranded whale on a foggy morning off the coast of Galway.",
        [("Siobhán", "she"), ("whale", None)],
        ["foggy morning", "coast of Galway"],
    ),
    ("A young detective and his loyal dog search a snowy village for a missing bell.", [("detective", "he"), ("dog", None)], ["snowy village", "missing bell"]),
    ("Two brothers build a raft to cross a flooded valley after a thunderstorm.", [("brother", "he"), ("brother", "he")], ["raft", "flooded valley", "thunderstorm"]),
    ("A tired nurse finds a lost puppy in a hospital corridor at dawn.", [("nurse", None), ("puppy", None)], ["hospital corridor", "dawn"]),
    ("Björn and Astrid race their sled across a frozen lake under the northern lights.", [("Björn", None), ("Astrid", None)], ["sled", "frozen lake", "northern lights"]),
    ("A beekeeper loses her bees in a heatwave and follows them into the mountains.", [("beekeeper", "she"), ("bee", None)], ["heatwave", "mountains"]),
    ("Mei Ling teaches her stubborn goat to pull a cart through a bamboo forest.", [("Mei Ling", "she"), ("goat", None)], ["cart", "bamboo forest"]),
    ("A grumpy old fisherman and a cheerful seagull share a boat during a summer squall.", [("fisherman", None), ("seagull", None)], ["boat", "summer squall"]),
    ("A little girl befriends a giant in the forest at dusk.", [("girl", "she"), ("giant", None)], ["forest", "dusk"]),
    ("Three friends get lost in a desert canyon during a sandstorm.", [("friend", None)] * 3, ["desert canyon", "sandstorm"]),
    ("A street musician in Havana falls in love with a dancer on a rainy evening.", [("musician", None), ("dancer", None)], ["Havana", "rainy evening"]),
    (
        "Olusegun, a taxi driver, drives a pregnant woman to the hospital through Lagos at night.",
        [("Olusegun", None), ("woman", "she")],
        ["hospital", "Lagos", "night"],
    ),
    ("A curious robot vacuum escapes its apartment and explores the city at night.", [("vacuum", None)], ["apartment", "city", "night"]),
    ("A knight and a dragon become friends in a burning castle.", [("knight", None), ("dragon", None)], ["burning castle"]),
    ("A widow and her cat wait for a letter in a small cottage on a snowy afternoon.", [("widow", "she"), ("cat", None)], ["letter", "small cottage", "snowy afternoon"]),
    ("Giulia, a young baker in Naples, bakes bread for her neighbours during a heavy snowfall.", [("Giulia", "she"), ("neighbour", None)], ["Naples", "bread", "heavy snowfall"]),
    ("A brave little toaster and a lamp cross a stormy sea to find their owner.", [("toaster", None), ("lamp", None), ("owner", None)], ["stormy sea"]),
    ("Zainab and her brother Yusuf fly a kite over the rooftops of Cairo at sunset.", [("Zainab", "she"), ("Yusuf", "he")], ["kite", "rooftops of Cairo", "sunset"]),
    ("A retired astronaut teaches her granddaughter to read the stars.", [("astronaut", "she"), ("granddaughter", "she")], ["stars"]),
    ("An enchanted umbrella follows a schoolboy home through the rain.", [("umbrella", None), ("schoolboy", "he")], ["rain"]),
    ("Every night, a shy ghost rearranges the books in an old library in Kyoto.", [("ghost", None)], ["every night", "old library", "Kyoto"]),
    (
        "Professor Nakamura and her stubborn robot assistant search the Sahara for a lost meteorite at noon.",
        [("Nakamura", "she"), ("assistant", None)],
        ["Sahara", "lost meteorite", "noon"],
    ),
]

HIS = {"he", "him", "his", "man", "boy", "beard", "moustache", "mustache"}
HERS = {"she", "her", "hers", "woman", "girl"}


def _plan(logline: str) -> Story:
    return OfflinePlanner().plan(logline, 8, 0)


def _says(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word.lower())}(?:s|es)?(?!\w)", text.lower()) is not None


@pytest.mark.parametrize("logline, cast, phrases", CASES, ids=[c[0][:40] for c in CASES])
def test_the_script_keeps_the_logline(logline: str, cast: list[tuple[str, str | None]], phrases: list[str]) -> None:
    story = _plan(logline)
    characters = list(story.characters)
    assert len(characters) == len(cast), [c.name for c in characters]  # none dropped, none merged, none invented
    unmatched = list(characters)
    for word, pronoun in cast:  # each of the logline's characters is a different character of the script
        match = next((c for c in unmatched if _says(f"{c.name} {c.description}", word)), None)
        assert match is not None, f"{word!r} is not a character of {[c.name for c in unmatched]}"
        unmatched.remove(match)
        words = set(re.findall(r"\w+", match.description.lower()))
        if pronoun == "she":
            assert not words & HIS, match.description
        if pronoun == "he":
            assert not words & HERS, match.description
    text = " ".join([*(s.setting for s in story.scenes), *(s.prompt for s in story.shots)]).lower()
    for phrase in phrases:
        assert phrase.lower() in text, phrase
    assert check_plan(story, logline) == []


def test_different_loglines_give_different_beats() -> None:
    beats = {logline: [re.sub(r"^\w+: ", "", s.purpose) for s in _plan(logline).scenes] for logline, _, _ in CASES}
    for (a, beats_a), (b, beats_b) in combinations(beats.items(), 2):
        assert not set(beats_a) & set(beats_b), (a, b)
    for logline, story_beats in beats.items():  # a beginning, a turn and an end, not one beat repeated
        assert len(set(story_beats)) == len(story_beats), logline
        assert all(len(b.split()) >= 3 and re.search(r"\w$", b.rstrip(".")) for b in story_beats), story_beats  # whole actions


@pytest.mark.parametrize("shots", [2, 6])
def test_each_place_of_the_logline_is_its_own_scene_setting(shots):
    """Settings alone (prompts repeat the logline, so they cannot tell): the story moves from the
    first place to the last."""
    story = OfflinePlanner().plan("A girl leaves her farm in the valley and climbs to an ancient temple on the mountain.", shots, 0)
    settings = [scene.setting for scene in story.scenes]
    assert settings[0] == "the farm in the valley" and settings[-1] == "an ancient temple on the mountain", settings
