"""Vision models: open_clip from a local checkpoint, offline fallbacks with one warning, BRISQUE."""

import json
import logging

import numpy as np
import pytest
import torch

from memory import vision
from memory.clip import ClipEmbedder
from memory.fallbacks import ColourStructureEmbedder, HeuristicQualityScorer

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(autouse=True)
def fresh_models(monkeypatch, tmp_path):
    """No network and empty weight caches, whatever this machine holds."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STORYMEM_HPSV3", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    vision.clear_cache()
    yield
    vision.clear_cache()


@pytest.fixture(scope="module")
def tiny_clip_checkpoint(tmp_path_factory):
    import open_clip

    folder = tmp_path_factory.mktemp("clip")
    config = folder / "TinyTestCLIP.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model("TinyTestCLIP")
    checkpoint = folder / "tiny.pt"
    torch.save(model.state_dict(), checkpoint)
    return checkpoint, model


def frames(n=4, size=(48, 80)):
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (*size, 3), dtype=np.uint8) for _ in range(n)]


def test_open_clip_loads_a_local_checkpoint_deterministically(tiny_clip_checkpoint):
    checkpoint, reference = tiny_clip_checkpoint
    embedder = vision.load_embedder("clip:TinyTestCLIP", checkpoint=checkpoint)
    assert isinstance(embedder, ClipEmbedder) and embedder.name == "open_clip:TinyTestCLIP/tiny.pt"
    assert vision.load_embedder("clip:TinyTestCLIP", checkpoint=checkpoint) is embedder
    for a, b in zip(embedder.model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)
    images = frames()
    first, second = embedder.embed_images(images), embedder.embed_images(images)
    assert first.shape == (4, 16) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert np.array_equal(first, second)
    texts = embedder.embed_texts(["a fox in the snow", "a lighthouse"])
    assert texts.shape == (2, 16) and np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)


def test_clip_squashes_without_cropping(tiny_clip_checkpoint):
    checkpoint, _ = tiny_clip_checkpoint
    embedder = vision.load_embedder("clip:TinyTestCLIP", checkpoint=checkpoint)
    wide = np.zeros((40, 400, 3), dtype=np.uint8)
    wide[:, :20] = 255
    pixels = embedder._pixels([wide])
    assert pixels.shape == (1, 3, 32, 32)
    assert pixels[0, :, :, 0].mean() > pixels[0, :, :, 16].mean()


def test_default_clip_offline_falls_back_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="storymem.memory"):
        first = vision.load_embedder()
        second = vision.load_embedder("auto")
        third = vision.load_embedder("clip")
    assert first is second is third
    assert first.name == ColourStructureEmbedder.name
    messages = [r.getMessage() for r in caplog.records if r.name == "storymem.memory"]
    assert len(messages) == 1
    assert "ViT-B-32/openai" in messages[0] and "checkpoint=PATH" in messages[0]


def test_missing_checkpoint_file_falls_back(caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="storymem.memory"):
        embedder = vision.load_embedder("clip:ViT-B-32", checkpoint=tmp_path / "absent.pt")
    assert embedder.name == ColourStructureEmbedder.name
    assert "absent.pt" in caplog.text


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match=r"^unknown embedder 'resnet': use auto, clip, "):
        vision.load_embedder("resnet")
    with pytest.raises(ValueError, match=r"^unknown quality scorer 'laion': use auto, hpsv3, brisque or "):
        vision.load_quality_scorer("laion")


def test_colour_structure_embedder_separates_scenes():
    embedder = vision.load_embedder("colour-structure-v1")
    y, x = np.mgrid[0:120, 0:200]
    scene = np.stack([x * 255 // 200, y * 2, (x + y) * 255 // 320], axis=-1).astype(np.uint8)
    scene[30:80, 60:120] = [200, 40, 40]
    moved = np.roll(scene, 3, axis=1)
    moved[:, :3] = scene[:, :3]
    other = np.stack([255 - y * 2, np.full_like(y, 40), 255 - x], axis=-1).astype(np.uint8)
    out = embedder.embed_images([scene, moved, other])
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert out[0] @ out[1] > 0.9 > out[0] @ out[2]
    assert not hasattr(embedder, "embed_texts")


def test_heuristic_scorer_fails_flat_and_blurred_frames():
    scorer = vision.load_quality_scorer("heuristic")
    y, x = np.mgrid[0:240, 0:416]
    detailed = np.stack([(x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256], axis=-1).astype(np.uint8)
    flat = np.full_like(detailed, 3)
    scores = scorer.score([detailed, flat])
    assert scorer.name == "heuristic-sharpness-exposure"
    assert scores[0] >= scorer.threshold > scores[1]


def test_auto_scorer_without_hpsv3_uses_packaged_brisque_once(caplog):
    with caplog.at_level(logging.WARNING, logger="storymem.memory"):
        scorer = vision.load_quality_scorer()
        again = vision.load_quality_scorer("auto")
    assert scorer is again and scorer.name == "brisque-quality" and scorer.threshold == 40.0
    assert sum("HPSv3 weights not found" in r.getMessage() for r in caplog.records) == 1
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:240, 0:416]
    clean = np.stack([x * 255 // 416, y * 255 // 240, (x + y) % 256], axis=-1).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 60, clean.shape), 0, 255).astype(np.uint8)
    scores = scorer.score([clean, noisy, np.full_like(clean, 128)])
    assert scores.shape == (3,) and scores[2] == 0.0
    assert np.array_equal(scores, scorer.score([clean, noisy, np.full_like(clean, 128)]))


def test_heuristic_is_used_when_brisque_is_missing(caplog, monkeypatch):
    monkeypatch.setattr("memory.brisque.brisque_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="storymem.memory"):
        scorer = vision.load_quality_scorer("brisque")
    assert isinstance(scorer, HeuristicQualityScorer)
    assert "pip install brisque" in caplog.text
