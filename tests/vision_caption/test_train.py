"""`python -m vision_caption.train` and `pipelines ... vision_caption`, end to
end (tiny)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines.config import ConfigError
from vision_caption import task
from vision_caption.config import CaptionConfig
from tests import harness
from tests.harness import run_module as run

ROOT = harness.ROOT
TINY = os.path.join(ROOT, "vision_caption", "configs", "tiny.yaml")


def test_train_then_predict(tmp_path):
    run_dir = tmp_path / "run"
    result = run(["-m", "vision_caption.train", "--config", TINY, "--run-dir", str(run_dir),
                  "--set", "train.verbose=0"])
    harness.assert_trained_run(result, run_dir)
    metrics = json.load(open(run_dir / "metrics.json"))["test"]
    assert metrics["images"] == 8 and {"bleu4_beam", "cider_greedy"} <= set(metrics)

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("b.png", "a.jpg"):
        pixels = rng.integers(0, 256, (40, 40, 3)).astype("uint8")
        encode = tf.io.encode_png if name.endswith("png") else tf.io.encode_jpeg
        (images / name).write_bytes(encode(pixels).numpy())
    (images / "notes.txt").write_text("not an image")
    # No --config: the run's own (the one it was trained with).
    result = run(["-m", "pipelines.cli", "predict", "vision_caption",
                  "--run-dir", str(run_dir), "--input", str(images)])
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.rstrip("\n").splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(images / "a.jpg"),
                                                        str(images / "b.png")]
    # A .txt list (paths relative to it) and an output file.
    (images / "list.txt").write_text("b.png\n\na.jpg\n")
    out = tmp_path / "captions.tsv"
    result = run(["-m", "pipelines.cli", "predict", "vision_caption",
                  "--run-dir", str(run_dir), "--input", str(images / "list.txt"),
                  "--output", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.read_text().splitlines() == [lines[1], lines[0]]
    # A glob, as the Beam job reads it.
    result = run(["-m", "pipelines.cli", "predict", "vision_caption",
                  "--run-dir", str(run_dir), "--input", str(images / "*.jpg")])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.rstrip("\n").splitlines() == [lines[0]]
    (images / "empty.txt").write_text("\n")
    result = run(["-m", "pipelines.cli", "predict", "vision_caption",
                  "--run-dir", str(run_dir), "--input", str(images / "empty.txt")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: No images found at {images / 'empty.txt'}.")

    # One corrupt image in the folder: one clear error naming it, or with
    # --skip-bad the others captioned, it reported, and status 3.
    (images / "c.jpg").write_bytes(b"\xff\xd8\xff broken")
    common = ["-m", "pipelines.cli", "predict", "vision_caption", "--run-dir", str(run_dir),
              "--input", str(images)]
    result = run(common)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {images / 'c.jpg'}: ")
    result = run(common + ["--skip-bad", "--output", str(out)])
    assert result.returncode == 3, result.stderr[-3000:]
    assert out.read_text().splitlines() == lines
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["skipped"][0]["input"] == str(images / "c.jpg")
    assert f"Skipped 1 input(s) that could not be used: {images / 'c.jpg'} (" in result.stderr


def test_missing_run_is_one_clear_error(tmp_path):
    result = run(["-m", "pipelines.cli", "evaluate", "vision_caption", "--config", TINY,
                  "--run-dir", str(tmp_path / "none")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: No trained model in {tmp_path / 'none'} (expected "
        f"{tmp_path / 'none' / 'model'}); run `pipelines train vision_caption` with this "
        "--run-dir first.")


def test_config_typo_is_one_clear_error(tmp_path):
    result = run(["-m", "vision_caption.train", "--config", TINY, "--run-dir",
                  str(tmp_path / "run"), "--set", "model.unitz=3"])
    assert result.returncode == 2
    assert "Unknown config field 'model.unitz'. Did you mean 'model.units'?" in result.stderr


def test_configs_load_their_data(data_dir):
    configs = os.path.join(ROOT, "vision_caption", "configs")
    coco = CaptionConfig.from_yaml(os.path.join(configs, "coco_mini.yaml"))
    split = task.load_splits(coco, data_dir)
    assert (len(split["train"]), len(split["test"])) == (159, 0)
    scenes = CaptionConfig.from_yaml(task.TASK.default_config,
                                     ["data.train_count=5", "data.test_count=2"])
    assert scenes.data.train_captions == "first" and scenes.model.image_size == 64
    split = task.load_splits(scenes, data_dir)
    assert (len(split["train"]), len(split["test"])) == (5, 2)
    with pytest.raises(ConfigError) as e:
        CaptionConfig.from_dict({"data": {"dataset": "flickr8k", "train_splits": ["val"]}})
    assert str(e.value) == ("Config field 'data.train_splits' must hold Flickr8k splits "
                            "['train', 'dev', 'test']; got ['val'].")
