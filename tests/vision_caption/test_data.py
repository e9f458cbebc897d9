"""Captioning data: the seeded scenes benchmark, COCO and Flickr8k loaders,
and the documented handling of caption files naming missing images."""

import json
import logging
import os

import numpy as np
import pytest

from vision_caption import data

WORDS = ({"a", "left", "right", "of", "above", "below"} | set(data.KINDS)
         | set(data.COLOURS) | set(data.SIZES))


@pytest.fixture(scope="module")
def scenes():
    return data.scenes(train_count=300, test_count=60, seed=3)


def test_scenes_are_seeded_and_deterministic(scenes):
    again = data.scenes(train_count=300, test_count=60, seed=3)
    for split in ("train", "test"):
        assert [e.captions for e in again[split]] == [e.captions for e in scenes[split]]
        assert all((a.image == b.image).all() for a, b in zip(again[split], scenes[split]))
    other = data.scenes(train_count=300, test_count=60, seed=4)
    assert [e.captions for e in other["train"]] != [e.captions for e in scenes["train"]]


def test_scene_images_and_captions(scenes):
    counts = {1: 0, 2: 0, 3: 0}
    for ex in scenes["train"] + scenes["test"]:
        assert ex.image.shape == (64, 64, 3) and ex.image.dtype == np.uint8
        assert set(" ".join(ex.captions).split()) <= WORDS
        n = ex.captions[0].count(" a ") + 1
        counts[n] += 1
        assert len(ex.captions) == (1 if n == 1 else 2)
    assert all(counts[n] > 0 for n in counts)


def test_heldout_combinations_never_seen_in_training(scenes):
    seen = {c for ex in scenes["train"] for c in ex.captions}
    assert not seen & {c for ex in scenes["test"] for c in ex.captions}
    assert all(data.is_heldout(ex.captions[0], 10) for ex in scenes["test"])
    assert not any(data.is_heldout(ex.captions[0], 10) for ex in scenes["train"])


def test_render_draws_each_shape_in_its_cell():
    shapes = [data.Shape("square", "red", "large", 0, 0),
              data.Shape("circle", "blue", "small", 2, 2)]
    image = data.render(shapes, 63, np.random.default_rng(0)).astype(int)
    top_left, bottom_right = image[10, 10], image[52, 52]
    assert top_left[0] > 150 and top_left[2] < 100      # red
    assert bottom_right[2] > 150 and bottom_right[0] < 100  # blue
    assert image[31, 31].max() < 100                    # the empty middle cell


def test_describe_relations():
    a = data.Shape("circle", "red", "large", 0, 0)
    b = data.Shape("cross", "green", "small", 2, 0)
    c = data.Shape("triangle", "yellow", "small", 1, 2)
    assert data.describe([c, b, a]) == [
        "a large red circle above a small green cross left of a small yellow triangle",
        "a small yellow triangle right of a small green cross below a large red circle"]
    assert data.describe([a]) == ["a large red circle"]


def test_scene_argument_errors():
    with pytest.raises(ValueError) as e:
        data.scenes(train_count=0)
    assert str(e.value) == "Argument `train_count` must be an integer >= 1; got 0."
    with pytest.raises(ValueError, match="`max_objects` must be 1, 2 or 3; got 4"):
        data.scenes(train_count=2, max_objects=4)


def test_coco_mini(data_dir):
    train = data.coco("train2017", data_dir=data_dir)
    val = data.coco("val2017", data_dir=data_dir)
    assert (len(train), len(val)) == (80, 79)
    assert all(len(ex.captions) == 5 and os.path.exists(ex.image) for ex in train + val)
    assert train[0].source == train[0].image and train[0].image.endswith(".jpg")


def _coco_file(tmp_path, names):
    images = [{"id": i, "file_name": n} for i, n in enumerate(names)]
    annotations = [{"image_id": i, "id": 10 * i + k, "caption": f"Caption {k} of {n}."}
                   for i, n in enumerate(names) for k in range(2)]
    annotations.append({"image_id": 99, "id": 999, "caption": "nobody's"})
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def test_coco_missing_images_are_skipped_and_logged(tmp_path, caplog):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    path = _coco_file(tmp_path, ["a.jpg", "gone.jpg", "lost.jpg"])
    with caplog.at_level(logging.WARNING):
        out = data.read_coco_captions(path, folder)
    assert [os.path.basename(e.image) for e in out] == ["a.jpg"]
    assert out[0].captions == ["Caption 0 of a.jpg.", "Caption 1 of a.jpg."]
    assert f"{path}: skipped 2 of 3 images listed in the caption file that are missing " \
           "(gone.jpg, lost.jpg)." in caplog.text
    assert "ignored 1 captions of image ids not listed" in caplog.text
    with pytest.raises(FileNotFoundError) as e:
        data.read_coco_captions(path, folder, skip_missing=False)
    assert str(e.value) == (f"{path}: 2 of 3 images listed in the caption file are missing "
                            "(gone.jpg, lost.jpg).")


def test_coco_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"id": 1}], "annotations": []}')
    with pytest.raises(ValueError, match="is not a COCO caption file .*KeyError"):
        data.read_coco_captions(bad, tmp_path)
    with pytest.raises(FileNotFoundError, match="No COCO caption file at"):
        data.read_coco_captions(tmp_path / "none.json", tmp_path)
    with pytest.raises(FileNotFoundError, match="not found in the data directory"):
        data.coco("train2017", root="no_such_coco", data_dir=tmp_path)


def test_flickr8k_from_the_data_directory(tmp_path, caplog):
    root = tmp_path / "flickr8k"
    images = root / "Flicker8k_Dataset"
    images.mkdir(parents=True)
    for name in ("1.jpg", "2.jpg", "3.jpg"):
        (images / name).write_bytes(b"x")
    lines = [f"{n}#{k}\tA dog number {n[0]}, take {k} ." for n in ("1.jpg", "2.jpg", "3.jpg",
                                                                     "4.jpg") for k in range(5)]
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (root / "Flickr_8k.trainImages.txt").write_text("2.jpg\n1.jpg\n4.jpg\n")
    (root / "Flickr_8k.devImages.txt").write_text("3.jpg\n")
    (root / "Flickr_8k.testImages.txt").write_text("")
    with caplog.at_level(logging.WARNING):
        train = data.flickr8k("train", data_dir=tmp_path)
    assert [os.path.basename(e.image) for e in train] == ["2.jpg", "1.jpg"]
    assert train[0].captions[0] == "A dog number 2, take 0 ." and len(train[0].captions) == 5
    assert "skipped 1 of 3 images" in caplog.text and "(4.jpg)" in caplog.text
    assert len(data.flickr8k("dev", data_dir=tmp_path)) == 1
    with pytest.raises(ValueError, match="Flickr8k split must be one of"):
        data.flickr8k("val", data_dir=tmp_path)
    (root / "Flickr8k.token.txt").write_text("1.jpg#0 no tab here\n")
    with pytest.raises(ValueError) as e:
        data.flickr8k("train", data_dir=tmp_path)
    assert str(e.value).endswith("line 1: expected '<image>#<k><TAB><caption>'; got "
                                 "'1.jpg#0 no tab here'.")
