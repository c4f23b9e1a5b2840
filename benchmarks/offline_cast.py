"""The offline planner's cast against a hand-written one: precision (characters of the script that
are the logline's) beside recall (the logline's characters the script has), over loglines that are
in no test. Each logline is followed by its cast as a reader finds it: named beings by name, common
nouns by their head, one key per member of a group. A key matches a character whose name holds it.

Run: python benchmarks/offline_cast.py [--show]   (--show prints every miss)
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from director.planning.offline import OfflinePlanner

# logline | cast keys, comma-separated
CASES = """
A retired astronaut teaches her granddaughter to read the stars from a rooftop in Lisbon. | astronaut, granddaughter
A street violinist in 1920s Vienna loses his violin and finds it in the hands of a child. | violinist, child
A small delivery drone gets lost in a rainforest and is guided home by a toucan. | drone, toucan
Two rival bakers in a mountain village must bake a wedding cake together overnight. | baker, baker
An old fisherman named Santiago fights a giant marlin far out at sea. | Santiago
Priya, a young chess prodigy, challenges her grandfather to one last game. | Priya, grandfather
A boy and his grandmother ride a night train across Siberia in winter. | boy, grandmother
The last tree in a dying city is guarded by a stubborn old gardener. | gardener
A lost penguin waddles through the streets of Buenos Aires looking for the sea. | penguin
Three sisters inherit a crumbling hotel on the Amalfi coast. | sister, sister, sister
A wolf and a raven share a winter in the frozen north. | wolf, raven
Captain Ahmed and his crew search the Red Sea for a sunken ship. | Ahmed
A shy librarian falls in love with a ghost who lives in the archives. | librarian, ghost
Oliver, a clumsy apprentice wizard, accidentally turns his teacher into a frog. | Oliver, teacher
A mother and her son drive across America in an old van. | mother, son
A robot gardener tends the last rose on Mars. | gardener
Two brothers, Tomas and Pablo, open a taco stand in Mexico City. | Tomas, Pablo
A detective named Rivera hunts a jewel thief through the canals of Venice. | Rivera, thief
In a flooded future London, a young diver searches sunken museums for treasure. | diver
A snowman comes to life and befriends a lonely girl. | snowman, girl
A grumpy cat and a cheerful puppy must share a small apartment. | cat, puppy
The queen sends her bravest knight to slay a dragon, but the knight befriends it. | queen, knight, dragon
Aiko and her grandfather fold a thousand paper cranes for a festival in Kyoto. | Aiko, grandfather
A teenage hacker discovers that her smart fridge is plotting against her. | hacker, fridge
An elderly couple dance in their kitchen during a power cut. | couple
A young monk climbs a mountain to ring a bell at dawn. | monk
During a blizzard, a doctor travels by sled to save a sick child in a remote village. | doctor, child
A baby elephant is separated from its herd and is raised by a kind ranger. | elephant, ranger
Leila, a taxi driver in Tehran, picks up a mysterious passenger at midnight. | Leila, passenger
A firefighter rescues a kitten from a burning building and keeps it. | firefighter, kitten
The ghost of a pirate haunts a lighthouse until a brave girl helps him find peace. | ghost, girl
A farmer and his daughter race a tornado to bring the cattle home. | farmer, daughter
A nervous bride runs away from her wedding on a motorbike. | bride
An owl, a mouse and a hedgehog build a raft to escape a flood. | owl, mouse, hedgehog
Dr. Okoye invents a machine that lets her talk to whales. | Okoye
Two old soldiers meet again on a beach in Normandy fifty years after the war. | soldier, soldier
A little boy named Ravi builds a kite from newspapers and flies it over Mumbai. | Ravi
An astronaut stranded on the Moon grows potatoes to survive. | astronaut
A circus strongman falls for a tightrope walker. | strongman, walker
A magician loses his rabbit in Paris and searches the city by night. | magician, rabbit
A young chef and a food critic get trapped in a restaurant during a storm. | chef, critic
The king's youngest daughter disguises herself as a knight to win a tournament. | king, daughter
A parrot who can only say one word helps a detective solve a murder. | parrot, detective
A tired delivery rider crosses Tokyo at 2 AM in the rain. | rider
An orphan and a stray dog survive a winter in the ruins of Berlin. | orphan, dog
Marta and Jonas, two grieving siblings, sail their father's boat to Norway. | Marta, Jonas, father
A giant and a tiny fairy become unlikely friends in an enchanted forest. | giant, fairy
A lonely lighthouse turns on its light one last time for a lost ship. |
The wind carries a red balloon across Paris, and a small boy follows it. | boy
Grandpa Joe and his grandson build a treehouse in the summer. | Joe, grandson
A young witch opens a delivery service and flies over the city on her broom. | witch
A mail plane pilot crash-lands in the Sahara and meets a little prince. | pilot, prince
A sheep escapes the farm and joins a city marathon. | sheep
A scientist clones her dog, but the clone has other plans. | scientist, dog, clone
Hana, a shy violinist, plays for the old man next door every evening. | Hana, man
A crow teaches a lonely boy to talk to birds. | crow, boy
An ice cream truck driver and a little girl save a heatwave-struck town. | driver, girl
""".strip().splitlines()

# Written after the set above had shaped the reader; at first reading: precision 94.6%, recall 92.1%, exact 80%.
FRESH = """
A retired boxer and his granddaughter restore an old gym in Detroit. | boxer, granddaughter
Sofia, a marine biologist, follows a humpback whale from Hawaii to Alaska. | Sofia, whale
Two foxes and a badger share a burrow through a hard winter. | fox, fox, badger
A street artist named Kai paints a mural that comes alive at night. | Kai, mural
The moon falls in love with a lighthouse keeper. | moon, keeper
A boy finds a wounded eagle and nurses it back to health before spring. | boy, eagle
An old tailor sews a coat for a mysterious stranger who never pays. | tailor, stranger
Three kittens get lost in a department store on Christmas Eve. | kitten, kitten, kitten
A young pilot and her co-pilot crash-land on a frozen lake. | pilot, co-pilot
During the monsoon, a tea picker and her daughter shelter in a temple. | picker, daughter
A lonely whale sings a song that no other whale can hear. | whale
Professor Lin and her assistant discover a hidden city under the ice. | Lin, assistant
A toy soldier guards a little girl's bedroom from the shadows. | soldier, girl
A baker and a firefighter fall in love during a heatwave in Madrid. | baker, firefighter
The old dog waits every day at the station for his owner. | dog, owner
A tiny robot cleans the streets of an abandoned city and finds a flower. | robot
Miguel and his abuela cook tamales for the Day of the Dead. | Miguel, abuela
A goat climbs to the top of a dam and refuses to come down. | goat
An astronaut and an alien trade songs across the rings of Saturn. | astronaut, alien
A nervous groom searches a crowded market for his lost ring. | groom
""".strip().splitlines()


def _score(planner: OfflinePlanner, cases: list[str], show: bool) -> tuple[int, int, int, int, int]:
    kept = planned = expected = exact = 0
    for line in cases:
        logline, _, keys = line.partition("|")
        cast = [k.strip() for k in keys.split(",") if k.strip()]
        names = [c.name for c in planner.plan(logline.strip(), 8, 0).characters]
        unmatched, hits = list(names), 0
        for key in cast:
            match = next((n for n in unmatched if _holds(n, key)), None)
            if match is not None:
                unmatched.remove(match)
                hits += 1
        kept, planned, expected = kept + hits, planned + len(names), expected + len(cast)
        exact += hits == len(cast) == len(names)
        if show and not hits == len(cast) == len(names):
            print(f"  {logline.strip()}\n    planned {names}; expected {cast}")
    return kept, planned, expected, exact, len(cases)


def _holds(name: str, key: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(key.lower())}(?:s|es)?(?!\w)", name.lower()) is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every logline whose cast is not exact")
    args = parser.parse_args()
    planner = OfflinePlanner()
    started = time.perf_counter()
    for title, cases in (("held-out loglines", CASES), ("loglines written afterwards", FRESH)):
        kept, planned, expected, exact, count = _score(planner, cases, args.show)
        print(f"offline planner cast over {count} {title}")
        print(f"  precision {kept / max(planned, 1):.1%} ({kept} of {planned} planned characters are the logline's)")
        print(f"  recall    {kept / max(expected, 1):.1%} ({kept} of {expected} of the logline's characters planned)")
        print(f"  exact     {exact / count:.1%} ({exact} of {count} loglines with exactly the logline's cast)")
    plans = len(CASES) + len(FRESH)
    print(f"{(time.perf_counter() - started) / plans * 1000:.1f} ms a plan of 8 shots ({plans} plans, lexicon loaded once)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
