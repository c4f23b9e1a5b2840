"""Memory bank: sink + window policy, snapshots and restore, persistence, edits."""

import json
import re

import numpy as np
import pytest

from memory.bank import Keyframe, MemoryBank

#: Pure computation: a hang (a loop that never ends) fails here in a minute, not at the suite default.
pytestmark = pytest.mark.timeout(60)


def image(value: int) -> np.ndarray:
    return np.full((6, 10, 3), value % 256, dtype=np.uint8)


def keyframes(shot: int, count: int) -> list[Keyframe]:
    rng = np.random.default_rng(shot)
    return [
        Keyframe(frame_index=i * 20, image=image(shot * 7 + i), embedding=rng.normal(size=8), score=3.5, scorer="s", embedder="e")
        for i in range(count)
    ]


def test_sink_and_window_over_a_30_shot_story(tmp_path):
    bank = MemoryBank(tmp_path)
    pinned = None
    history = {}
    for shot in range(30):
        shot_id = f"shot{shot:02d}"
        history[shot_id] = bank.record_snapshot(shot_id)
        added = bank.add_keyframes(shot_id, keyframes(shot, 1 + shot % 3))
        if shot == 4:
            pinned = added[0].id
            bank.pin(pinned)
        ids = [e.id for e in bank.active()]
        assert len(ids) <= 10
        assert ids[:3] == ["m0001", "m0002", "m0003"][: len(ids)]
        if pinned:
            assert pinned in ids
        assert ids == sorted(ids)
    assert len(bank.active()) == 10
    last_added = [e.id for e in bank.entries.values() if e.shot_id == "shot29"]
    assert set(last_added) <= set(bank.active_ids)
    for shot_id, ids in history.items():
        assert [e.id for e in bank.snapshot(shot_id)] == ids


def test_window_keeps_the_most_recent(tmp_path):
    bank = MemoryBank(tmp_path, capacity=5, sink=2)
    for shot in range(4):
        bank.add_keyframes(f"s{shot}", keyframes(shot, 2))
    assert bank.active_ids == ["m0001", "m0002", "m0006", "m0007", "m0008"]


def test_references_are_the_earliest_entries(tmp_path):
    bank = MemoryBank(tmp_path)
    bank.add_keyframes("s1", keyframes(1, 3))
    first = bank.add_reference(image(1), characters=["fox"])
    second = bank.add_reference(image(2), characters=["keeper"])
    assert bank.active_ids[:2] == [first.id, second.id]
    assert first.kind == "reference" and first.shot_id is None
    for shot in range(2, 8):
        bank.add_keyframes(f"s{shot}", keyframes(shot, 3))
    assert bank.active_ids[:2] == [first.id, second.id]


def test_snapshot_restores_exactly_what_conditioned_a_shot(tmp_path):
    bank = MemoryBank(tmp_path)
    for shot in range(8):
        bank.record_snapshot(f"s{shot}")
        bank.add_keyframes(f"s{shot}", keyframes(shot, 3))
    conditioned = bank.snapshots["s5"]
    later = [e.id for e in bank.entries.values() if e.shot_id in ("s5", "s6", "s7")]
    bank.restore("s5")
    assert bank.active_ids == conditioned
    assert not set(later) & set(bank.active_ids)
    assert all((tmp_path / f"{i}.png").is_file() for i in later)
    redo = bank.add_keyframes("s5", keyframes(50, 1))
    assert redo[0].id not in later
    with pytest.raises(KeyError, match=r"^\"no memory snapshot for shot 'never'\"$"):
        bank.restore("never")


def test_save_load_round_trip(tmp_path):
    events = []
    bank = MemoryBank(tmp_path, capacity=6, sink=2, on_event=events.append)
    bank.add_reference(image(9), characters=["fox"], embedding=np.ones(8), embedder="e")
    for shot in range(4):
        bank.record_snapshot(f"s{shot}")
        bank.add_keyframes(f"s{shot}", keyframes(shot, 2))
    bank.pin(bank.active_ids[3])
    bank.save()
    loaded = MemoryBank.load(tmp_path, on_event=events.append)
    assert (loaded.capacity, loaded.sink) == (6, 2)
    assert loaded.entries == bank.entries
    assert loaded.active_ids == bank.active_ids
    assert loaded.snapshots == bank.snapshots
    for entry_id in bank.entries:
        assert np.array_equal(loaded.image(entry_id), bank.image(entry_id))
        assert np.array_equal(loaded.embedding(entry_id), bank.embedding(entry_id))
    assert loaded.image("m0002").dtype == np.uint8 and loaded.image("m0002").shape == (6, 10, 3)
    assert loaded.add_keyframes("s9", keyframes(9, 1))[0].id == "m0010"


def test_load_of_an_empty_folder_is_an_empty_bank(tmp_path):
    bank = MemoryBank.load(tmp_path / "new")
    assert bank.active() == [] and bank.snapshots == {}
    bank.save()
    assert json.loads((tmp_path / "new" / "bank.json").read_text())["active"] == []


def test_writes_leave_no_temporary_files(tmp_path):
    bank = MemoryBank(tmp_path)
    bank.add_keyframes("s1", keyframes(1, 3))
    bank.save()
    bank.save()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["bank.json", "m0001.npy", "m0001.png", "m0002.npy", "m0002.png", "m0003.npy", "m0003.png"]


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    bank = MemoryBank(tmp_path)
    bank.add_keyframes("s1", keyframes(1, 1))
    bank.save()
    before = (tmp_path / "bank.json").read_text()
    bank.add_keyframes("s2", keyframes(2, 1))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("memory.bank.os.replace", broken_replace)
    with pytest.raises(OSError, match=r"^disk full$"):
        bank.save()
    assert (tmp_path / "bank.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_ids_are_never_reused_after_a_crash_before_save(tmp_path):
    bank = MemoryBank(tmp_path)
    bank.add_keyframes("s1", keyframes(1, 2))
    bank.save()
    bank.add_keyframes("s2", keyframes(2, 2))
    reloaded = MemoryBank.load(tmp_path)
    assert reloaded.add_keyframes("s2", keyframes(3, 1))[0].id == "m0005"


def test_edits_are_reported_and_keep_files(tmp_path):
    events = []
    bank = MemoryBank(tmp_path, on_event=events.append)
    bank.add_keyframes("s1", keyframes(1, 3))
    bank.record_snapshot("s2")
    bank.pin("m0002")
    bank.unpin("m0002")
    bank.tag("m0003", ["fox", "fox", "keeper"])
    new = bank.replace("m0002", image(200), embedding=np.ones(8), embedder="e")
    bank.drop("m0001")
    ref = bank.add_reference(image(5), characters=["fox"])
    kinds = [e["event"] for e in events]
    assert kinds == [
        "memory.add_keyframes", "memory.pin", "memory.unpin", "memory.tag",
        "memory.replace", "memory.drop", "memory.add_reference",
    ]
    assert events[3]["characters"] == ["fox", "keeper"]
    assert events[4] == {"event": "memory.replace", "entry_id": "m0002", "new_entry_id": new.id, "active": ["m0001", new.id, "m0003"]}
    assert bank.active_ids == [ref.id, new.id, "m0003"]
    assert new.replaces == "m0002" and new.kind == "keyframe" and new.shot_id == "s1"
    assert np.array_equal(bank.image(new.id), image(200))
    assert (tmp_path / "m0001.png").is_file() and (tmp_path / "m0002.png").is_file()
    assert [e.id for e in bank.snapshot("s2")] == ["m0001", "m0002", "m0003"]
    with pytest.raises(ValueError, match=r"^memory entry m0001 is not active$"):
        bank.pin("m0001")


def test_pinned_entries_survive_and_count_against_capacity(tmp_path):
    bank = MemoryBank(tmp_path, capacity=5, sink=1)
    bank.add_keyframes("s0", keyframes(0, 3))
    bank.pin("m0002")
    bank.pin("m0003")
    for shot in range(1, 6):
        bank.add_keyframes(f"s{shot}", keyframes(shot, 2))
        assert len(bank.active_ids) == 5
        assert bank.active_ids[:3] == ["m0001", "m0002", "m0003"]
    bank.unpin("m0002")
    bank.add_keyframes("s9", keyframes(9, 1))
    assert "m0002" not in bank.active_ids and "m0003" in bank.active_ids


def test_rejects_bad_images_and_policies(tmp_path):
    with pytest.raises(ValueError, match=re.escape("need capacity >= 1 and 0 <= sink <= capacity, got 2, 3")):
        MemoryBank(tmp_path, capacity=2, sink=3)
    bank = MemoryBank(tmp_path)
    with pytest.raises(ValueError, match=r"^expected a uint8 image, got float32$"):
        bank.add_reference(np.zeros((4, 4, 3), dtype=np.float32))
