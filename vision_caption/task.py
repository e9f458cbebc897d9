"""Captioning's train/evaluate/export/predict: what the CLI and notebooks call.

Example:

>>> from vision_caption.config import CaptionConfig
>>> config = CaptionConfig.from_yaml(TASK.default_config, ["data.train_count=3",
...                                                        "data.test_count=1"])
>>> splits = load_splits(config)
>>> len(splits.train), splits.val, len(splits["test"])
(3, None, 1)
"""

import logging
import os

import numpy as np

from pipelines import shards as shards_lib
from pipelines.data import Splits
from pipelines.task import Task
from vision_caption import batch as caption_batch, data, shards as caption_shards
from vision_caption.config import CaptionConfig
from vision_caption.pipeline import Captioner

#: With `data.evaluate_train` and training from shards, the training images
#: scored: the first this many records (the split may not fit in memory).
EVALUATE_TRAIN_LIMIT = 2000

log = logging.getLogger(__name__)


class CaptionTask(Task):
    """`pipelines <command> vision_caption`: scenes, COCO or Flickr8k ->
    `Captioner` (BLEU-1..4, CIDEr-D, exact match; greedy and beam).
    `pipelines prepare vision_caption` writes the corpus (or `--input`, a
    COCO-format JSON or Flickr8k captions file) as shards
    (`vision_caption.shards`); `data.shards` trains from them."""

    name = "vision_caption"
    predictions_key = "captions"
    config_class = CaptionConfig
    pipeline_class = Captioner
    default_config = os.path.join(os.path.dirname(__file__), "configs", "scenes.yaml")
    shard_source = caption_shards.CaptionSource
    batch_reader_class = caption_batch.CaptionReader

    def examples_of(self, split, limit=None):
        """The records of a shard `Split` as `CaptionedImage`s (the stored
        image bytes, every caption, the image's name as `source`)."""
        return caption_shards.captioned_images(split, limit)

    def load_splits(self, config, data_dir=None):
        """`Splits` of `CaptionedImage`s for the config; `val` is None (the
        captioner holds out its `data.val_fraction` of train)."""
        d = config.data
        if d.dataset == "scenes":
            return data.scenes(train_count=d.train_count, test_count=d.test_count,
                               image_size=d.scene_size, max_objects=d.max_objects,
                               heldout_percent=d.heldout_percent, seed=d.seed)
        load = data.split_loader(d, data_dir)
        return Splits([ex for s in d.train_splits for ex in load(s)],
                      test=[ex for s in d.test_splits for ex in load(s)])

    def score(self, captioner, splits):
        """The test split's scores, and the training split's with
        `data.evaluate_train`."""
        metrics = {}
        if splits.test:
            metrics["test"] = captioner.evaluate(splits.test)
        if captioner.config.data.evaluate_train:
            train = splits.train
            if isinstance(train, shards_lib.Split):
                # Streamed: scored on a bounded sample, not read whole.
                log.info("data.evaluate_train: scoring the first %d of the %d training "
                         "images in %s.", min(EVALUATE_TRAIN_LIMIT, train.examples),
                         train.examples, train.shards.folder)
                train = self.examples_of(train, limit=EVALUATE_TRAIN_LIMIT)
            metrics["train"] = captioner.evaluate(train)
        return metrics

    def export_sample(self, captioner, splits):
        """Up to 8 test images (training images without a test split) as
        encoded bytes (arrays as PNG), so the sample does not depend on
        image files staying where they are."""
        images = [ex.image for ex in (splits.test or splits.train)[:8]]
        return [captioner.encoded_bytes(image, f"sample {i}") for i, image in enumerate(images)]

    def predict_lines(self, captioner, input_path, skip_bad=False):
        """Captions an image, every image of a folder, every path listed in
        a .txt file, or every file a glob matches: `path<TAB>caption` lines
        (with `skip_bad`, also the images that could not be read, with the
        reason)."""
        # The same inputs as the Beam job's: a file, a folder of images, a
        # .txt list of paths or a glob (one error naming what matched none).
        paths = self.batch_reader_class(metadata=None).inputs(input_path)
        if not paths:  # an empty .txt list
            raise ValueError(f"No images found at {input_path}.")
        kept, pixels, skipped = self.load_each(
            paths, lambda p: captioner.pixels(p, p), skip_bad)
        # The pixels already read are captioned as `caption(paths)` would.
        captions = (captioner._caption_pixels(np.stack(pixels),
                                              captioner.config.model.beam_width)
                    if kept else [])
        lines = [f"{p}\t{c}" for p, c in zip(kept, captions)]
        return (lines, skipped) if skip_bad else lines


TASK = CaptionTask()
load_splits, train, evaluate, export, predict, prepare = (
    TASK.load_splits, TASK.train, TASK.evaluate, TASK.export, TASK.predict, TASK.prepare)
