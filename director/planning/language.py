"""What language a logline is in, so the offline planner refuses one it cannot read.

The offline planner's grammar and lexicon are English; any other language would come out as a
plan of garbled "characters" presented as success. So a logline whose letters are mostly of
another script, or whose Latin-script words are mostly another language's function words, is
refused in one line that says how to plan it with an LLM (which reads any language).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from director.planning.base import PlanError
from director.planning.reading import Reading, read

# Scripts named by the first word of a letter's Unicode name, and what a user would call them.
_SCRIPT_NAMES = {"CJK": "Chinese", "HIRAGANA": "Japanese", "KATAKANA": "Japanese", "HANGUL": "Korean"}

# A few function words per language, which carry no meaning of their own and so tell a language
# apart on a one-line logline. English's are counted against the others'.
_FUNCTION_WORDS = {
    "English": "the a an and of to in on with his her their who is at for from by during before after while when into its",
    "Spanish": "el la los las un una unos y del en con su sus que por para durante mientras al se es",
    "French": "le la les un une des et du dans avec son sa ses qui pour pendant sur au aux est",
    "German": "der die das ein eine einen und mit im von zu seine ihre wird während auf dem den ist",
    "Italian": "il lo gli le un una e di del della con suo sua che per durante nel nella è",
    "Portuguese": "o os um uma e do da com seu sua que para durante no na em é",
    "Dutch": "de het een en van met zijn haar die op tijdens voor",
}
_WORDS = {language: set(words.split()) for language, words in _FUNCTION_WORDS.items()}

HOW_TO_PLAN = "plan it with an LLM, which reads any language: --planner openai with OPENAI_API_KEY set, or --llm-base-url URL for a local server"


def script_of(text: str) -> str:
    """The script most of the text's letters are in: "Latin", "Japanese", "Cyrillic", ..."""
    scripts = Counter()
    for char in text:
        if unicodedata.category(char).startswith("L"):
            script = unicodedata.name(char, "UNKNOWN").split()[0]
            scripts[_SCRIPT_NAMES.get(script, script.title())] += 1
    if "Japanese" in scripts:  # kanji are CJK letters too; kana make it Japanese
        scripts["Japanese"] += scripts.pop("Chinese", 0)
    return scripts.most_common(1)[0][0] if scripts else ""


def language_of(text: str) -> str:
    """"English", another language the function words name, or the script ("Japanese", "Cyrillic")."""
    script = script_of(text)
    if script != "Latin":
        return script
    words = re.findall(r"[^\W\d_]+", text.lower())
    english = sum(w in _WORDS["English"] for w in words)
    others = {language: sum(w in vocabulary and w not in _WORDS["English"] for w in words) for language, vocabulary in _WORDS.items() if language != "English"}
    language, hits = max(others.items(), key=lambda item: item[1])
    return language if hits >= 2 and hits > english else "English"


def check_english(logline: str) -> None:
    """PlanError, in one line, for a logline the offline planner cannot read."""
    language = language_of(logline)
    if language != "English":
        written = f"in {language}" if language in _WORDS or language in _SCRIPT_NAMES.values() else f"in {language} script"
        raise PlanError(f"the offline planner reads English, and this logline is {written}; {HOW_TO_PLAN}")


def english_reading(logline: str) -> Reading:
    """What the English reader finds in a logline; nothing for another language, whose words it
    would misread (an LLM's plan of a Japanese logline is not checked for English "characters")."""
    return read(logline) if language_of(logline) == "English" else Reading()
