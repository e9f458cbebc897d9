"""Captioning data: images with their reference captions.

An example is a `CaptionedImage`: the image (a file path, encoded bytes, or a
numpy array) and every human (or generated) caption of it. Corpora:

- COCO-format captions (`coco`, `read_coco_captions`): a `captions_*.json`
  annotation file and a folder of images. Offline the 159-image `coco_mini/`
  copy in the data directory; online the full COCO 2017 captions, downloaded
  from images.cocodataset.org.
- Flickr8k-format captions (`flickr8k`, `read_flickr8k_captions`):
  `Flickr8k.token.txt` (`name.jpg#k<TAB>caption`), the `Flickr_8k.*Images.txt`
  split lists and the `Flicker8k_Dataset/` image folder, downloaded from the
  public GitHub release when not in the data directory.
- Synthetic scenes (`scenes`), generated here, seeded and deterministic: one
  to three shapes (circle, square, triangle, cross) in five colours and two
  sizes on a 3x3 grid of positions, captioned with their attributes and
  spatial relations ("a large red circle left of a small blue square"). The
  held-out split holds scenes whose caption (the combination of objects and
  relations) never occurs in training, so a captioner has to ground each word
  in the image rather than recall whole scenes.

A caption file that names images missing on disk is handled in one
documented way: the missing images are skipped and the skip is logged with
a count and the first names (or, with `skip_missing=False`, a
FileNotFoundError names them).

Example:

>>> split = scenes(train_count=4, test_count=2, seed=0)
>>> [len(split.train), len(split.test), split.val]
[4, 2, None]
>>> split["train"][0].image.shape
(64, 64, 3)
>>> split.train[0].captions[0].startswith("a ")
True
"""

import dataclasses
import json
import logging
import os
import zlib
from typing import Any, List

import numpy as np

from pipelines.data import Dataset, Splits, locate, locate_in_archive

log = logging.getLogger(__name__)

# Public homes of the full datasets; the local data directory is searched first.
COCO_ANNOTATIONS = Dataset(
    "coco/annotations",
    url="http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
    archive_member="annotations",
)
COCO_IMAGE_URL = "http://images.cocodataset.org/zips/{split}.zip"
#: The image files `predict` takes from a folder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
FLICKR8K_IMAGES = Dataset(
    "flickr8k/Flicker8k_Dataset",  # sic: the archive's folder name
    url="https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip",
    archive_member="Flicker8k_Dataset",
)
FLICKR8K_TEXT = Dataset(
    "flickr8k/Flickr8k.token.txt",
    url="https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_text.zip",
    archive_member="Flickr8k.token.txt",
)
FLICKR8K_SPLITS = {"train": "Flickr_8k.trainImages.txt", "dev": "Flickr_8k.devImages.txt",
                   "test": "Flickr_8k.testImages.txt"}


@dataclasses.dataclass(eq=False)
class CaptionedImage:
    """One image and all its reference captions.

    Args:
        image: a file path, encoded image bytes, or a numpy image array
            (uint8/uint16, or float in [0, 1]; gray, RGB or with alpha).
        captions: the reference captions (raw text; normalised by the
            vocabulary).
        source: where it came from, used in messages (a path or an id).
    """

    image: Any
    captions: List[str]
    source: str = ""


def _with_images(where, image_dir, named_captions, skip_missing, total=None):
    """`CaptionedImage`s of the `(file name, captions)` pairs whose image is in
    `image_dir`. Missing images are skipped with one logged warning naming
    `where` (the caption file), or raise with `skip_missing=False`; `total` is
    how many images the file lists (default: the pairs given)."""
    out, missing = [], []
    for name, captions in named_captions:
        path = os.path.join(os.fspath(image_dir), name)
        if not os.path.exists(path):
            missing.append(name)
            continue
        out.append(CaptionedImage(path, captions, path))
    if missing:
        total = len(named_captions) if total is None else total
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        if not skip_missing:
            raise FileNotFoundError(
                f"{where}: {len(missing)} of {total} images listed in the caption file are "
                f"missing ({shown}).")
        log.warning("%s: skipped %d of %d images listed in the caption file that are "
                    "missing (%s).", where, len(missing), total, shown)
    return out


# ----------------------------------------------------------------- COCO
def read_coco_captions(annotation_file, image_dir, skip_missing=True):
    """Reads a COCO-format caption file (`{"images": [...], "annotations":
    [...]}`) into `CaptionedImage`s with image paths, in the file's order.

    Images without a caption are left out; images missing from `image_dir`
    are skipped and logged (or raise with `skip_missing=False`); captions of
    unknown image ids are ignored (logged).

    Raises:
        FileNotFoundError: for a missing annotation file or image folder.
        ValueError: for a file that is not COCO caption JSON.
    """
    annotation_file, image_dir = os.fspath(annotation_file), os.fspath(image_dir)
    if not os.path.exists(annotation_file):
        raise FileNotFoundError(f"No COCO caption file at {annotation_file}.")
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"No image folder at {image_dir}.")
    try:
        with open(annotation_file, encoding="utf-8") as f:
            content = json.load(f)
        images = {int(im["id"]): im["file_name"] for im in content["images"]}
        annotations = [(int(a["image_id"]), str(a["caption"]))
                       for a in content["annotations"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{annotation_file} is not a COCO caption file "
                         f"(images with id/file_name, annotations with image_id/caption): "
                         f"{type(e).__name__}: {e}") from None
    captions = {i: [] for i in images}
    unknown = 0
    for image_id, caption in annotations:
        if image_id in captions:
            captions[image_id].append(caption.strip())
        else:
            unknown += 1
    if unknown:
        log.warning("%s: ignored %d captions of image ids not listed under 'images'.",
                    annotation_file, unknown)
    return _with_images(annotation_file, image_dir,
                        [(name, captions[i]) for i, name in images.items() if captions[i]],
                        skip_missing, total=len(images))


def coco(split="train2017", root="coco_mini", data_dir=None, skip_missing=True):
    """COCO captions of one split from the data directory.

    Args:
        split: "train2017" or "val2017" (any `<split>` with
            `annotations/captions_<split>.json` and a `<split>/` image folder).
        root: the folder in the data directory: "coco_mini" (the offline
            159-image copy), or "coco" for full COCO 2017, downloaded from
            images.cocodataset.org when missing (annotations 241 MB; train
            images 18 GB, val images 1 GB).
        data_dir: the data directory (default: `PIPELINES_DATA_DIR`).
    """
    if root == "coco":
        annotations = locate_in_archive(COCO_ANNOTATIONS, data_dir)
        images = locate_in_archive(
            Dataset(f"coco/{split}", url=COCO_IMAGE_URL.format(split=split),
                    archive_member=split), data_dir)
    else:
        annotations = locate(Dataset(f"{root}/annotations", url=None), data_dir)
        images = locate(Dataset(f"{root}/{split}", url=None), data_dir)
    return read_coco_captions(os.path.join(annotations, f"captions_{split}.json"), images,
                              skip_missing=skip_missing)


# ------------------------------------------------------------- Flickr8k
def read_flickr8k_captions(token_file, image_dir, names=None, skip_missing=True):
    """Reads `Flickr8k.token.txt` (`<name>.jpg#<k><TAB><caption>` lines).

    Args:
        token_file: the caption file.
        image_dir: the image folder.
        names: keep only these image names (a split list), in this order;
            default: every image, in the file's order.
        skip_missing: skip (and log) images missing from `image_dir`.

    Raises:
        ValueError: naming the first malformed line.
    """
    token_file = os.fspath(token_file)
    if not os.path.exists(token_file):
        raise FileNotFoundError(f"No Flickr8k caption file at {token_file}.")
    captions = {}
    with open(token_file, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, tab, caption = line.partition("\t")
            name = key.split("#", 1)[0].strip()
            if not tab or not name or not caption.strip():
                raise ValueError(f"{token_file}, line {number}: expected "
                                 f"'<image>#<k><TAB><caption>'; got {line[:80]!r}.")
            captions.setdefault(name, []).append(caption.strip())
    order = list(captions) if names is None else [n for n in names if n in captions]
    return _with_images(token_file, image_dir, [(n, captions[n]) for n in order], skip_missing)


def flickr8k(split="train", data_dir=None, skip_missing=True):
    """Flickr8k captions of one official split ("train", "dev" or "test"),
    from `<data dir>/flickr8k/` or downloaded (1 GB of images)."""
    if split not in FLICKR8K_SPLITS:
        raise ValueError(f"Flickr8k split must be one of {sorted(FLICKR8K_SPLITS)}; "
                         f"got {split!r}.")
    token_file = locate_in_archive(FLICKR8K_TEXT, data_dir)
    split_file = os.path.join(os.path.dirname(token_file), FLICKR8K_SPLITS[split])
    if not os.path.exists(split_file):
        raise FileNotFoundError(f"No Flickr8k split list at {split_file}.")
    with open(split_file, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    images = locate_in_archive(FLICKR8K_IMAGES, data_dir)
    return read_flickr8k_captions(token_file, images, names, skip_missing=skip_missing)


# --------------------------------------------------------------- scenes
KINDS = ("circle", "square", "triangle", "cross")
COLOURS = {"red": (215, 45, 40), "green": (45, 180, 60), "blue": (50, 95, 235),
           "yellow": (235, 210, 45), "purple": (160, 65, 210)}
# Half-extent of a shape as a share of a grid cell.
SIZES = {"small": 0.24, "large": 0.42}
GRID = 3
# Shares of scenes with one, two and three shapes.
OBJECT_COUNTS = (0.2, 0.4, 0.4)


@dataclasses.dataclass(frozen=True)
class Shape:
    """One shape of a scene: its kind, colour and size words and its grid
    cell (`row`, `col` in 0..2)."""

    kind: str
    colour: str
    size: str
    row: int
    col: int

    @property
    def words(self):
        return f"{self.size} {self.colour} {self.kind}"


def describe(shapes):
    """The captions of a scene: shapes chained by the relation of each to
    the next, first in reading order (columns left to right, then top to
    bottom), then the same chain read backwards.

    Example:

    >>> for caption in describe([Shape("circle", "red", "large", 1, 0),
    ...                          Shape("square", "blue", "small", 0, 2)]):
    ...     print(caption)
    a large red circle left of a small blue square
    a small blue square right of a large red circle
    >>> describe([Shape("cross", "green", "small", 0, 1), Shape("circle", "red", "large", 2, 1)])[0]
    'a small green cross above a large red circle'
    """
    ordered = sorted(shapes, key=lambda s: (s.col, s.row))
    forward, backward = [f"a {ordered[0].words}"], [f"a {ordered[-1].words}"]
    for a, b in zip(ordered, ordered[1:]):
        forward.append(("left of" if b.col > a.col else "above") + f" a {b.words}")
    rev = ordered[::-1]
    for a, b in zip(rev, rev[1:]):
        backward.append(("right of" if b.col < a.col else "below") + f" a {b.words}")
    captions = [" ".join(forward), " ".join(backward)]
    return captions[:1] if len(shapes) == 1 else captions


def random_shapes(rng, max_objects=3):
    """1 to `max_objects` shapes in distinct grid cells."""
    p = np.array(OBJECT_COUNTS[:max_objects])
    count = int(rng.choice(np.arange(1, len(p) + 1), p=p / p.sum()))
    cells = rng.choice(GRID * GRID, size=count, replace=False)
    colours, sizes = list(COLOURS), list(SIZES)
    return [Shape(KINDS[rng.integers(len(KINDS))], colours[rng.integers(len(colours))],
                  sizes[rng.integers(len(sizes))], int(c) // GRID, int(c) % GRID)
            for c in cells]


def _mask(kind, dx, dy, half):
    if kind == "circle":
        return dx * dx + dy * dy <= half * half
    if kind == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.82 * half
    if kind == "triangle":  # apex up, base at 0.8 * half below the centre
        return (dy >= -half) & (dy <= 0.8 * half) & (np.abs(dx) <= (dy + half) / 1.8)
    bar = 0.34 * half  # cross
    return (((np.abs(dx) <= bar) & (np.abs(dy) <= half))
            | ((np.abs(dy) <= bar) & (np.abs(dx) <= half)))


def render(shapes, image_size=64, rng=None):
    """Draws shapes on a dark, noisy background: uint8 `[size, size, 3]`.

    Each shape sits in its grid cell, jittered as far as it fits, with its
    colour jittered a little; edges are antialiased (2x supersampling).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    ss = 2
    n = image_size * ss
    coords = (np.arange(n) + 0.5) / ss
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    canvas = np.empty((n, n, 3), np.float32)
    canvas[:] = rng.uniform(15, 60)
    cell = image_size / GRID
    for shape in shapes:
        half = SIZES[shape.size] * cell
        room = max(0.0, cell / 2 - half - 1)
        cy = (shape.row + 0.5) * cell + rng.uniform(-room, room)
        cx = (shape.col + 0.5) * cell + rng.uniform(-room, room)
        colour = np.clip(np.array(COLOURS[shape.colour]) + rng.uniform(-20, 20, 3), 0, 255)
        canvas[_mask(shape.kind, xx - cx, yy - cy, half)] = colour
    image = canvas.reshape(image_size, ss, image_size, ss, 3).mean(axis=(1, 3))
    image += rng.normal(0, 6, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def is_heldout(caption, percent):
    """Whether a scene's (first) caption belongs to the held-out split: a
    fixed hash of the caption, so the split never depends on the seed."""
    return zlib.crc32(caption.encode("utf-8")) % 100 < percent


def _check_scene_arguments(train_count, test_count, image_size, max_objects,
                           heldout_percent):
    for name, value, low in (("train_count", train_count, 1), ("test_count", test_count, 0),
                             ("image_size", image_size, 24)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"Argument `{name}` must be an integer >= {low}; got {value!r}.")
    if max_objects not in (1, 2, 3):
        raise ValueError(f"Argument `max_objects` must be 1, 2 or 3; got {max_objects!r}.")
    if not 0 < heldout_percent < 100:
        raise ValueError(
            f"Argument `heldout_percent` must be in (0, 100); got {heldout_percent!r}.")


@dataclasses.dataclass(eq=False)
class SceneRecipe:
    """What `render_recipe` needs to draw one generated scene again,
    bit-identical: its shapes, captions and name, the image size, and the
    generator's state just before the scene was rendered (a small dict).

    Args:
        shapes: the scene's `Shape`s.
        captions: its captions (`describe(shapes)`).
        source: its name ("scene-train-0").
        image_size: side of the image (pixels).
        state: `numpy.random.Generator.bit_generator.state` before `render`.
    """

    shapes: tuple
    captions: tuple
    source: str
    image_size: int
    state: dict


def _generate_scenes(train_count, test_count, image_size, max_objects, heldout_percent, seed):
    """Yields `(split, SceneRecipe, image)` in the order `scenes` draws them:
    one generator for the in-memory scenes and the recipes of `prepare`, so
    both hold the very same scenes."""
    _check_scene_arguments(train_count, test_count, image_size, max_objects, heldout_percent)
    rng = np.random.default_rng(seed)
    made = {"train": 0, "test": 0}
    want = {"train": train_count, "test": test_count}
    tries = 0
    while any(made[k] < want[k] for k in made):
        tries += 1
        if tries > 200 * (train_count + test_count) + 10_000:
            raise RuntimeError("Could not generate enough distinct scenes; lower the counts "
                               "or raise max_objects.")
        shapes = random_shapes(rng, max_objects)
        captions = describe(shapes)
        split = "test" if is_heldout(captions[0], heldout_percent) else "train"
        if made[split] >= want[split]:
            continue
        state = rng.bit_generator.state
        image = render(shapes, image_size, rng)
        yield split, SceneRecipe(tuple(shapes), tuple(captions), f"scene-{split}-{made[split]}",
                                 image_size, state), image
        made[split] += 1


def scenes(train_count=6000, test_count=500, image_size=64, max_objects=3,
           heldout_percent=10, seed=0):
    """Generates the synthetic scenes benchmark.

    Args:
        train_count, test_count: scenes per split.
        image_size: side of the square images (pixels).
        max_objects: 1 to 3 shapes per scene.
        heldout_percent: share of scene descriptions (combinations of shapes,
            attributes and relations) reserved for the test split.
        seed: seed of the generator; the same seed gives the same scenes.

    Returns:
        `pipelines.data.Splits`: `train` and `test` lists of
        `CaptionedImage`s whose `image` is a uint8 array and whose captions
        are every valid phrasing of the scene (the reading-order chain
        first); `val` is None (the captioner holds out its own share of
        train). No test caption occurs in train.
    """
    out = {"train": [], "test": []}
    for split, recipe, image in _generate_scenes(train_count, test_count, image_size,
                                                 max_objects, heldout_percent, seed):
        out[split].append(CaptionedImage(image, list(recipe.captions), recipe.source))
    return Splits(out["train"], test=out["test"])


def scene_recipes(train_count=6000, test_count=500, image_size=64, max_objects=3,
                  heldout_percent=10, seed=0):
    """The scenes of `scenes(...)` (same arguments) as `SceneRecipe`s,
    `{"train": [...], "test": [...]}`: `render_recipe` draws each image
    again, bit-identical. Only one image is held at a time (each is drawn
    here too: the generator's next state depends on it).

    Example:

    >>> recipes = scene_recipes(train_count=2, test_count=1, image_size=32)
    >>> same = scenes(train_count=2, test_count=1, image_size=32)
    >>> bool((render_recipe(recipes["test"][0]) == same.test[0].image).all())
    True
    """
    out = {"train": [], "test": []}
    for split, recipe, _ in _generate_scenes(train_count, test_count, image_size,
                                             max_objects, heldout_percent, seed):
        out[split].append(recipe)
    return out


def render_recipe(recipe):
    """The uint8 image of a `SceneRecipe`, as `scenes` drew it."""
    rng = np.random.default_rng()
    rng.bit_generator.state = recipe.state
    return render(list(recipe.shapes), recipe.image_size, rng)


def split_loader(d, data_dir=None):
    """`load(split)` -> the `CaptionedImage`s of one split (`train2017`,
    `dev`, ...) of the COCO-format or Flickr8k dataset the data config `d`
    names (its `coco_root` and `skip_missing`)."""
    if d.dataset == "coco":
        return lambda split: coco(split, root=d.coco_root, data_dir=data_dir,
                                  skip_missing=d.skip_missing)
    return lambda split: flickr8k(split, data_dir=data_dir, skip_missing=d.skip_missing)


def holdout(examples, val_fraction, seed):
    """`(train, val)`: a seeded `val_fraction` of `examples` held out for
    validation (at least one), the captioner's rule in memory and in
    `prepare`; `val` is None when `val_fraction` is 0 or there is only one
    example.

    Example:

    >>> holdout(list("abcdefghij"), 0.2, seed=0)
    (['c', 'h', 'd', 'f', 'j', 'a', 'i', 'b'], ['e', 'g'])
    """
    examples = list(examples)
    if not (val_fraction > 0 and len(examples) > 1):
        return examples, None
    # Seeded by data.seed (not train.seed): the same images are held out
    # whatever the training seed.
    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = max(1, int(len(examples) * val_fraction))
    return [examples[i] for i in order[n_val:]], [examples[i] for i in order[:n_val]]
