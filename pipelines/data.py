"""Data plumbing: one data directory, searched before any download.

The data directory is, in order: the `data_dir` argument (the CLI's
`--data-dir`), the `PIPELINES_DATA_DIR` environment variable, or
`~/.keras/pipelines_data`. A dataset is looked up there by its relative path
(for example `ett/ETTh1.csv`); only if it is missing is it downloaded from its
public address into the cache, and its SHA-256 checked.

Example:

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> open(os.path.join(d, "x.csv"), "w").close()
>>> os.path.basename(locate(Dataset("x.csv", url=None), data_dir=d))
'x.csv'
"""

import contextlib
import dataclasses
import glob
import hashlib
import logging
import os
import shutil
import tempfile
from typing import Any, Optional

import keras

ENV_VAR = "PIPELINES_DATA_DIR"

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Where a dataset file lives, locally and online.

    Args:
        path: path relative to the data directory (e.g. "ett/ETTh1.csv").
        url: public download address, or None if it cannot be downloaded.
        sha256: checksum of the downloaded file (None skips the check).
        archive_member: for a dataset downloaded as an archive, where its
            file or folder lies inside the extracted archive (a glob;
            default: the base name of `path`).
    """

    path: str
    url: Optional[str]
    sha256: Optional[str] = None
    archive_member: Optional[str] = None


@dataclasses.dataclass
class Splits:
    """What every split loader returns: training, validation and test data
    (lists of examples, or arrays). `val` is None when the pipeline holds out
    its own validation share of `train` (its `data.val_fraction`); `test` is
    empty or None when the data has no test split. Reads as a dict too
    (`splits["train"]`, `splits.items()`).
    """

    train: Any
    val: Any = None
    test: Any = None

    def __getitem__(self, key):
        if key not in ("train", "val", "test"):
            raise KeyError(key)
        return getattr(self, key)

    def keys(self):
        return ["train", "val", "test"]

    def items(self):
        return [(k, self[k]) for k in self.keys()]


def data_dir(explicit=None):
    """Returns the data directory in force (it may not exist)."""
    if explicit:
        return os.path.abspath(os.path.expanduser(os.fspath(explicit)))
    if os.environ.get(ENV_VAR):
        return os.path.abspath(os.path.expanduser(os.environ[ENV_VAR]))
    return os.path.join(os.path.expanduser("~"), ".keras", "pipelines_data")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(dataset, data_dir=None, download=True):
    """Returns a local path for `dataset`, downloading it if needed.

    Raises:
        FileNotFoundError: naming the directory searched and the address, when
            the file is not local and cannot (or may not) be downloaded.
    """
    root = globals()["data_dir"](data_dir)
    local = os.path.join(root, dataset.path)
    if os.path.exists(local):
        return local
    if not download or not dataset.url:
        raise FileNotFoundError(
            f"Dataset file {dataset.path!r} not found in the data directory "
            f"{root} (set --data-dir or {ENV_VAR})"
            + (f"; it can be downloaded from {dataset.url}" if dataset.url else "")
            + "."
        )
    log.info("Downloading %s from %s", dataset.path, dataset.url)
    with _download_area(root) as area:
        downloaded = _get_file(dataset, root, fname=os.path.basename(dataset.path),
                               cache_dir=area, cache_subdir=".")
        # Only a finished, checked download creates anything in the data
        # directory.
        os.makedirs(os.path.dirname(local) or root, exist_ok=True)
        shutil.move(downloaded, local)
    return local


@contextlib.contextmanager
def _download_area(root):
    """A temporary folder for a download (removed afterwards), so a failed
    download leaves nothing behind, not even the data directory."""
    area = tempfile.mkdtemp(prefix="pipelines-download-")
    try:
        yield area
    finally:
        shutil.rmtree(area, ignore_errors=True)


def _get_file(dataset, root, **kwargs):
    """`keras.utils.get_file` of the dataset, with one line naming the file,
    the address and what to pass instead when the download fails."""
    try:
        return keras.utils.get_file(origin=dataset.url, file_hash=dataset.sha256,
                                    hash_algorithm="sha256", **kwargs)
    except ValueError:
        raise  # a checksum mismatch: its own clear message
    except Exception as e:  # noqa: BLE001 - get_file raises bare Exception
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FileNotFoundError(
            f"Dataset {dataset.path!r} is not in the data directory {root}, and "
            f"downloading it from {dataset.url} failed ({reason}). Pass --data-dir "
            f"(or set {ENV_VAR}) to a folder that holds {dataset.path}."
        ) from None


def locate_in_archive(dataset, data_dir=None):
    """Returns the local path of a dataset shipped in an archive, downloading
    and extracting it if needed.

    The data directory (see `pipelines.data.data_dir`) is searched first, at
    `dataset.path`. Otherwise the dataset's archive is downloaded from
    `dataset.url` and extracted (`keras.utils.get_file(extract=True)`) under
    `<data dir>/downloads/`, and the folder holding the data inside it is
    returned (for LJ Speech this is the full corpus, `LJSpeech-1.1/`;
    for Tatoeba spa-eng, `spa-eng/spa.txt`).

    Args:
        dataset: a `pipelines.data.Dataset` (a file or a folder) with an
            archive `url`.
        data_dir: the data directory (`None`: `PIPELINES_DATA_DIR` or the
            default).

    Raises:
        FileNotFoundError: when the folder is not local and there is no
            address to download it from, or the archive lacks it.
    """
    try:
        return locate(dataset, data_dir=data_dir, download=False)
    except FileNotFoundError:
        if not dataset.url:
            raise
    root = globals()["data_dir"](data_dir)
    name = dataset.path.replace("/", "_")
    extracted = os.path.join(root, "downloads", name)
    member = dataset.archive_member or os.path.basename(dataset.path)
    found = _find_member(extracted, member)
    if found is None:
        log.info("Downloading %s from %s", dataset.path, dataset.url)
        with _download_area(root) as area:
            unpacked = _get_file(dataset, root, fname=name, extract=True, cache_dir=area,
                                 cache_subdir=".")
            os.makedirs(os.path.dirname(extracted), exist_ok=True)
            if os.path.exists(extracted):
                shutil.rmtree(extracted)
            shutil.move(unpacked, extracted)
        found = _find_member(extracted, member)
    if found is None:
        raise FileNotFoundError(
            f"The archive downloaded from {dataset.url} (extracted to {extracted}) "
            f"has nothing matching {member!r}."
        )
    return found


def _find_member(folder, pattern):
    matches = sorted(glob.glob(os.path.join(folder, pattern)))
    return matches[0] if matches else None


def padded_batches(dataset, batch_size, length_fn, boundaries, padded_shapes=None,
                   padding_values=None, drop_remainder=False):
    """Groups examples of similar length into padded batches (bucketing).

    Args:
        dataset: a `tf.data.Dataset` of examples.
        batch_size: examples per batch in every bucket.
        length_fn: maps an example to its int32 length.
        boundaries: increasing bucket upper bounds (lengths).
    """
    return dataset.bucket_by_sequence_length(
        element_length_func=length_fn,
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=padded_shapes,
        padding_values=padding_values,
        drop_remainder=drop_remainder,
    )
