"""The offline planner's vocabulary: what it recognises in a logline and what it invents.

Kept apart from the rules in `director.planning.offline` so the lists can grow without touching them.
"""

CREATURES = set(
    """keeper fox astronaut granddaughter grandson grandmother grandfather violinist child girl boy woman man
    drone toucan baker bakers robot cat dog knight princess prince king queen witch wizard dragon detective
    fisherman fishermen farmer sailor pilot soldier doctor nurse teacher student painter artist musician
    singer dancer monk nun priest thief pirate explorer scientist inventor chef waiter writer poet owl bird
    wolf bear deer rabbit horse mouse whale dolphin octopus turtle elephant lion tiger monkey ghost alien
    boxer runner climber diver hunter guard mother father sister brother son daughter friend stranger
    orphan widow soldier courier mechanic librarian gardener shepherd miner clown magician puppeteer
    mermaid giant fairy elf dwarf goblin android cyborg crow raven fox cub puppy kitten heron bee""".split()
)
PLACES = set(
    """lighthouse island rooftop roof village town city forest rainforest jungle desert mountain mountains
    valley river lake sea ocean beach harbour harbor port station train ship boat library bakery kitchen
    cafe bar market street alley garden park field farm castle palace temple church school hospital
    laboratory lab factory workshop studio theatre theater apartment house home cabin tent cave canyon
    bridge tower space spaceship planet moon mars orbit subway tunnel museum arena stadium lisbon vienna
    paris tokyo london rome venice berlin shore coast cliff meadow swamp glacier tundra""".split()
)
WEATHER = {
    "storm": "howling wind and driving snow" ,
    "snow": "falling snow",
    "winter": "frost and pale winter light",
    "rain": "steady rain",
    "fog": "drifting fog",
    "summer": "warm summer haze",
    "autumn": "falling autumn leaves",
    "spring": "fresh spring light",
    "night": "deep night",
}
DETERMINERS = {"a", "an", "the", "two", "three", "her", "his", "their", "its", "my", "our", "some"}
STOP = {
    "in", "on", "at", "during", "from", "to", "with", "for", "of", "by", "into", "through", "after", "before",
    "and", "who", "that", "while", "when", "but", "or", "as", "is", "are", "was", "must", "can", "will", "gets",
}


PERSON_LOOKS = [
    "with a grey beard and a navy wool coat",
    "with short black hair, round glasses and a mustard scarf",
    "with curly red hair and a green raincoat",
    "with a shaved head and a weathered leather jacket",
    "with long silver hair tied back and a white linen shirt",
    "with freckles, a yellow knitted hat and a brown corduroy jacket",
]
ANIMAL_LOOKS = [
    "with a torn left ear and rust-red fur",
    "with a white blaze on its chest and bright amber eyes",
    "with sleek black fur and a crooked tail",
    "with a speckled grey coat and a blue collar",
]
MACHINE_LOOKS = ["with a scuffed white shell and one blue status light", "with copper panels and a cracked round lens"]
ANIMALS = set(
    "fox toucan cat dog owl bird wolf bear deer rabbit horse mouse whale dolphin octopus turtle elephant lion tiger "
    "monkey crow raven cub puppy kitten heron bee dragon".split()
)
MACHINES = {"drone", "robot", "android", "cyborg", "spaceship"}
STYLES = [
    "cinematic, natural light, soft film grain, 35mm",
    "painterly animated film look, warm palette, gentle depth of field",
    "cinematic, muted colours, overcast soft light, anamorphic lens",
]


ARCS = [
    ("establish the world and the hero", "{hero} arrives and takes in the place"),
    ("the meeting", "{hero} notices {other} for the first time and hesitates"),
    ("the bond grows", "{hero} and {other} share a quiet moment side by side"),
    ("the turn and the resolution", "{hero} and {other} face the moment that changes everything"),
]
TIMES = {2: ["dusk", "morning"], 3: ["dusk", "night", "morning"], 4: ["day", "dusk", "night", "morning"]}
CAMERAS = [
    ("wide establishing shot", "slow push-in"),
    ("medium shot", "steady camera"),
    ("close-up", "shallow depth of field"),
    ("over-the-shoulder shot", "gentle handheld"),
    ("low angle shot", "slow tilt up"),
    ("tracking shot", "camera follows the movement"),
]
LIGHT = {
    "dawn": "pale pink dawn light",
    "morning": "clear bright morning light",
    "day": "soft daylight",
    "dusk": "amber dusk light and long shadows",
    "evening": "warm lamp light against a blue evening",
    "night": "cold blue moonlight and warm practical lights",
}


# Verb phrases with {s}/{es} where the verb agrees with one subject or several.
BEATS = [
    "pause{s} and look{s} around",
    "turn{s}, eyes widening in surprise",
    "reach{es} out slowly",
    "move{s} on with new purpose",
    "stop{s} and listen{s} to the wind",
]
