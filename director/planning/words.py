"""The offline planner's vocabulary: closed word classes, what a head noun denotes, invented looks.

Open-class words (is this a noun, can it be a verb, its base form) come from lemminflect's lexicon
(`director.planning.reading`); these lists hold only what a lexicon cannot say: which nouns are
living beings, places, times or weather, which words mark gender, and the looks the planner invents.
"""

import re

DETERMINERS = {"a", "an", "the", "this", "that", "these", "those", "some", "every", "each", "one", "another"}
NUMBERS = {"two": 2, "three": 3, "four": 4, "both": 2, "twin": 2, "twins": 2}
POSSESSIVES = {"her": "she", "his": "he", "their": "they", "its": "it", "my": "I", "our": "we", "your": "you"}
PRONOUNS = {
    "she": "she", "he": "he", "they": "they", "him": "he", "them": "they", "it": "it",
    "herself": "she", "himself": "he", "themselves": "they", "itself": "it",
}  # fmt: skip
MODALS = {"must", "can", "could", "will", "would", "should", "may", "might", "cannot"}
# Nouns for a group that take a plural verb: "an elderly couple dance".
COLLECTIVES = {"couple", "pair", "family", "crew", "band", "gang", "team", "trio", "duo"}
# Titles written with a full stop that does not end the logline: "Dr. Okoye".
TITLES = {"dr", "mr", "mrs", "ms", "prof", "st", "sgt", "capt", "lt"}
# Words that open a new clause (or, for the dual ones, a time phrase when no verb follows).
SUBORDINATORS = {"when", "while", "before", "after", "until", "as", "because", "once", "though", "although", "unless", "whenever", "till", "where"}
RELATIVES = {"who", "that", "which"}
PREPOSITIONS = {
    "in", "on", "at", "during", "from", "to", "with", "for", "of", "by", "into", "through", "across", "over",
    "under", "above", "below", "beneath", "inside", "outside", "along", "around", "near", "between", "behind",
    "beyond", "among", "toward", "towards", "past", "within", "without", "upon", "onto", "aboard", "amid",
    "throughout", "about", "against", "like", "beside", "off", "up", "down",
}  # fmt: skip
# Prepositions after which a noun phrase is a place (unless it names a time, weather or a being).
PLACE_PREPOSITIONS = {
    "in", "on", "at", "from", "into", "through", "across", "over", "under", "beneath", "inside", "outside", "along",
    "around", "near", "behind", "beyond", "among", "toward", "towards", "past", "within", "upon", "onto", "aboard",
    "amid", "throughout", "to", "beside", "below", "above",
}  # fmt: skip
AUXILIARIES = {
    "must", "can", "could", "will", "would", "should", "may", "might", "is", "are", "was", "were", "be", "been",
    "has", "have", "had", "does", "do", "did", "gets", "get", "got", "tries", "try", "needs", "need", "wants",
    "want", "learns", "learn", "decides", "decide", "sets", "set", "begins", "begin", "starts", "start",
}  # fmt: skip
# Heads of closed compounds that name a being: "schoolboy", "policewoman", "sheepdog", "dragonfly".
# (Not every noun: "assistant" does not end in an ant, nor "season" in a son.)
PEOPLE_HEADS = {"boy", "girl", "man", "woman", "maker", "keeper", "smith", "herd", "rider", "driver", "mother", "father", "child", "wife", "master", "maid", "monger", "guard", "lord", "lady", "wright", "worker", "fighter", "hunter", "seller", "dancer", "singer", "player", "walker", "watcher"}
ANIMAL_HEADS = {"dog", "cat", "bird", "fish", "fly", "horse", "wolf", "bear", "hound", "bug", "worm", "fowl"}
# Verbs whose object is a complement, not another character: "become friends", "remain rivals".
COPULAS = {"be", "become", "remain", "seem", "appear", "stay"}
# Nouns that follow a place preposition in idioms without being places: "in love", "in trouble".
NOT_PLACES = {
    "love", "trouble", "time", "vain", "secret", "silence", "hope", "fear", "search", "order", "hand", "peace",
    "danger", "charge", "touch", "pursuit", "tears", "awe", "turn", "shock", "debt", "luck", "step", "sync",
}  # fmt: skip
ADVERBS = {"not", "never", "finally", "secretly", "slowly", "together", "home", "away", "back", "out", "off", "again", "just", "still"}

# Beings: a noun phrase headed by one of these is a character wherever it stands.
PEOPLE = set(
    """keeper astronaut granddaughter grandson grandmother grandfather grandma grandpa violinist child girl boy woman
    man baker robot knight princess prince king queen witch wizard detective fisherman farmer sailor pilot soldier
    doctor nurse teacher student painter artist musician singer dancer monk nun priest thief pirate captain
    explorer scientist inventor chef waiter waitress writer poet boxer runner climber diver hunter guard mother
    father sister brother son daughter friend stranger orphan widow widower courier mechanic librarian gardener
    shepherd miner clown magician puppeteer mermaid giant fairy elf dwarf goblin android cyborg ghost alien
    apprentice clockmaker watchmaker blacksmith tailor potter carpenter cook butcher sheriff cowboy samurai ninja
    monarch emperor empress duke duchess lady lord maid butler nanny kid teenager toddler baby twin aunt uncle
    niece nephew cousin husband wife bride groom vet ranger photographer journalist reporter lawyer judge
    mayor thief burglar spy agent cop officer firefighter paramedic surgeon engineer programmer hacker
    architect mathematician botanist astronomer archaeologist historian professor tutor coach athlete
    skater surfer swimmer cyclist driver trucker conductor porter beekeeper cheesemaker winemaker
    vendor merchant shopkeeper grocer florist barber hairdresser actor actress comedian acrobat juggler
    drummer guitarist pianist cellist composer conductor dj rapper poet storyteller monk healer shaman
    villager refugee traveller traveler tourist pilgrim nomad hermit veteran survivor rebel outlaw
    hero heroine villain rival partner neighbour neighbor roommate classmate colleague boss intern
    sumo wrestler retiree pensioner widow orphan heir heiress mermaid vampire werewolf zombie witch
    sorcerer sorceress oracle prophet sage scholar scribe cartographer navigator smuggler fisherwoman
    seamstress weaver dressmaker toymaker locksmith glassblower jeweller jeweler lighthousekeeper
    ferryman boatman gondolier lumberjack woodcutter hunter trapper rancher shepherdess milkmaid
    caretaker janitor cleaner gravedigger undertaker detective inspector constable grandparent parent
    owner master mistress customer passenger visitor guest host neighbour stepmother stepfather walker rider
    critic prodigy couple crew researcher plumber banker skier bartender wanderer clerk barista sculptor
    cosmonaut novelist archivist biologist geologist veterinarian ventriloquist""".split()
)
ANIMALS = set(
    """fox toucan cat dog owl bird wolf bear deer rabbit hare horse pony mouse rat whale dolphin octopus turtle
    tortoise elephant lion tiger monkey ape gorilla crow raven cub puppy kitten heron bee dragon seal otter
    penguin parrot eagle hawk falcon swan duck goose chicken hen rooster pig cow goat sheep lamb donkey mule
    camel llama alpaca frog toad snake lizard chameleon gecko crocodile alligator shark fish goldfish squirrel
    hedgehog badger beaver raccoon skunk moose elk bison buffalo zebra giraffe hippo rhino kangaroo koala
    panda sloth bat butterfly moth spider ant beetle snail crab lobster jellyfish unicorn phoenix griffin
    kraken yeti stag doe fawn foal calf kid bull ox sparrow robin pigeon dove magpie seagull gull pelican
    flamingo stork crane ostrich peacock hummingbird woodpecker mole ferret weasel lynx leopard cheetah
    jaguar panther coyote jackal hyena walrus narwhal manatee stingray salmon trout""".split()
)
MACHINES = {"drone", "robot", "android", "cyborg", "automaton", "droid", "machine", "golem", "ai", "computer", "rover"}
MECHANICAL = {"mechanical", "clockwork", "robotic", "tin", "wind-up", "steam-powered"}  # "a mechanical bird" looks like a machine
# Vehicles carry characters; one is a character itself only with a will of its own ("a talking car").
VEHICLES = {
    "car", "truck", "train", "ship", "boat", "bus", "tram", "bicycle", "bike", "plane", "airplane", "aeroplane",
    "submarine", "rocket", "taxi", "cab", "van", "tractor", "ferry", "yacht", "canoe", "kayak", "sled", "sledge",
    "balloon", "motorcycle", "motorbike", "scooter", "spaceship", "starship", "airship", "helicopter", "raft",
    "carriage", "wagon", "cart", "barge", "steamer", "liner", "jeep", "limousine", "satellite", "shuttle",
}  # fmt: skip
# Abstractions and forces of nature: never characters, even as the subject ("Hope returns ...").
ABSTRACT = {
    "hope", "love", "fear", "time", "death", "life", "fate", "destiny", "memory", "memories", "war", "peace", "silence",
    "darkness", "light", "music", "magic", "change", "trouble", "grief", "joy", "winter", "summer", "autumn", "spring",
    "night", "day", "morning", "evening", "history", "truth", "justice", "freedom", "luck", "chaos", "news", "rumour",
    "rumor", "word", "spirit", "revenge", "greed", "envy", "anger", "sorrow", "happiness", "wind", "rain", "snow",
    "fire", "flood", "storm", "drought", "plague", "famine", "disease", "illness", "tradition", "progress", "science",
}  # fmt: skip
ABSTRACT_SUFFIXES = ("ness", "ity", "tion", "sion", "ment", "ism", "dom", "hood", "ship", "ance", "ence")
# Names of places (continents, countries, large cities) that would otherwise read as people's names.
PLACE_NAMES = set(
    """europe asia africa america americas antarctica australia oceania arctic earth mars venus jupiter saturn
    moon sahara amazon himalayas alps andes siberia patagonia brazil argentina chile peru mexico canada
    cuba jamaica haiti france spain portugal italy germany austria poland russia ukraine greece turkey egypt
    morocco kenya nigeria ghana ethiopia india china japan korea vietnam thailand indonesia iran iraq israel
    ireland scotland england wales iceland norway sweden finland denmark netherlands belgium switzerland
    paris london berlin rome madrid lisbon vienna prague budapest warsaw moscow istanbul cairo lagos accra
    nairobi marrakech casablanca tokyo kyoto osaka seoul beijing shanghai delhi mumbai bangkok manila
    jakarta sydney melbourne auckland havana lima bogota rio santiago venice naples florence milan
    barcelona dublin edinburgh amsterdam brussels athens oslo stockholm copenhagen helsinki reykjavik
    galway berlin kansas texas california alaska york orleans vegas angeles francisco chicago boston
    seattle detroit tibet mongolia arabia gaza jerusalem baghdad tehran kabul karachi dhaka kolkata
    hollywood broadway manhattan brooklyn harlem""".split()
)
PLACE_NAME_PREFIXES = {"new", "las", "los", "san", "santa", "saint", "st", "port", "fort", "lake", "mount", "cape", "el", "la", "le", "rio"}
# Verbs whose object is a place: "reach Las Vegas", "tour Europe".
PLACE_VERBS = {"reach", "visit", "leave", "tour", "enter", "explore", "cross", "flee", "roam", "conquer", "invade", "rule", "travel", "sail", "fly", "drive", "walk", "return"}
# Clock times: "3 AM", "6 p.m.", "9 o'clock".
# Adjectives that give an object a will of its own ("a talking teapot").
AGENCY = {"talking", "sentient", "living", "walking", "singing", "dancing", "runaway", "enchanted", "magic", "magical", "curious", "lonely", "brave", "mischievous", "clockwork", "mechanical"}
FEMALE = {
    "woman", "girl", "grandmother", "grandma", "granddaughter", "mother", "mom", "mum", "sister", "daughter", "aunt",
    "niece", "wife", "bride", "widow", "queen", "princess", "empress", "duchess", "lady", "nun", "witch", "waitress",
    "actress", "heroine", "heiress", "maid", "mermaid", "sorceress", "seamstress", "fisherwoman", "shepherdess",
    "milkmaid", "ballerina", "hen", "doe", "cow",
}  # fmt: skip
MALE = {
    "man", "boy", "grandfather", "grandpa", "grandson", "father", "dad", "brother", "son", "uncle", "nephew",
    "husband", "groom", "widower", "king", "prince", "emperor", "duke", "lord", "monk", "waiter", "actor", "butler",
    "fisherman", "ferryman", "boatman", "cowboy", "rooster", "bull", "stag",
}  # fmt: skip
# A few given names of each gender, from many languages; any other name keeps "they".
FEMALE_NAMES = set(
    """mary maria marie ana anna ane hanna hannah sofia sophie lucia lucía elena helena olga irina yuki hana
    mei ling aiko sakura priya ananya aisha fatima leila layla amara zara nadia ingrid astrid freya sigrid
    amélie chloé zoë zoe emma olivia ava mia rosa rose lily grace clara alice eva ewa agnieszka katarzyna
    chiara giulia francesca carmen isabel isabella lucy margaret martha sarah ruth esther miriam noor
    amina chioma ngozi adaeze kemi xiu mei-lin soo-ah jiwoo nour""".split()
)
MALE_NAMES = set(
    """john james peter pedro pierre jean juan josé jose carlos luis miguel diego mateo ivan dmitri sergei
    kenji hiro hiroshi takeshi kenta raj arjun rahul omar ahmed hassan ali tariq kwame kofi chidi emeka
    lars erik björn bjorn sven olaf thomas tom jack oliver noah liam lucas marco luca giovanni paolo
    hans karl klaus felix max samuel david daniel michael joseph wei jun minho jae-won""".split()
)
PLACES = set(
    """lighthouse island rooftop rooftops roof village town city forest rainforest jungle desert mountain mountains
    valley river lake sea ocean beach harbour harbor port station library bakery kitchen cafe café bar market
    street streets alley garden park field fields farm castle palace temple church school hospital laboratory lab
    factory workshop studio theatre theater apartment house home cabin tent cave canyon bridge tower space
    spaceship planet moon mars orbit subway tunnel museum arena stadium shore coast cliff cliffs meadow swamp
    glacier tundra seaside countryside suburb metropolis neighbourhood neighborhood courtyard attic basement
    cellar barn mill windmill vineyard orchard greenhouse observatory lab bookshop shop store restaurant diner
    hotel inn motel tavern pub circus fairground carnival zoo aquarium airport runway highway road railway
    platform dock docks pier wharf marina quay boardwalk promenade square plaza bazaar souk ruins kingdom
    realm empire capital outskirts slum slums wasteland wilderness woods woodland grove marsh bog delta
    bay lagoon reef archipelago volcano peak summit ridge hill hills plateau steppe savanna prairie
    oasis dunes gorge waterfall spring well mine quarry camp base outpost colony station""".split()
)
# Places also spoken of without a preposition ("restore the carousel" is a prop; "the town" is a place).
TIMES = {
    "night": "night", "midnight": "night", "nightfall": "night", "overnight": "night", "tonight": "night", "moonlight": "night", "moonlit": "night",
    "dawn": "dawn", "sunrise": "dawn", "daybreak": "dawn", "morning": "morning", "noon": "day", "afternoon": "day",
    "day": "day", "daytime": "day", "dusk": "dusk", "sunset": "dusk", "twilight": "dusk", "evening": "evening",
    "eve": "evening",
}  # fmt: skip
CLOCK = r"\d{1,2}(?::\d\d)?\s?(?:[aApP]\.?[mM]\b\.?|o['’]clock)"


def clock_light(text: str) -> str:
    """The lighting of a clock time: "3 AM" is night, "6 PM" dusk."""
    match = re.fullmatch(r"(\d{1,2})(?::\d\d)?\s?(?:([aApP])\.?[mM]\.?|o['’]clock)", text.strip())
    if not match:
        return ""
    hour = int(match.group(1)) % 12 + (12 if (match.group(2) or "a").lower() == "p" else 0)
    return "night" if hour < 5 or hour >= 22 else "dawn" if hour < 7 else "morning" if hour < 11 else "day" if hour < 17 else "dusk" if hour < 20 else "evening"


SEASONS = {"winter", "summer", "autumn", "fall", "spring"}
# Weather words and the sky the animatic draws for them.
WEATHER = {
    "storm": "storm", "stormy": "storm", "thunderstorm": "storm", "hurricane": "storm", "typhoon": "storm",
    "cyclone": "storm", "gale": "storm", "monsoon": "rain", "rain": "rain", "rainy": "rain", "downpour": "rain",
    "drizzle": "rain", "flood": "rain", "snow": "snow", "snowy": "snow", "snowstorm": "snow", "blizzard": "snow",
    "snowfall": "snow", "fog": "fog", "foggy": "fog", "mist": "fog", "misty": "fog", "haze": "fog",
    "heatwave": "heat", "drought": "heat", "sandstorm": "dust", "eclipse": "eclipse", "wind": "wind", "windy": "wind",
}  # fmt: skip
EVENTS = {
    "fair", "festival", "wedding", "war", "carnival", "holiday", "christmas", "race", "tournament", "harvest", "exam",
    "competition", "concert", "election", "funeral", "parade", "feast", "ceremony", "contest", "game", "match",
    "championship", "olympics", "coronation", "blackout", "siege", "invasion", "outbreak", "lockdown", "week",
    "weekend", "year", "month", "summer", "winter", "autumn", "spring", "fall", "season", "dinner", "party",
}  # fmt: skip
# How the animatic and the prompts say a weather word in a setting.
WEATHER_PHRASES = {
    "storm": "howling wind and driving rain", "rain": "steady rain", "snow": "falling snow", "fog": "drifting fog",
    "heat": "shimmering heat", "dust": "blowing dust", "eclipse": "the dim light of an eclipse", "wind": "gusting wind",
}  # fmt: skip
SEASON_PHRASES = {
    "winter": "frost and pale winter light", "summer": "warm summer haze", "autumn": "falling autumn leaves",
    "fall": "falling autumn leaves", "spring": "fresh spring light",
}  # fmt: skip

# Invented looks: (hair or fur, clothes or detail); gendered lists keep "her" from getting a beard.
NEUTRAL_LOOKS = [
    "with short black hair, round glasses and a mustard scarf",
    "with curly red hair and a green raincoat",
    "with freckles, a yellow knitted hat and a brown corduroy jacket",
    "with cropped grey hair and a faded blue work jacket",
    "with a dark braid and an orange padded vest",
    "with tousled brown hair and a patched denim coat",
]
# Age words of a character's phrase, and the looks that show age: no grey hair on "a little girl".
YOUNG = {"little", "young", "child", "kid", "boy", "girl", "baby", "toddler", "teen", "teenage", "teenager", "schoolgirl", "schoolboy",
         "youngster", "grandson", "granddaughter", "grandchild"}
OLD = {"old", "elderly", "aged", "ageing", "aging", "grandmother", "grandfather", "granny", "grandma", "grandpa", "retired", "ancient"}
AGED_LOOK = r"\b(?:grey|silver)\b[^,]*\b(?:hair|beard)\b|\bweathered\b"  # what shows age
ADULT_LOOK = AGED_LOOK + r"|\b(?:beard|moustache)\b"  # what a child cannot have
FEMALE_LOOKS = [
    "with long silver hair tied back and a white linen blouse",
    "with a dark bob, gold earrings and a crimson wool coat",
    "with her hair in a loose bun and a teal cardigan",
]
MALE_LOOKS = [
    "with a grey beard and a navy wool coat",
    "with a shaved head and a weathered leather jacket",
    "with a trimmed black moustache and a tan waistcoat",
]
ANIMAL_LOOKS = [
    "with a torn left ear and rust-red fur",
    "with a white blaze on its chest and bright amber eyes",
    "with sleek black fur and a crooked tail",
    "with a speckled grey coat and a blue collar",
    "with a notched ear and a crooked tail",
    "with one floppy ear and a scarred muzzle",
]
# Animals whose body is not fur: feathers, fins, scales, wings and shells each get their own looks.
COVERINGS = {
    "feathers": set("""bird owl toucan crow raven heron penguin parrot eagle hawk falcon swan duck goose chicken hen rooster
        sparrow robin pigeon dove magpie seagull gull pelican flamingo stork crane ostrich peacock hummingbird woodpecker
        phoenix""".split()),
    "fins": set("fish goldfish shark whale dolphin salmon trout stingray narwhal manatee octopus jellyfish kraken".split()),
    "scales": set("dragon snake lizard chameleon gecko crocodile alligator frog toad turtle tortoise".split()),
    "wings": set("bee butterfly moth fly dragonfly".split()),
    "shells": set("beetle snail crab lobster ant spider bug worm ladybird ladybug".split()),
}
COVERING_LOOKS = {
    "feathers": ["with glossy black feathers and a bright orange beak", "with speckled brown wings and a white-tipped tail",
                 "with blue-grey plumage and a red crest", "with ruffled feathers and one bent tail feather",
                 "with a chipped beak and a ragged wing"],
    "fins": ["with shimmering silver scales and a torn fin", "with orange-and-white stripes and a ragged tail fin",
             "with a spotted green back and bright gold eyes", "with a nicked fin and a scar along its side",
             "with a split tail fin and one cloudy eye"],
    "scales": ["with emerald-green scales and a notched tail", "with rough grey scales and bright amber eyes",
               "with copper-red scales and a broken horn", "with a scarred snout and a notched tail",
               "with a broken horn and one clouded eye"],
    "wings": ["with striped amber wings and a bent antenna", "with pale spotted wings and a fuzzy body",
              "with dusty blue wings and a torn edge", "with a bent antenna and a nicked wing", "with one torn wing and a fuzzy body"],
    "shells": ["with a glossy black shell and red spots", "with a chipped brown shell and long feelers",
               "with a scratched green shell and one bent leg", "with a chipped shell and one bent leg", "with a cracked shell and long feelers"],
}
MACHINE_LOOKS = [
    "with a scuffed white shell and one blue status light",
    "with copper panels and a cracked round lens",
    "with dented green plating and a yellow warning stripe",
]
# Colour words, for a look that must not contradict a colour the user gave ("a golden fish") and
# for a new look that replaces a colour (director.revision.looks).
COLOURS = (
    "red|blue|green|yellow|orange|purple|violet|pink|brown|black|white|grey|gray|silver|golden|gold|mustard|amber|crimson|"
    "scarlet|navy|teal|ginger|auburn|blond|blonde|copper|tan|beige|cream|ivory|maroon|olive|turquoise|rust|russet|tawny|"
    "lilac|indigo|emerald|charcoal|sandy|chestnut|bronze"
)
# Added to a look when a story has more characters of a kind than the list has looks.
EXTRA_DETAILS = ["a red ribbon", "a silver pendant", "a checked scarf", "a pale blue cap", "a brass badge", "a long green scarf", "a white sash", "a black armband"]
THING_LOOKS = ["worn smooth with age, with one bright red detail", "painted in faded blue and gold"]
STYLES = [
    "cinematic, natural light, soft film grain, 35mm",
    "painterly animated film look, warm palette, gentle depth of field",
    "cinematic, muted colours, overcast soft light, anamorphic lens",
]

# Shot sizes and camera moves the animatic knows how to draw.
OPENING_CAMERA = ("wide establishing shot", "slow push-in")
CAMERAS = [
    ("medium shot", "slow pan right"),
    ("close-up", "slow push-in"),
    ("over-the-shoulder shot", "steady camera"),
    ("wide shot", "tracking shot following the movement"),
    ("medium shot", "slow pan left"),
    ("close-up", "steady camera"),
]
# How a beat is seen again when a long story comes back to it (no two shots of a story repeat).
VIEWS = [
    "seen from a low angle", "seen from high above", "seen from behind", "in silhouette against the light",
    "framed through a doorway", "reflected in a window", "seen from far off", "half in shadow",
    "with the faces in sharp focus", "with hands and small gestures in detail", "seen through falling dust",
    "seen from the side",
]  # fmt: skip
LIGHT = {
    "dawn": "pale pink dawn light",
    "morning": "clear bright morning light",
    "day": "soft daylight",
    "dusk": "amber dusk light and long shadows",
    "evening": "warm lamp light against a blue evening",
    "night": "cold blue moonlight and warm practical lights",
}
# The same times under low cloud: a storm, rain, snow or fog takes the sun out of the light.
OVERCAST_LIGHT = {
    "dawn": "a faint grey dawn",
    "morning": "dim grey morning light",
    "day": "flat grey daylight under low cloud",
    "dusk": "failing grey light at dusk",
    "evening": "lamp light against a dark grey evening",
    "night": "darkness broken by warm practical lights",
}
OVERCAST = ("storm", "rain", "snow", "fog")


def light_for(time_of_day: str, setting: str, default: str) -> str:
    """The prompt's light for a scene: its time of day, grey when the setting's weather is overcast
    (no "clear bright morning light" in a winter storm)."""
    lights = OVERCAST_LIGHT if any(WEATHER_PHRASES[w] in setting for w in OVERCAST) else LIGHT
    return lights.get(time_of_day, default)


# Lighting times for scenes when the logline names none: the story moves through a day.
DAY_ARC = {2: ["day", "dusk"], 3: ["morning", "day", "dusk"], 4: ["morning", "day", "dusk", "evening"]}
