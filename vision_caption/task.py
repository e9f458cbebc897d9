"""Captioning's train/evaluate/export/predict: what the CLI and notebooks call."""

import logging
import os

from pipelines import training
from vision_caption import data
from vision_caption.config import CaptionConfig
from vision_caption.pipeline import Captioner

NAME = "vision_caption"
Config = CaptionConfig
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "scenes.yaml")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")

log = logging.getLogger(__name__)


def load_splits(config, data_dir=None):
    """Returns {"train": [...], "test": [...]} `CaptionedImage`s for the config."""
    d = config.data
    if d.dataset == "scenes":
        return data.scenes(train_count=d.train_count, test_count=d.test_count,
                           image_size=d.scene_size, max_objects=d.max_objects,
                           heldout_percent=d.heldout_percent, seed=d.seed)
    if d.dataset == "coco":
        def load(split):
            return data.coco(split, root=d.coco_root, data_dir=data_dir,
                             skip_missing=d.skip_missing)
    else:
        def load(split):
            return data.flickr8k(split, data_dir=data_dir, skip_missing=d.skip_missing)
    return {"train": [ex for s in d.train_splits for ex in load(s)],
            "test": [ex for s in d.test_splits for ex in load(s)]}


def _export(captioner, split, path):
    sample = [ex.image for ex in (split["test"] or split["train"])[:8]]
    return captioner.export(path, sample=sample)


def _evaluate(captioner, split):
    metrics = {}
    if split["test"]:
        metrics["test"] = captioner.evaluate(split["test"])
    if captioner.config.data.evaluate_train:
        metrics["train"] = captioner.evaluate(split["train"])
    return metrics


def train(config, run_dir, data_dir=None):
    """Trains, evaluates (BLEU-1..4, CIDEr-D, exact match; greedy and beam)
    and exports."""
    run = training.RunDir(run_dir)
    split = load_splits(config, data_dir)
    captioner = Captioner(config).fit(split["train"], run_dir=run.path)
    captioner.save(run.model)
    metrics = run.write_metrics(_evaluate(captioner, split))
    _export(captioner, split, run.export)
    return {"run_dir": run.path, "model": run.model, "export": run.export,
            "history": run.history, "metrics_file": run.metrics,
            "test": metrics.get("test"), "train": metrics.get("train")}


def _load(run):
    return Captioner.load(run.trained_model("vision_caption"))


def evaluate(config, run_dir, data_dir=None):
    run = training.RunDir(run_dir)
    captioner = _load(run)
    return run.write_metrics(_evaluate(captioner, load_splits(captioner.config, data_dir)))


def export(config, run_dir, data_dir=None, export_dir=None):
    run = training.RunDir(run_dir)
    captioner = _load(run)
    return {"export": _export(captioner, load_splits(captioner.config, data_dir),
                              export_dir or run.export)}


def _inputs(input_path):
    """An image file, a folder of images, or a text file listing image paths."""
    if os.path.isdir(input_path):
        return sorted(os.path.join(input_path, n) for n in os.listdir(input_path)
                      if n.lower().endswith(IMAGE_SUFFIXES))
    if input_path.lower().endswith(".txt"):
        base = os.path.dirname(os.path.abspath(input_path))
        with open(input_path, encoding="utf-8") as f:
            return [p if os.path.isabs(p) else os.path.join(base, p)
                    for p in (line.strip() for line in f) if p]
    return [input_path]


def predict(config, run_dir, data_dir, input_path, output_path=None):
    """Captions an image, every image of a folder, or every path listed in a
    .txt file; prints (or writes) `path<TAB>caption` lines."""
    run = training.RunDir(run_dir)
    captioner = _load(run)
    paths = _inputs(input_path)
    if not paths:
        raise ValueError(f"No images found at {input_path}.")
    captions = captioner.caption(paths)
    lines = [f"{p}\t{c}" for p, c in zip(paths, captions)]
    return training.write_predictions(lines, output_path, "captions")
