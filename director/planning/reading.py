"""Reading a logline: its characters, places, times and actions, by a small clause grammar.

lemminflect's lexicon (shipped inside its PyPI wheel, no download) says which parts of speech a
word can have and gives base forms and inflections; the closed word classes and what a noun denotes
are in `director.planning.words`. The grammar is the shape of loglines: a subject (noun phrases
joined by "and", a name with an apposition), verbs, objects and prepositional phrases, then more
clauses opened by "and"/"but" + verb, "to" + verb (a goal) or a subordinator ("before a monsoon
hits ..."). A word that can be a noun or a verb ("race", "hits") is the verb when the subject is
complete and the verb form agrees with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from lemminflect import getAllLemmas, getInflection

from director.planning.words import (
    ABSTRACT,
    ABSTRACT_SUFFIXES,
    ADVERBS,
    AGENCY,
    ANIMALS,
    AUXILIARIES,
    CLOCK,
    COPULAS,
    DETERMINERS,
    EVENTS,
    FEMALE,
    FEMALE_NAMES,
    MACHINES,
    MALE,
    MALE_NAMES,
    COLLECTIVES,
    MODALS,
    TITLES,
    NOT_PLACES,
    NUMBERS,
    ANIMAL_HEADS,
    PEOPLE,
    PEOPLE_HEADS,
    PLACE_NAME_PREFIXES,
    PLACE_NAMES,
    PLACE_PREPOSITIONS,
    PLACE_VERBS,
    PLACES,
    POSSESSIVES,
    PREPOSITIONS,
    PRONOUNS,
    RELATIVES,
    SEASONS,
    SUBORDINATORS,
    TIMES,
    VEHICLES,
    WEATHER,
    clock_light,
)

_CLOSED = DETERMINERS | set(NUMBERS) | set(POSSESSIVES) | set(PRONOUNS) | SUBORDINATORS | RELATIVES | PREPOSITIONS | {"and", "or", "but", "then", "so"}


@lru_cache(maxsize=4096)
def _lemmas(word: str) -> dict[str, tuple[str, ...]]:
    """Parts of speech and base forms; a hyphenated word the lexicon lacks is read by its last part
    ("co-pilot" is a noun, "crash-land" a noun or a verb)."""
    lemmas = getAllLemmas(word.lower())
    if not lemmas and "-" in word.strip("-"):
        head = word.lower().rsplit("-", 1)
        lemmas = {pos: tuple(f"{head[0]}-{form}" for form in forms) for pos, forms in getAllLemmas(head[1]).items()}
    return lemmas


def can_be(word: str, pos: str) -> bool:
    return pos in _lemmas(word)


def base_verb(word: str) -> str:
    lemmas = _lemmas(word).get("VERB") or _lemmas(word).get("AUX")
    return lemmas[0] if lemmas else word.lower()


def singular(noun: str) -> str:
    lemmas = _lemmas(noun).get("NOUN")
    return lemmas[0] if lemmas else noun.lower()


def agree(verb: str, plural: bool) -> str:
    """`verb` (any form) in the present tense for a singular or plural subject."""
    base = base_verb(verb)
    if plural:
        return base
    forms = getInflection(base, "VBZ")
    return forms[0] if forms else base + "s"


def gerund(verb: str) -> str:
    forms = getInflection(base_verb(verb), "VBG")
    return forms[0] if forms else verb + "ing"


@dataclass
class Phrase:
    """A noun phrase: its words as written, the determiner, and the head noun."""

    words: list[str]
    determiner: str
    head: str
    start: int
    end: int
    count: int = 1  # "two sisters" -> 2
    proper: bool = False
    name: str = ""  # the being's own name: "a keeper named Mara", "Kenji, a retired sumo wrestler"
    apposition: str = ""  # what the named being is: "lighthouse keeper", "retired sumo wrestler"
    tail: "Phrase | None" = None  # "the help of a clumsy dragon": the of-phrase

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def body(self) -> str:
        """The phrase without its determiner or possessive."""
        return " ".join(self.words[1:] if self.determiner else self.words)

    @property
    def plural(self) -> bool:
        return self.count > 1 or (not self.proper and singular(self.head) != self.head.lower())


@dataclass
class Being:
    """A character of the logline."""

    phrase: str  # as written, without determiner: "shy robot mechanic"
    head: str
    kind: str  # person | animal | machine | thing
    pronoun: str = "they"
    proper_name: str = ""
    apposition: str = ""  # "Kenji, a retired sumo wrestler" -> "retired sumo wrestler"
    owner: int | None = None  # index of the being whose relation this is ("her apprentice")
    count: int = 1


@dataclass
class Clause:
    """One action of the logline: who does it, the verbs as written, and the rest of the clause."""

    subject: list[int]  # indices of beings; empty when the subject is not a character
    subject_text: str
    verb: str  # the first verb as written
    rest: str  # the words after the verb, as written
    kind: str  # main | and | goal | when (a subordinate clause) ...
    opener: str = ""  # the subordinator or conjunction that opened it
    plural: bool = False


@dataclass
class Reading:
    beings: list[Being] = field(default_factory=list)
    places: list[str] = field(default_factory=list)  # phrases as written, with determiners
    conditions: list[str] = field(default_factory=list)  # time and weather phrases as written
    times: list[str] = field(default_factory=list)  # lighting times named: night, dawn, ...
    weather: list[str] = field(default_factory=list)  # weather kinds named: rain, snow, storm, ...
    seasons: list[str] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    props: list[str] = field(default_factory=list)  # objects acted on: "a flying boat"

    @property
    def characters(self) -> list[str]:
        return [b.phrase for b in self.beings]

    @property
    def place(self) -> str:
        return _strip_determiner(self.places[0]) if self.places else ""


_TOKEN = re.compile(rf"{CLOCK}|[^\W_][\w'’-]*|[,.;:!?]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _join(words) -> str:
    """Words back into text, punctuation against the word before it."""
    return re.sub(r"\s+([,.;:!?])", r"\1", " ".join(words))


def _strip_determiner(text: str) -> str:
    words = text.split()
    if words and words[0].lower() in DETERMINERS | set(POSSESSIVES) | set(NUMBERS):
        words = words[1:]
    return " ".join(words)


def _compound(word: str, nouns: set[str]) -> bool:
    """'schoolboy', 'policewoman', 'sheepdog': a closed compound ending in one of `nouns`."""
    return any(word.endswith(n) and len(word) - len(n) >= 3 for n in nouns if len(n) >= 3)


def light_of(word: str) -> str:
    """The lighting a time word names: "dusk", "midnight" (night), "3 AM" (night); else ""."""
    return TIMES.get(word.lower(), "") or clock_light(word)


def _parts(words: list[str]) -> list[str]:
    """Words and the parts of hyphenated ones: "fog-bound" is also "fog"."""
    return [p for w in words for p in ([w, *w.split("-")] if "-" in w else [w])]


def abstract(head: str) -> bool:
    word = head.lower()
    return word in ABSTRACT or singular(word) in ABSTRACT or (word.endswith(ABSTRACT_SUFFIXES) and word not in PEOPLE and len(word) > 6)


def place_name(words: list[str]) -> bool:
    """"Europe", "Las Vegas", "New Orleans": a proper name that is a place, not a person."""
    lowered = [w.lower() for w in words if w[:1].isalpha()]
    return bool(lowered) and (any(w in PLACE_NAMES for w in lowered) or (len(lowered) > 1 and lowered[0] in PLACE_NAME_PREFIXES))


def kind_of(head: str, modifiers: list[str]) -> str | None:
    word = singular(head) if head.islower() else head.lower()
    if (word in PLACES or head.lower() in PLACES) and word not in PEOPLE:  # "an enchanted forest" is still a place
        return None
    if word in PEOPLE or head.lower() in PEOPLE:
        return "person"
    if word in ANIMALS:
        return "animal"
    if word in MACHINES:
        return "machine"
    if head.islower() and _compound(word, PEOPLE_HEADS):
        return "person"
    if head.islower() and _compound(word, ANIMAL_HEADS):
        return "animal"
    if any(m.lower() in AGENCY for m in modifiers):
        return "thing"
    return None


def denotes_time(head: str) -> bool:
    word = head.lower()
    return bool(light_of(word)) or word.isdigit() or word in WEATHER or word in SEASONS or word in EVENTS or singular(word) in EVENTS


class _Parser:
    def __init__(self, logline: str) -> None:
        self.words = tokens(logline)
        self.lower = [w.lower() for w in self.words]
        self.i = 0
        self.reading = Reading()
        self.phrases: dict[int, int] = {}  # phrase start -> being index
        self.verb = ""  # the verb of the clause being read
        self.last: Phrase | None = None  # the noun phrase read last (a relative clause's subject)

    # --- word classes -------------------------------------------------------------------------

    def _is_name(self, k: int) -> bool:
        word = self.words[k]
        if not word[0].isupper() or self.lower[k] in _CLOSED:
            return False
        return k > 0 or not _lemmas(word)

    def _content(self, k: int) -> bool:
        return k < len(self.words) and self.words[k][0].isalnum() and self.lower[k] not in _CLOSED

    def _verb_only(self, k: int) -> bool:
        lemmas = _lemmas(self.words[k])
        return ("VERB" in lemmas or "AUX" in lemmas) and "NOUN" not in lemmas and "ADJ" not in lemmas and not self._is_name(k)

    def _agrees(self, k: int, plural: bool) -> bool:
        """Can words[k] be a finite verb for a subject of this number?"""
        word = self.lower[k]
        if word in AUXILIARIES:
            return True
        if not (can_be(word, "VERB") or self._verb_only(k)) or self._is_name(k):
            return False
        base = base_verb(word)
        if word.endswith("ed") and base != word:
            return True
        return (base != word and word.endswith("s")) != plural

    # --- phrases -----------------------------------------------------------------------------

    def noun_phrase(self, subject_plural: bool | None = None) -> Phrase | None:
        """The noun phrase at the cursor, or None. With `subject_plural` given, stop before a verb that agrees."""
        k = self.i
        determiner, count = "", 1
        if k < len(self.words) and (self.lower[k] in DETERMINERS or self.lower[k] in POSSESSIVES or self.lower[k] in NUMBERS):
            determiner = self.lower[k]
            count = NUMBERS.get(determiner, 1)
            k += 1
        start_content = k
        while self._content(k):
            if k > start_content and subject_plural is not None:
                if self.lower[k] in MODALS:
                    break  # "a cheerful puppy must share"
                after_plural = (singular(self.lower[k - 1]) != self.lower[k - 1] or self.lower[k - 1] in COLLECTIVES) and not self._is_name(k - 1)
                plural = subject_plural or count > 1 or after_plural
                being_noun = self._being_noun(k) and k + 1 < len(self.words) and self._starts_verb(k + 1, plural)  # "her black cat open ..."
                if self._agrees(k, plural) and (self._next_fits_verb(k) or after_plural) and not being_noun:  # "pigs build houses"
                    break
            if k > start_content and self._being_noun(k - 1) and not can_be(self.lower[k], "NOUN") and not self._is_name(k):
                break  # "a fox asleep in the flour"
            if k > start_content and self._verb_only(k):
                break
            if self._adverb(k):
                break
            if k == start_content and self._verb_only(k) and not determiner:
                return None
            k += 1
        if k == start_content:
            return None
        words = self.words[self.i : k]
        phrase = Phrase(words, determiner, self.words[k - 1], self.i, k, count, proper=self._is_name(k - 1))
        self.i = k
        if k + 1 < len(self.words) and self.lower[k] in ("named", "called") and self._is_name(k + 1):  # "a keeper named Mara"
            n = k + 1
            while n < len(self.words) and self._is_name(n):
                n += 1
            phrase.name, phrase.apposition = " ".join(self.words[k + 1 : n]), phrase.body
            phrase.words, phrase.end, self.i = self.words[phrase.start : n], n, n
            return phrase
        # "the rooftops of Prague": an of-phrase belongs to its noun.
        if k + 1 < len(self.words) and self.lower[k] == "of" and self._content(k + 1) or (
            k + 2 < len(self.words) and self.lower[k] == "of" and self.lower[k + 1] in DETERMINERS | set(POSSESSIVES)
        ):
            self.i = k + 1
            tail = self.noun_phrase(subject_plural=subject_plural)
            if tail is not None:
                phrase.words = self.words[phrase.start : tail.end]
                phrase.end, phrase.tail = tail.end, tail
            else:
                self.i = k
        self.last = phrase
        return phrase

    def _being_noun(self, k: int) -> bool:
        word = self.lower[k]
        return not self._is_name(k) and (word in PEOPLE or word in ANIMALS or singular(word) in PEOPLE or singular(word) in ANIMALS)

    def _next_fits_verb(self, k: int) -> bool:
        """Does what follows words[k] read as a verb's continuation (object, preposition, end)?"""
        if k + 1 >= len(self.words):
            return True
        nxt = self.lower[k + 1]
        if not self.words[k + 1][0].isalnum():
            return True
        if nxt in DETERMINERS or nxt in POSSESSIVES or nxt in PREPOSITIONS or nxt in PRONOUNS or nxt in NUMBERS or nxt in ADVERBS:
            return True
        if nxt in SUBORDINATORS or nxt in ("and", "but"):
            return True
        after = self.lower[k + 2] if k + 2 < len(self.words) else "."
        if can_be(nxt, "NOUN") and singular(nxt) != nxt and (after in _CLOSED or not after[0].isalnum()):
            return True  # a bare plural object: "build houses before ..."
        return self._is_name(k + 1) or not can_be(nxt, "NOUN") or can_be(nxt, "ADJ")

    # --- beings ------------------------------------------------------------------------------

    def _possessors(self, phrase: Phrase) -> None:
        """"their grandfather's carousel": the grandfather is a character too (common nouns only:
        "Prague's rooftops" is no one); so is the dragon of "the help of a clumsy dragon"."""
        if phrase.determiner in ("her", "his") and kind_of(phrase.head, []) is None:  # "her shop": the person is "her"
            for being in reversed(self.reading.beings):
                if being.kind == "person" and being.count == 1 and being.pronoun == "they":
                    being.pronoun = POSSESSIVES[phrase.determiner]
                    break
        tail = phrase.tail  # (but "the ghost of a pirate" is one being)
        if tail is not None and not tail.proper and kind_of(phrase.head, []) is None and kind_of(tail.head, tail.words[:-1]) in ("person", "animal", "machine"):
            self.being(tail, as_subject=False)
        for k, word in enumerate(phrase.words[:-1]):
            match = re.fullmatch(r"(.+?)['’]s", word)
            start = 1 if phrase.determiner else 0
            if match and match.group(1).islower() and kind_of(match.group(1), phrase.words[start:k]) in ("person", "animal"):
                words = [*phrase.words[:k], match.group(1)]
                self.being(Phrase(words, phrase.determiner, match.group(1), phrase.start, phrase.start + k + 1), as_subject=False)

    def being(self, phrase: Phrase, as_subject: bool) -> int | None:
        """The being a noun phrase names (added on first mention), or None for a non-character."""
        self._possessors(phrase)
        head = phrase.head
        modifiers = phrase.words[1 if phrase.determiner else 0 : -1]
        kind = kind_of(head, modifiers)
        if kind is None and phrase.proper and (phrase.determiner == "the" or place_name(phrase.words)) and not phrase.name:
            return None  # "the Sahara", "Europe", "Las Vegas": a place, not a person
        if kind is None and (phrase.proper or phrase.name):
            kind = "person"
        if kind is None and as_subject and not denotes_time(head) and head.lower() not in PLACES and not abstract(head) and singular(head) not in VEHICLES:
            kind = "thing"  # an object that acts: "a lamp crosses the sea"
        if kind is None:
            return None
        if not as_subject and not phrase.determiner and not phrase.name and not phrase.proper and phrase.plural:
            return None  # "talk to birds": a bare plural is birds in general, not characters
        if phrase.determiner in ("a", "an") and phrase.plural:
            return None  # "a thousand paper cranes": a quantity
        body = phrase.name or _strip_determiner(phrase.text)
        another = phrase.determiner == "another" or "other" in (w.lower() for w in modifiers)  # "another fox" is a second fox
        for index, being in enumerate(self.reading.beings if not another else []):
            if being.phrase.lower() == body.lower() or (being.proper_name and being.proper_name.lower() == body.lower()):
                return index
            if phrase.determiner == "the" and not phrase.proper and being.count == 1 and being.head == singular(head) and len(phrase.words) == 2:
                return index  # "her bravest knight ... the knight": the same one
        being = Being(phrase=body, head=head if phrase.proper else singular(head), kind=kind, count=1 if phrase.name else phrase.count)
        if phrase.name:
            being.proper_name, being.apposition = phrase.name, phrase.apposition
        elif phrase.proper and len(phrase.words) == len(body.split()):
            being.proper_name = body
        self._gender(being, phrase)
        if phrase.determiner in POSSESSIVES:
            self._own(being, POSSESSIVES[phrase.determiner])
        self.reading.beings.append(being)
        return len(self.reading.beings) - 1

    def _gender(self, being: Being, phrase: Phrase) -> None:
        words = {w.lower() for w in phrase.words}
        words |= {n for w in list(words) for n in FEMALE | MALE if len(n) >= 3 and w.endswith(n) and len(w) - len(n) >= 3}
        if being.kind in ("animal", "machine", "thing") and not words & (FEMALE | MALE):
            being.pronoun = "it"
        if words & FEMALE or being.proper_name.lower() in FEMALE_NAMES:
            being.pronoun = "she"
        elif words & MALE or being.proper_name.lower() in MALE_NAMES:
            being.pronoun = "he"
        if being.count > 1:
            being.pronoun = "they"

    def _own(self, being: Being, pronoun: str) -> None:
        """"her apprentice": the apprentice belongs to the nearest earlier being that can be "her"."""
        for index in range(len(self.reading.beings) - 1, -1, -1):
            owner = self.reading.beings[index]
            if pronoun in ("she", "he") and owner.pronoun in (pronoun, "they") and owner.count == 1 and owner.kind != "thing":
                if owner.pronoun == "they" and owner.kind == "person":
                    owner.pronoun = pronoun
                being.owner = index
                return
            if pronoun in ("it",) and owner.pronoun == "it":
                being.owner = index
                return

    # --- clauses -----------------------------------------------------------------------------

    def subject(self) -> tuple[list[Phrase], bool]:
        """Noun phrases of a subject ("A and B", "Kenji, a retired sumo wrestler,"), and whether it is plural."""
        phrases: list[Phrase] = []
        plural = False
        while True:
            phrase = self.noun_phrase(subject_plural=plural)
            if phrase is None:
                break
            phrases.append(phrase)
            if self.i < len(self.words) and self.lower[self.i] == "," and phrase.proper:
                save = self.i
                self.i += 1
                apposition = self.noun_phrase(subject_plural=False)
                if apposition is not None and apposition.determiner in ("a", "an", "the"):
                    phrase.name, phrase.apposition = phrase.text, apposition.body
                    phrase.words = phrase.words + [","] + apposition.words
                    phrase.head = apposition.head
                    if self.i < len(self.words) and self.lower[self.i] == ",":
                        self.i += 1
                else:
                    self.i = save
            if self.i < len(self.words) and self.lower[self.i] in ("and", ",") and not self._starts_verb(self.i + 1, True):
                self.i += 1
                plural = True
                continue
            break
        plural = plural or any(p.plural for p in phrases)
        return _names_of_group(phrases), plural

    def _starts_verb(self, k: int, plural: bool) -> bool:
        return k < len(self.words) and (self.lower[k] in AUXILIARIES or self._verb_only(k) or (self._agrees(k, plural) and self._next_fits_verb(k)))

    def clause(self, kind: str, opener: str, subject: list[int], subject_text: str, plural: bool) -> None:
        """The verb group and the rest of a clause, up to the next clause boundary."""
        if self.i >= len(self.words):
            return
        while self.i + 1 < len(self.words) and self._adverb(self.i) and self._starts_verb(self.i + 1, plural):
            self.i += 1  # "where she first performed": the verb is "performed"
        verb = self.words[self.i]
        self.verb = verb
        self.i += 1
        rest_start = self.i
        while self.i < len(self.words):
            word = self.lower[self.i]
            if word in (".", "!", "?", ";"):
                self.i += 1
                break
            if word in ("and", "but", "then", ",") and self._starts_verb(self.i + 1 + (self.lower[self.i + 1 : self.i + 2] == ["then"]), plural):
                self._close(kind, opener, subject, subject_text, verb, rest_start, plural)
                self.i += 1
                if self.i < len(self.words) and self.lower[self.i] == "then":
                    self.i += 1
                return self.clause("and", word, subject, subject_text, plural)
            if word in ("and", "but", ",") and self._next_subject(word, kind, opener, subject, subject_text, verb, rest_start, plural):
                return
            if word == "to" and self.i + 1 < len(self.words) and self._infinitive(self.i + 1):
                self._close(kind, opener, subject, subject_text, verb, rest_start, plural)
                self.i += 1
                return self.clause("goal", "to", subject, subject_text, plural)
            if word in SUBORDINATORS or word in RELATIVES:
                if self._subordinate(word, subject, subject_text, plural, verb, kind, opener, rest_start):
                    return
                continue
            if word in PREPOSITIONS:
                self._after_preposition(word)
                continue
            if word in PRONOUNS or word in ADVERBS or not self.words[self.i][0].isalnum():
                self.i += 1
                continue
            phrase = self.noun_phrase()
            if phrase is None:
                self.i += 1
                continue
            self._object(phrase)
        self._close(kind, opener, subject, subject_text, verb, rest_start, plural)

    def _next_subject(self, word, kind, opener, subject, subject_text, verb, rest_start, plural) -> bool:
        """", and the librarian hides it": a new clause with its own subject (a pronoun resolved to a
        character already there). False, with the cursor back, when no subject and verb follow."""
        save = self.i
        self.i += 1
        if self.i < len(self.words) and self.lower[self.i] == "then":
            self.i += 1
        pronoun = self.lower[self.i] if self.i < len(self.words) else ""
        if pronoun in ("she", "he", "they", "it") and self._starts_verb(self.i + 1, pronoun == "they"):
            self._close(kind, opener, subject, subject_text, verb, rest_start, plural, end=save)
            self.i += 1
            who = self.resolve(pronoun, subject)
            self.clause("and", word, who, " and ".join(self.reading.beings[i].phrase for i in who) or pronoun, pronoun == "they")
            return True
        phrases, sub_plural = self.subject()
        if phrases and self.i < len(self.words) and self._starts_verb(self.i, sub_plural):
            self._close(kind, opener, subject, subject_text, verb, rest_start, plural, end=save)
            indices = [b for b in (self.being(p, as_subject=True) for p in phrases) if b is not None]
            self.clause("and", word, indices, " and ".join(_join(p.words) for p in phrases), sub_plural)
            return True
        self.i = save
        return False

    def resolve(self, pronoun: str, subject: list[int]) -> list[int]:
        """The characters a subject pronoun stands for: the clause's subject when it fits, else the
        nearest earlier being that can be called so; never a new character."""
        beings = self.reading.beings
        if pronoun == "they":
            if len(subject) > 1 or any(beings[i].count > 1 for i in subject):
                return subject
            groups = [i for i, b in enumerate(beings) if b.count > 1]
            return groups[-1:] or subject
        fits = [i for i in subject if beings[i].pronoun == pronoun]
        if fits:
            return fits[:1]
        for index in range(len(beings) - 1, -1, -1):
            if beings[index].pronoun == pronoun:
                return [index]
        for index in [*subject, *range(len(beings) - 1, -1, -1)]:
            if pronoun in ("she", "he") and beings[index].pronoun == "they" and beings[index].kind == "person" and beings[index].count == 1:
                beings[index].pronoun = pronoun
                return [index]
        if pronoun in ("she", "he"):  # "... a dragon in her shop, and he ...": the one that is not "her"
            for index in range(len(beings) - 1, -1, -1):
                if beings[index].kind != "person" and index not in subject:
                    return [index]
        return subject

    def _adverb(self, k: int) -> bool:
        """"never", "secretly", "only", "first": a word that sits before a verb without being one."""
        word = self.lower[k]
        return word in ADVERBS or word in _BEFORE_VERBS or (word.endswith("ly") and can_be(word, "ADV") and not can_be(word, "NOUN"))

    def _infinitive(self, k: int) -> bool:
        word = self.lower[k]
        if word in _CLOSED or self._is_name(k) or word in PLACES:
            return False
        return self._verb_only(k) or (can_be(word, "VERB") and base_verb(word) == word)

    def _subordinate(self, word, subject, subject_text, plural, verb, kind, opener, rest_start) -> bool:
        """At a subordinator: True after reading a new clause; else its time phrase is read and False."""
        save = self.i
        self.i += 1
        if word in RELATIVES:
            last = self.last if self.last is not None and self.last.end == save else None  # "a mural that comes alive"
            while self.i < len(self.words) and self._adverb(self.i):  # "a parrot that only speaks"
                self.i += 1
            if self.i < len(self.words) and self._starts_verb(self.i, last.plural if last else plural):
                self._close(kind, opener, subject, subject_text, verb, rest_start, plural, end=save)
                if last is not None:
                    index = self.being(last, as_subject=True)
                    subject, subject_text, plural = ([index] if index is not None else []), _join(last.words), last.plural
                self.clause("and", word, subject, subject_text, plural)
                return True
            if word == "that":  # "discovers that her smart fridge is plotting": a clause with its own subject
                self.i = save
                if self._next_subject(word, kind, opener, subject, subject_text, verb, rest_start, plural):
                    return True
                self.i = save + 1  # neither: read on past "that" (never the same word again)
            return False
        phrases, sub_plural = self.subject()
        if phrases and self.i < len(self.words) and self._starts_verb(self.i, sub_plural):
            self._close(kind, opener, subject, subject_text, verb, rest_start, plural, end=save)
            indices = [b for b in (self.being(p, as_subject=True) for p in phrases) if b is not None]
            for p in phrases:
                self._condition_or_place(p, place_context=False)
            text = " and ".join(_join(p.words) for p in phrases)
            self.clause(word, word, indices, text, sub_plural)
            return True
        if not phrases and self.i < len(self.words) and self.lower[self.i] in PRONOUNS:
            pronoun = PRONOUNS[self.lower[self.i]]
            self.i += 1
            if self.i < len(self.words):
                self._close(kind, opener, subject, subject_text, verb, rest_start, plural, end=save)
                who = self.resolve(pronoun, subject)
                text = " and ".join(self.reading.beings[i].phrase for i in who) if who != subject else subject_text
                self.clause(word, word, who, text, pronoun == "they" or (who == subject and plural))
                return True
        self.i = save
        self._after_preposition(word)
        return False

    def _after_preposition(self, word: str, subject_plural: bool | None = None) -> None:
        """A prepositional phrase: a being, a time or weather condition, a place, or a prop.
        With `subject_plural`, it ends before a verb agreeing with the subject ("in Havana falls")."""
        self.i += 1
        phrase = self.noun_phrase(subject_plural=subject_plural)
        if phrase is None:
            return
        if word in ("as", "like") and kind_of(phrase.head, []) is not None:
            self.reading.props.append(phrase.text)  # "disguises herself as a knight": a role, not another character
            return
        if not self._condition_or_place(phrase, place_context=word in PLACE_PREPOSITIONS, text=f"{word} {phrase.text}"):
            self.reading.props.append(phrase.text)

    def _condition_or_place(self, phrase: Phrase, place_context: bool, text: str | None = None) -> bool:
        self._possessors(phrase)
        words = _parts([w.lower() for w in phrase.words])
        timing = [w for w in words if light_of(w) or w in WEATHER or w in SEASONS]
        if denotes_time(phrase.head) or (timing and phrase.head.lower() not in PLACES):
            self._note_time(words)
            self.reading.conditions.append(text or phrase.text)
            return True
        self._note_time(words)
        if kind_of(phrase.head, phrase.words[:-1]) is not None:
            self.being(phrase, as_subject=False)
            return True
        if phrase.head.lower() in NOT_PLACES and len(phrase.words) == 1:
            return False
        if place_context or singular(phrase.head) in PLACES or phrase.head.lower() in PLACES or (phrase.proper and phrase.determiner == "the"):
            if phrase.text not in self.reading.places:
                self.reading.places.append(phrase.text)
            return True
        return False

    def _note_time(self, words: list[str]) -> None:
        for w in _parts(words):
            if light_of(w) and light_of(w) not in self.reading.times:
                self.reading.times.append(light_of(w))
            if w in WEATHER and WEATHER[w] not in self.reading.weather:
                self.reading.weather.append(WEATHER[w])
            if w in SEASONS and w not in self.reading.seasons:
                self.reading.seasons.append(w)

    def _object(self, phrase: Phrase) -> None:
        if base_verb(self.verb) in COPULAS and kind_of(phrase.head, []) is not None and not phrase.proper:
            self.reading.props.append(phrase.text)  # "become friends": a complement, not more characters
            return
        if phrase.proper and not phrase.name and (place_name(phrase.words) or base_verb(self.verb) in PLACE_VERBS):
            self.reading.places.append(phrase.text)  # "crosses Europe", "reach Las Vegas": where, not who
            return
        if phrase.proper and self.being(phrase, as_subject=False) is not None:
            return
        if not self._condition_or_place(phrase, place_context=False):
            self.reading.props.append(phrase.text)

    def _close(self, kind, opener, subject, subject_text, verb, rest_start, plural, end: int | None = None) -> None:
        rest = _join(w for w in self.words[rest_start : self.i if end is None else end] if w not in (".", "!", "?", ";"))
        rest = re.sub(r"(?:,?\s*\b(?:only|just|even|then|and|but|so)\b)+$", "", rest.strip(" ,"), flags=re.IGNORECASE).strip(" ,")  # "..., only" of "only to discover"
        self.reading.clauses.append(Clause(subject, subject_text, verb, rest, kind, opener, plural))

    # --- the whole logline -------------------------------------------------------------------

    def _leading_time(self) -> bool:
        """"Every night, ..." / "One winter morning, ...": a time phrase and a comma open the logline."""
        save = self.i
        phrase = self.noun_phrase()
        if phrase is not None and denotes_time(phrase.head) and self.i < len(self.words) and self.lower[self.i] == ",":
            self._condition_or_place(phrase, place_context=False)
            return True
        self.i = save
        return False

    def parse(self) -> Reading:
        # Leading time or place phrases: "One winter night, ..." / "In 1920s Paris, ..."
        while self.i < len(self.words) and (self.lower[self.i] in PREPOSITIONS or self._leading_time()):
            if self.lower[self.i] in PREPOSITIONS:
                self._after_preposition(self.lower[self.i])
            if self.i < len(self.words) and self.lower[self.i] == ",":
                self.i += 1
        phrases, plural = self.subject()
        if phrases and self.i < len(self.words) and self.lower[self.i] == ",":
            self.i += 1
        while phrases and self.i < len(self.words) and not self._starts_verb(self.i, plural) and self.lower[self.i] not in (".", "!", "?"):
            # A description between subject and verb ("... with a broken wing ..."): read it as objects.
            word = self.lower[self.i]
            if word in PREPOSITIONS:
                self._after_preposition(word, subject_plural=plural)
            else:
                self.i += 1
        indices = [b for b in (self.being(p, as_subject=True) for p in phrases) if b is not None]
        text = " and ".join(_join(p.words) for p in phrases)
        while self.i < len(self.words):
            start = self.i
            self.clause("main" if not self.reading.clauses else "and", "", indices, text, plural)
            if self.i == start:
                self.i += 1
        return self.reading


def _names_of_group(phrases: list[Phrase]) -> list[Phrase]:
    """"Rosa and Ivan, two rival bakers" / "Two rival bakers, Rosa and Ivan": the group is what the
    named ones are, not more characters."""
    groups = [p for p in phrases if not p.proper and not p.name and p.plural]
    named = [p for p in phrases if p.proper or p.name]
    if len(groups) != 1 or len(named) < 2 or groups[0] not in (phrases[0], phrases[-1]) or groups[0].count not in (1, len(named)):
        return phrases
    group = groups[0]
    what = " ".join([*group.body.split()[:-1], singular(group.head)])
    for phrase in named:
        phrase.name, phrase.apposition = phrase.name or phrase.text, phrase.apposition or what
    return [p for p in phrases if p is not group]


# Adverbs that come before a verb and that no "-ly" gives away ("where she first performed").
_BEFORE_VERBS = {"first", "only", "also", "always", "often", "even", "soon", "already", "later", "sometimes", "ever", "once"}

# Verbs whose object does the goal: "teaches a seal to sing" -> the seal sings.
_OBJECT_CONTROL = {"teach", "help", "ask", "convince", "train", "persuade", "force", "invite", "guide", "encourage", "dare", "beg", "urge", "tell", "inspire", "push", "lead", "coax"}


def _goal_subjects(reading: Reading) -> None:
    for before, goal in zip(reading.clauses, reading.clauses[1:]):
        if goal.kind != "goal" or base_verb(before.verb) not in _OBJECT_CONTROL:
            continue
        for index, being in enumerate(reading.beings):
            if index not in before.subject and re.search(rf"\b{re.escape(being.phrase)}\b", before.rest, re.IGNORECASE):
                goal.subject, goal.subject_text, goal.plural = [index], being.phrase, being.count > 1
                break


def read(logline: str) -> Reading:
    """What the logline says: beings, places, times, weather and actions in order."""
    logline = re.sub(rf"\b({'|'.join(TITLES)})\.(?=\s+[A-Z])", r"\1", logline, flags=re.IGNORECASE)  # "Dr. Okoye"
    reading = _Parser(logline).parse()
    _goal_subjects(reading)
    for being in reading.beings:
        if being.kind == "person" and being.pronoun == "it":
            being.pronoun = "they"
    return reading
