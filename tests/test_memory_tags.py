"""Memory edits name real characters: a tag or a reference's character that is no character of the
story is one line, exit 2, with the closest name, and the bank is left as it was."""

from __future__ import annotations

import pytest

from director.frontends.cli import main
from memory.tags import story_tags

FAST = ["--backend", "preview", "--planner", "offline", "--size", "64x48", "--frames", "17", "--embedder", "colour-structure", "--quality-scorer", "heuristic"]
CAST = {"Mara": "a lighthouse keeper with a grey beard", "the fox": "a fox with rust-red fur"}


def test_tags_are_the_scripts_names():
    assert story_tags(["mara", "The Fox", "the lighthouse keeper"], CAST) == ["Mara", "the fox", "Mara"]
    with pytest.raises(ValueError, match=r"^'Mar' is no character of this story; did you mean 'Mara'\? \(its characters: 'Mara', 'the fox'\)$"):
        story_tags(["Mar"], CAST)
    with pytest.raises(ValueError, match=r"^'Zorro' is no character of this story; \(its characters"):
        story_tags(["Zorro"], CAST)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tags") / "story"
    assert main(["make", "A lighthouse keeper named Mara befriends a fox.", "--shots", "2", "--out", str(folder), *FAST]) == 0
    return folder


@pytest.mark.parametrize(
    "edit, message",
    [
        (["tag", "m0001", "Nobody"], "'Nobody' is no character of this story"),
        (["tag", "m0001", "Marra"], "did you mean 'Mara'?"),
        (["add", "IMAGE", "--character", "Zorro"], "'Zorro' is no character of this story"),
    ],
)
def test_an_edit_naming_no_character_is_refused(folder, tmp_path, capsys, edit, message):
    from PIL import Image

    image = tmp_path / "face.png"
    Image.new("RGB", (32, 24), (200, 10, 10)).save(image)
    bank = (folder / "memory" / "bank.json").read_bytes()
    capsys.readouterr()
    assert main(["memory", str(folder), *[str(image) if a == "IMAGE" else a for a in edit]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert (folder / "memory" / "bank.json").read_bytes() == bank  # nothing changed
    assert main(["memory", str(folder), "tag", "m0001", "mara"]) == 0  # a real one, in any case
