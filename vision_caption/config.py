"""The captioning config: `data`, `vocab`, `model` and `train` sections."""

import dataclasses
from typing import List, Optional

from pipelines.config import Config, DecoderConfig, TrainConfig, check, check_stream_fields
from vision_caption import preprocess
from vision_caption.model import ENCODERS

DATASETS = ("scenes", "coco", "flickr8k")
FLICKR8K_SPLITS = ("train", "dev", "test")


def _default_train_splits():
    return ["train2017"]


def _default_test_splits():
    return ["val2017"]


@dataclasses.dataclass
class DataConfig:
    """Args:
        dataset: scenes (generated, the default task), coco (COCO-format
            captions: `coco_root` in the data directory) or flickr8k.
        train_count, test_count: scenes per split (`dataset: scenes`).
        scene_size: side of the generated scene images (pixels).
        max_objects: 1 to 3 shapes per scene.
        heldout_percent: share of scene descriptions kept for the test
            split (never seen in training).
        coco_root: the COCO folder in the data directory: coco_mini (the
            offline copy) or coco (full COCO 2017, downloaded if missing).
        train_splits, test_splits: COCO splits (e.g. train2017, val2017) or
            Flickr8k splits (train, dev, test); several are concatenated. An
            empty `test_splits` evaluates nothing held out.
        skip_missing: skip (and log) images a caption file names but the
            image folder lacks; false raises naming them.
        skip_bad_images: skip (and log) training/evaluation images that cannot
            be decoded or are outside the size limits; false raises.
        val_fraction: share of the training images held out for validation
            (0: none; early stopping and the best checkpoint then follow the
            training loss).
        train_captions: all (every caption of an image, each a target) or
            first (only the first; for scenes, the reading-order phrasing).
        max_captions_per_image: at most this many captions of an image are
            trained on (evaluation always uses all references).
        min_image_side, max_image_pixels: size limits of accepted images.
        evaluate_train: also score the training images (a fitting check).
        seed: seed of the scene generator and the validation split.
        shards: train from shards written by `pipelines prepare
            vision_caption` (their folder, or a glob of some of their files)
            instead of loading the images into memory; `dataset` and the
            fields that say which images and how they are split are then
            what `prepare` read (training checks them against the shards'
            index), `train_captions` and `max_captions_per_image` still
            choose the captions trained on.
        shuffle_buffer: records held by the bounded shuffle when training
            from shards.
    """

    dataset: str = "scenes"
    train_count: int = 6000
    test_count: int = 500
    scene_size: int = 64
    max_objects: int = 3
    heldout_percent: int = 10
    coco_root: str = "coco_mini"
    train_splits: List[str] = dataclasses.field(default_factory=_default_train_splits)
    test_splits: List[str] = dataclasses.field(default_factory=_default_test_splits)
    skip_missing: bool = True
    skip_bad_images: bool = True
    val_fraction: float = 0.05
    train_captions: str = "all"
    max_captions_per_image: int = 5
    min_image_side: int = preprocess.DEFAULT_MIN_SIDE
    max_image_pixels: int = preprocess.DEFAULT_MAX_PIXELS
    evaluate_train: bool = False
    seed: int = 0
    shards: Optional[str] = None
    shuffle_buffer: int = 10000

    def validate(self):
        check(self.dataset in DATASETS, "data.dataset", self.dataset,
              f"must be one of {list(DATASETS)}")
        check(self.train_count >= 1, "data.train_count", self.train_count, "must be at least 1")
        check(self.test_count >= 0, "data.test_count", self.test_count, "must be >= 0")
        check(self.scene_size >= 24, "data.scene_size", self.scene_size, "must be at least 24")
        check(self.max_objects in (1, 2, 3), "data.max_objects", self.max_objects,
              "must be 1, 2 or 3")
        check(0 < self.heldout_percent < 100, "data.heldout_percent", self.heldout_percent,
              "must be in (0, 100)")
        check(bool(self.train_splits), "data.train_splits", self.train_splits,
              "must name at least one split")
        if self.dataset == "flickr8k":
            for field in ("train_splits", "test_splits"):
                bad = [s for s in getattr(self, field) if s not in FLICKR8K_SPLITS]
                check(not bad, f"data.{field}", getattr(self, field),
                      f"must hold Flickr8k splits {list(FLICKR8K_SPLITS)}")
        check(0 <= self.val_fraction < 1, "data.val_fraction", self.val_fraction,
              "must be in [0, 1)")
        check(self.train_captions in ("all", "first"), "data.train_captions",
              self.train_captions, "must be 'all' or 'first'")
        check(self.max_captions_per_image >= 1, "data.max_captions_per_image",
              self.max_captions_per_image, "must be at least 1")
        check(self.min_image_side >= 1, "data.min_image_side", self.min_image_side,
              "must be at least 1")
        check(self.max_image_pixels >= self.min_image_side ** 2, "data.max_image_pixels",
              self.max_image_pixels, "must be at least data.min_image_side squared")
        check_stream_fields(self)


@dataclasses.dataclass
class VocabConfig:
    """Args:
        min_count: words seen fewer times in the training captions become
            the unknown word.
        max_words: keep at most this many words (the most frequent); null
            keeps all.
    """

    min_count: int = 1
    max_words: Optional[int] = 10000

    def validate(self):
        check(self.min_count >= 1, "vocab.min_count", self.min_count, "must be at least 1")
        check(self.max_words is None or self.max_words >= 1, "vocab.max_words",
              self.max_words, "must be at least 1 (or null for all)")


def _default_filters():
    return [32, 64, 128, 128]


@dataclasses.dataclass
class ModelConfig(DecoderConfig):
    """Args: the network (see `vision_caption.model.ImageCaptioner`; the
    decoder's fields, `cell_type` to `length_penalty`, with their defaults,
    are `pipelines.config.DecoderConfig`'s), plus:
        cache_features: with a frozen encoder (`fine_tune: false`), encode
            every training image once and train on the cached grids.
        max_length: the longest caption generated, in words, EOS included;
            training captions longer than this are dropped (logged).
    """

    image_size: int = 64
    encoder: str = "small_cnn"
    conv_filters: List[int] = dataclasses.field(default_factory=_default_filters)
    weights: Optional[str] = None
    fine_tune: bool = True
    cache_features: bool = True
    feature_dim: int = 128
    embedding_dim: int = 64
    units: int = 256
    max_length: int = 20

    def validate(self):
        check(self.encoder in ENCODERS, "model.encoder", self.encoder,
              f"must be one of {list(ENCODERS)}")
        check(self.image_size >= (16 if self.encoder == "small_cnn" else 32),
              "model.image_size", self.image_size,
              "must be at least 16 (32 for a keras.applications encoder)")
        check(bool(self.conv_filters) and all(f >= 1 for f in self.conv_filters),
              "model.conv_filters", self.conv_filters,
              "must be a non-empty list of positive integers")
        check(self.weights is None or self.encoder != "small_cnn", "model.weights",
              self.weights, "must be null for the small_cnn encoder (it has no pretrained "
              "weights)")
        for field in ("feature_dim", "embedding_dim", "units"):
            check(getattr(self, field) >= 1, f"model.{field}", getattr(self, field),
                  "must be positive")
        check(self.max_length >= 2, "model.max_length", self.max_length, "must be at least 2")
        super().validate()


def _default_train():
    return TrainConfig(epochs=15, batch_size=64, learning_rate=2e-3, patience=3,
                       lr_decay=0.9)


@dataclasses.dataclass
class CaptionConfig(Config):
    name: str = "scenes"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    vocab: VocabConfig = dataclasses.field(default_factory=VocabConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=_default_train)
