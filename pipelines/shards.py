"""Corpora larger than memory: `prepare` writes TFRecord shards on Apache
Beam, and training streams them back with `tf.data`.

**Prepare** (`prepare(source, output, ...)`, `pipelines prepare <domain>`):
a domain's `ShardSource` lists small, picklable *items* per split (a file
path and its transcript, a TSV line, an image and its captions); an Apache
Beam pipeline turns each item into `tf.train.Example`s in parallel (reading,
resampling and checking it there, not in the driver), writes each split as
`<split>-SSSSS-of-NNNNN.tfrecord` shards, and an `index.json` that says, per
split, the example count and SHA-256 of every shard, a histogram of example
lengths (bucket boundaries come from it), the sources, and the config fields
the examples depend on (a sample rate, an image size). An item that cannot
be used is skipped, counted in the index and listed, with its reason, in
`skipped.jsonl`; nothing is dropped without a word. The output folder is
written beside its target and renamed into place when complete, so a reader
never sees a mix of old and new shards.

Beam runs where its options say: by default the local in-process runner
(`FnApiRunner`) in multi-process mode, one worker per core; `--runner
FlinkRunner|SparkRunner|DataflowRunner ...` runs the same pipeline on a
cluster. Beam 2.77's `DirectRunner` first tries the Prism runner, which
downloads a binary at run time; it is never chosen implicitly here, so an
offline machine does not wait on a download.

**Train** (`data.shards`: the folder, or a glob of some of its shards):
`Shards.open(...).split("train")` is what `Pipeline.fit` takes instead of
in-memory examples; `Split.records` lists the files, interleaves them,
shuffles in a bounded buffer, and the domain parses and decodes each record
in TensorFlow ops (no Python per example); `Split.boundaries` gives the
bucket boundaries from the index.

Example (a tiny text corpus, prepared on the in-process runner and read
back):

>>> import os, tempfile
>>> class Lines(ShardSource):
...     domain, length_unit, length_bin = "demo", "characters", 4
...     def __init__(self, lines):
...         self.lines = lines
...     def items(self):
...         return {"train": self.lines}
...     def encode(self, line):
...         if not line:
...             raise ValueError("empty line")
...         return [(example(text=line), len(line))]
>>> out = os.path.join(tempfile.mkdtemp(), "shards")
>>> index = prepare(Lines(["a cat", "", "a dog"]), out, shards=2,
...                 beam_args=["--direct_running_mode=in_memory"])  # doctest: +SKIP
>>> index["splits"]["train"]["examples"], index["splits"]["train"]["skipped"]  # doctest: +SKIP
(2, 1)
"""

import dataclasses
import glob
import hashlib
import json
import logging
import math
import os
import struct
import time

from pipelines import files

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
SKIPPED_FILE = "skipped.jsonl"
FORMAT = "recurrent-pipelines shards"
VERSION = 1
SPLITS = ("train", "val", "test")
#: What to install when Apache Beam is missing.
BEAM_EXTRA = "pip install 'recurrent-pipelines[beam]'"
#: Default bucket boundaries: these quantiles of the lengths.
QUANTILES = (0.2, 0.4, 0.6, 0.8)
#: Reasons listed in the index itself (all of them are in skipped.jsonl).
INDEX_REASONS = 20


class ShardsError(ValueError):
    """A shard folder or glob cannot be used; the message names it."""


def require_beam():
    """Imports Apache Beam, or raises one ImportError that says how to
    install it."""
    try:
        import apache_beam as beam
    except ImportError:
        raise ImportError(
            f"`prepare` runs on Apache Beam, which is not installed: {BEAM_EXTRA} "
            "(or pip install 'apache-beam>=2.60')."
        ) from None
    return beam


def beam_options(args=(), local_mode="multi_processing"):
    """`(PipelineOptions, the argument list used)` for Beam arguments
    `args` (`--runner=...`, `--direct_num_workers=...`, a cluster runner's
    options).

    Without `--runner`, the local in-process runner `FnApiRunner`: in
    `local_mode` "multi_processing" (what `prepare` uses: its work is
    Python, one worker per core, at most 8), or "in_memory" (one worker in
    this process: what batch prediction uses, whose TensorFlow graph already
    runs on every core, and loads the model once); never `DirectRunner`,
    which in Beam 2.77 first tries to download the Prism runner.

    Example:

    >>> beam_options(["--direct_num_workers=2"])[1]  # doctest: +SKIP
    ['--direct_num_workers=2', '--runner=FnApiRunner', '--direct_running_mode=multi_processing', '--default_sdk_harness_log_level=WARNING']
    """
    require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    args = [str(a) for a in args]
    names = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    if "--runner" not in names:
        args.append("--runner=FnApiRunner")
        if "--direct_running_mode" not in names:
            args.append(f"--direct_running_mode={local_mode}")
        if "--direct_num_workers" not in names:
            workers = 1 if "--direct_running_mode=in_memory" in args else min(8, os.cpu_count()
                                                                                or 1)
            args.append(f"--direct_num_workers={max(1, workers)}")
    if "--default_sdk_harness_log_level" not in names:
        # Workers otherwise log every bundle at INFO.
        args.append("--default_sdk_harness_log_level=WARNING")
    return PipelineOptions(args), args


# ---------------------------------------------------------------------------
# Examples


def example(**features):
    """A serialised `tf.train.Example`: `bytes`/`str` (or lists of them)
    become bytes features, ints int64 features, floats float features.

    Example:

    >>> import tensorflow as tf
    >>> parsed = tf.io.parse_single_example(example(text="hi", n=3), {
    ...     "text": tf.io.FixedLenFeature([], tf.string),
    ...     "n": tf.io.FixedLenFeature([], tf.int64)})
    >>> parsed["text"].numpy(), int(parsed["n"])
    (b'hi', 3)
    """
    from tensorflow.core.example import example_pb2

    proto = example_pb2.Example()
    for name, value in features.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        feature = proto.features.feature[name]
        if all(isinstance(v, (bytes, str)) for v in values):
            feature.bytes_list.value.extend(
                v.encode("utf-8") if isinstance(v, str) else v for v in values)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            feature.int64_list.value.extend(values)
        elif all(isinstance(v, (int, float)) for v in values):
            feature.float_list.value.extend(float(v) for v in values)
        else:
            raise TypeError(f"Feature {name!r} must be bytes, str, int or float values; "
                            f"got {type(values[0]).__name__}.")
    return proto.SerializeToString()


class ShardSource:
    """What a domain gives `prepare`: items per split and how to encode one.

    Subclasses set the attributes and implement `items` and `encode`; an
    instance is pickled to Beam's workers, so it holds settings (paths,
    rates), never data.

    Attributes:
        domain: the domain's name (in the index; training checks it).
        length_unit: what an example's length counts ("samples", "tokens").
        length_bin: width of the length histogram's bins, in that unit.
        fields: the config fields the examples depend on, `{"features.
            sample_rate": 8000}`; training from the shards refuses a config
            that disagrees.
        sources: what was read (files, folders), for the index.
        skip_bad: whether an item that cannot be used is skipped (counted
            and listed) or stops `prepare` with its reason, as the
            in-memory loader would stop; `skip_field` names the config
            field that says so.
    """

    domain = None
    length_unit = "items"
    length_bin = 1
    fields = {}
    sources = ()
    skip_bad = True
    skip_field = None

    def items(self):
        """`{split: [item, ...]}` (small picklable items, in a stable
        order)."""
        raise NotImplementedError

    def encode(self, item):
        """`[(serialised Example, length), ...]` of one item; raises
        ValueError (with the message the in-memory loader would log) for an
        item that cannot be used."""
        raise NotImplementedError

    def describe(self, item):
        """How a skipped item is named in the index."""
        return str(item)


def _write_shard(task, source, folder):
    """Encodes one shard's items and writes them to its file; returns its
    summary (count, length histogram, skipped items) as JSON. Records go
    straight from the worker to the file: nothing of the corpus passes
    through the runner (the local runner would hold a whole PCollection in
    memory for a shuffle), so memory stays flat however large the corpus. A
    retried task rewrites its file whole."""
    import tensorflow as tf

    split, k, n, items = task
    name = shard_name(split, k, n)
    examples, lengths, skipped = 0, {}, []
    with tf.io.TFRecordWriter(os.path.join(folder, name)) as writer:
        for item in items:
            try:
                encoded = list(source.encode(item))
            except ValueError as e:
                skipped.append({"split": split, "record": source.describe(item),
                                "reason": str(e)})
                continue
            for record, length in encoded:
                writer.write(record)
                examples += 1
                b = int(length) // source.length_bin
                lengths[b] = lengths.get(b, 0) + 1
    # Counted and checksummed here, on the worker that wrote it, in
    # parallel: the driver does not read the corpus again.
    found = scan(os.path.join(folder, name))
    if found["examples"] != examples:
        raise ShardsError(f"{name}: {found['examples']} records written, {examples} encoded.")
    return json.dumps({"split": split, "file": name, "lengths": sorted(lengths.items()),
                       "skipped": skipped, **found})


def shard_name(split, k, n):
    """`train-00003-of-00008.tfrecord`: Beam's and TFDS's shard naming."""
    return f"{split}-{k:05d}-of-{n:05d}.tfrecord"


def prepare(source, output, shards=8, beam_args=(), overwrite=False):
    """Writes `source`'s splits as TFRecord shards and `index.json` into the
    folder `output`, on Apache Beam; returns the index.

    Args:
        source: a `ShardSource`.
        output: the folder to write (atomically: built beside it, renamed
            into place when complete).
        shards: shard files per split (at least the number of training
            workers that will read them).
        beam_args: Beam pipeline options (see `beam_options`).
        overwrite: rebuild an existing `output` (it is replaced whole);
            without it an existing folder is refused.

    Raises:
        FileExistsError: `output` exists and `overwrite` is False.
        ValueError: no split has any item, or every item was skipped.
        ImportError: Apache Beam is not installed (with what to install).
    """
    beam = require_beam()
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a positive integer; got shards={shards!r}.")
    output = os.path.abspath(os.fspath(output))
    if os.path.exists(output) and not overwrite:
        raise FileExistsError(
            f"{output} already exists; pass --overwrite (overwrite=True) to rebuild it, "
            "or choose another --output.")
    items = {k: list(v) for k, v in source.items().items() if v}
    if not items:
        raise ValueError(f"Nothing to prepare: the {source.domain} source has no items.")
    options, used_args = beam_options(beam_args)
    started = time.time()
    with files.atomic_directory(output) as tmp:
        # One task per shard: every `shards`-th item, so that counts and
        # lengths are balanced between shards.
        tasks = [(split, k, shards, split_items[k::shards])
                 for split, split_items in items.items() for k in range(shards)]
        with beam.Pipeline(runner=_runner(options, used_args), options=options) as p:
            (p
             | "shards" >> beam.Create(tasks)
             | "encode and write" >> beam.Map(_write_shard, source, tmp)
             | "summaries" >> beam.io.WriteToText(os.path.join(tmp, "_summaries"),
                                                  shard_name_template=""))
        index = _write_index(tmp, source, items, used_args, time.time() - started)
        skipped = sum(s["skipped"] for s in index["splits"].values())
        if skipped and not source.skip_bad:
            # Raised inside the block: nothing replaces `output`.
            raise ValueError(
                f"{index['skipped_reasons'][0]} ({skipped} item(s) of the {source.domain} "
                f"source cannot be used; {source.skip_field}: true skips them, listed in "
                f"{SKIPPED_FILE}.)")
        if not sum(s["examples"] for s in index["splits"].values()):
            # Raised inside the block: nothing replaces `output`.
            raise ValueError(f"Every item of the {source.domain} source was skipped; the "
                             f"first reasons: {index['skipped_reasons'][:3]}.")
    log.info("Prepared %s in %.1f s: %s.", output, index["seconds"], ", ".join(
        f"{k} {v['examples']} examples in {len(v['shards'])} shards"
        + (f" ({v['skipped']} skipped)" if v["skipped"] else "")
        for k, v in index["splits"].items()))
    return index


def _runner(options, args):
    """The runner object for the default local runner: `FnApiRunner` given
    the options as provision info, as `DirectRunner` does, so that its
    worker processes get them too (their log level among them); None for
    any other runner (Beam makes it from `--runner`)."""
    if "--runner=FnApiRunner" not in args:
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def _read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line]
    os.remove(path)
    return lines


def _write_index(folder, source, items, beam_args, seconds):
    summaries = [json.loads(line) for line in _read_lines(os.path.join(folder, "_summaries"))]
    splits, skipped = {}, []
    for split, split_items in items.items():
        mine = sorted((s for s in summaries if s["split"] == split), key=lambda s: s["file"])
        entries, histogram = [], {}
        for summary in mine:
            entries.append({k: summary[k] for k in ("file", "examples", "bytes", "sha256")})
            for b, c in summary["lengths"]:
                histogram[int(b)] = histogram.get(int(b), 0) + int(c)
            skipped.extend(summary["skipped"])
        split_skipped = sum(len(s["skipped"]) for s in mine)
        splits[split] = {
            "items": len(split_items), "examples": sum(e["examples"] for e in entries),
            "skipped": split_skipped, "shards": entries,
            "lengths": [[b * source.length_bin, c] for b, c in sorted(histogram.items())],
        }
    skipped.sort(key=lambda s: (s["split"], s["record"]))
    for s in skipped:
        log.warning("%s", s["reason"])
    if skipped:
        files.atomic_write_text(os.path.join(folder, SKIPPED_FILE),
                                "".join(json.dumps(s) + "\n" for s in skipped))
        log.warning("Skipped %d item(s) that could not be used; all are listed in %s.",
                    len(skipped), SKIPPED_FILE)
    index = {
        "format": FORMAT, "version": VERSION, "domain": source.domain,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sources": list(source.sources), "fields": dict(source.fields),
        "length_unit": source.length_unit, "length_bin": source.length_bin,
        "splits": splits,
        "skipped_reasons": [s["reason"] for s in skipped[:INDEX_REASONS]],
        "beam_args": list(beam_args), "seconds": round(seconds, 2),
    }
    files.write_json(os.path.join(folder, INDEX_FILE), index)
    return index


def scan(path):
    """`{"examples", "bytes", "sha256"}` of one TFRecord file, read once
    (the framing: a little-endian uint64 length, its CRC, the data, its
    CRC)."""
    digest, count, size = hashlib.sha256(), 0, 0
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                break
            if len(header) < 12:
                raise ShardsError(f"{path}: truncated TFRecord header after {count} records.")
            (length,) = struct.unpack("<Q", header[:8])
            body = f.read(length + 4)
            if len(body) < length + 4:
                raise ShardsError(f"{path}: truncated record {count + 1}.")
            digest.update(header)
            digest.update(body)
            count += 1
            size += 12 + length + 4
    return {"examples": count, "bytes": size, "sha256": digest.hexdigest()}


# ---------------------------------------------------------------------------
# Reading


@dataclasses.dataclass
class Shards:
    """A folder written by `prepare` (or the shards of it a glob selects).

    Attributes:
        folder: the folder holding `index.json`.
        index: the index, as read.
        selected: the shard files the glob selected (None: all).
    """

    folder: str
    index: dict
    selected: frozenset = None

    @classmethod
    def open(cls, spec, field="data.shards"):
        """The shards of `spec`: a folder written by `prepare`, or a glob of
        shard files inside one.

        Raises:
            ShardsError: naming `field` and `spec` when there is no index, the
                glob matches nothing, or the index is not one `prepare` wrote.
        """
        spec = os.path.expanduser(os.fspath(spec))
        selected = None
        if os.path.isdir(spec):
            folder = spec
        else:
            matches = sorted(glob.glob(spec))
            if not matches:
                raise ShardsError(f"{field}={spec!r}: no such folder, and the glob matches "
                                  "no file; write shards with `pipelines prepare`.")
            folders = {os.path.dirname(os.path.abspath(m)) for m in matches}
            if len(folders) != 1:
                raise ShardsError(f"{field}={spec!r} matches files in {len(folders)} folders; "
                                  "a glob must select shards of one prepared folder.")
            folder = folders.pop()
            selected = frozenset(os.path.basename(m) for m in matches)
        path = os.path.join(folder, INDEX_FILE)
        if not os.path.exists(path):
            raise ShardsError(f"{field}={spec!r}: {folder} has no {INDEX_FILE}; it was not "
                              "written by `pipelines prepare` (or is still being written).")
        index = files.read_json(path)
        if index.get("format") != FORMAT:
            raise ShardsError(f"{field}={spec!r}: {path} is not a shard index of this toolkit.")
        if index.get("version", 0) > VERSION:
            raise ShardsError(f"{field}={spec!r}: index version {index['version']} is newer "
                              f"than this toolkit reads ({VERSION}); upgrade it.")
        if selected is not None:
            known = {e["file"] for s in index["splits"].values() for e in s["shards"]}
            unknown = sorted(selected - known)
            if unknown:
                raise ShardsError(f"{field}={spec!r} matches {unknown[0]}, which the index "
                                  "does not list.")
        return cls(os.path.abspath(folder), index, selected)

    @property
    def domain(self):
        return self.index["domain"]

    def check(self, domain, fields, field="data.shards"):
        """Raises ShardsError unless the shards were prepared for `domain`
        with the config values `fields` (`{"features.sample_rate": 8000}`)."""
        if self.domain != domain:
            raise ShardsError(f"{field}={self.folder}: prepared for {self.domain!r}, not "
                              f"{domain!r}.")
        for key, value in fields.items():
            prepared = self.index["fields"].get(key)
            if prepared != value:
                raise ShardsError(
                    f"{field}={self.folder} was prepared with {key}={prepared!r}, but this "
                    f"config has {key}={value!r}; prepare again with this config, or set "
                    f"{key}={prepared!r}.")

    def has(self, name):
        return bool(self.split(name, required=False))

    def split(self, name, required=True):
        """The `Split` `name` ("train", "val" or "test"); with `required`,
        a ShardsError when it has no examples."""
        info = self.index["splits"].get(name)
        entries = [] if info is None else [
            e for e in info["shards"]
            if self.selected is None or e["file"] in self.selected]
        split = Split(self, name, entries)
        if required and not split.examples:
            raise ShardsError(f"data.shards={self.folder}: no {name!r} examples "
                              f"(splits: {sorted(self.index['splits'])}).")
        return split


@dataclasses.dataclass(eq=False)
class Split:
    """One split of a `Shards`: what `Pipeline.fit` takes instead of a
    list of examples."""

    shards: Shards
    name: str
    entries: list

    @property
    def files(self):
        return [os.path.join(self.shards.folder, e["file"]) for e in self.entries]

    @property
    def examples(self):
        return sum(e["examples"] for e in self.entries)

    def __len__(self):
        return self.examples

    def __bool__(self):
        return self.examples > 0

    def __repr__(self):
        return (f"Split({self.shards.folder!r}, {self.name!r}: {len(self.entries)} shards, "
                f"{self.examples} examples)")

    @property
    def histogram(self):
        """`[(bin start, count), ...]` of the split's lengths (all its
        shards: the index keeps one histogram per split)."""
        info = self.shards.index["splits"].get(self.name, {})
        return [(int(b), int(c)) for b, c in info.get("lengths", [])]

    def boundaries(self, quantiles=QUANTILES):
        """Bucket boundaries: the upper ends of the histogram bins holding
        `quantiles` of the lengths."""
        return histogram_boundaries(self.histogram, self.shards.index["length_bin"], quantiles)

    def verify(self):
        """Re-reads every shard; raises ShardsError naming the first whose
        count or checksum differs from the index."""
        for entry, path in zip(self.entries, self.files):
            if not os.path.exists(path):
                raise ShardsError(f"{path}: listed in the index but missing.")
            found = scan(path)
            if (found["examples"], found["sha256"]) != (entry["examples"], entry["sha256"]):
                raise ShardsError(f"{path}: its content differs from the index (checksum "
                                  "mismatch); prepare it again.")

    def records(self, training=False, seed=0, shuffle_buffer=10000, cycle_length=4,
                shard=None):
        """A `tf.data.Dataset` of the split's serialised records: the files
        (shuffled each epoch in training), read `cycle_length` at a time
        (interleaved), then shuffled in a buffer of `shuffle_buffer`
        records in training. Memory stays flat: at most the buffer is held.
        `shard=(workers, ordinal)` keeps every `workers`-th file from the
        `ordinal`-th (`pipelines.distribute.worker_shard`): each worker reads
        only its own files."""
        import tensorflow as tf

        paths = self.files
        if shard is not None:
            workers, ordinal = shard
            paths = paths[ordinal::workers]
        ds = tf.data.Dataset.from_tensor_slices(paths)
        if training and len(paths) > 1:
            ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        ds = ds.interleave(tf.data.TFRecordDataset,
                           cycle_length=max(1, min(cycle_length, len(paths))),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if training and shuffle_buffer > 1:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return ds


class Drops:
    """Counts what a stream's filter drops, and says so: a record a domain
    cannot use only once the model's tokenizer exists (too many tokens for
    the config's limits, none at all) is dropped in the `tf.data` stream,
    where no Python runs per record, so it is counted in a variable and
    logged after each epoch (`DropsReport`, which `Pipeline.fit` adds).

    Args:
        what: the records, in words ("training pairs").
        reason: why one is dropped ("empty, or longer than ...").

    Example:

    >>> import tensorflow as tf
    >>> drops = Drops("numbers", "odd")
    >>> kept = drops.filter(tf.data.Dataset.range(5), lambda x: x % 2 == 0)
    >>> [int(x) for x in kept], drops.counts()
    ([0, 2, 4], (2, 5))
    """

    def __init__(self, what, reason):
        import tensorflow as tf

        self.what, self.reason = what, reason
        self.dropped = tf.Variable(0, dtype=tf.int64, trainable=False, name="dropped")
        self.seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="seen")

    def filter(self, ds, keep):
        """`ds.filter(keep)`, counting the elements seen and dropped."""
        import tensorflow as tf

        def counted(element):
            ok = keep(element)
            with tf.control_dependencies([
                    self.seen.assign_add(1),
                    self.dropped.assign_add(tf.cast(tf.logical_not(ok), tf.int64))]):
                return tf.identity(ok)

        return ds.filter(counted)

    def counts(self, reset=False):
        """`(dropped, seen)` since the last reset."""
        counts = int(self.dropped.numpy()), int(self.seen.numpy())
        if reset:
            self.dropped.assign(0)
            self.seen.assign(0)
        return counts

    def report(self, when):
        """Logs a warning when records were dropped since the last report,
        and starts counting anew; returns `(dropped, seen)`."""
        dropped, seen = self.counts(reset=True)
        if dropped:
            log.warning("%s: dropped %d of %d %s read from shards (%s).", when, dropped,
                        seen, self.what, self.reason)
        return dropped, seen


def filter_counted(ds, keep, drops=None):
    """`ds.filter(keep)`, counted in `drops` (a `Drops`) when one is given."""
    return ds.filter(keep) if drops is None else drops.filter(ds, keep)


def drops_report(drops):
    """The Keras callback that reports `Drops` after each epoch (the
    validation pass included)."""
    import keras

    class DropsReport(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for d in drops:
                d.report(f"epoch {epoch + 1}")

    return DropsReport()


def histogram_boundaries(histogram, bin_width, quantiles=QUANTILES):
    """Increasing bucket boundaries from a length histogram `[(bin start,
    count), ...]`: for each quantile, the end of the bin where the running
    count reaches it.

    >>> histogram_boundaries([(0, 5), (10, 5), (20, 10)], 10, (0.25, 0.5, 0.75))
    [10, 20, 30]
    """
    total = sum(c for _, c in histogram)
    if not total:
        return []
    out, running, items = [], 0, sorted(histogram)
    for q in quantiles:
        target = q * total
        running = 0
        for start, count in items:
            running += count
            if running >= target:
                out.append(int(start) + int(bin_width))
                break
    return sorted(set(out))


def length_histogram(lengths, bin_width):
    """`[(bin start, count), ...]` of `lengths`, binned as `prepare`
    records them in the index."""
    counts = {}
    for n in lengths:
        b = (int(n) // bin_width) * bin_width
        counts[b] = counts.get(b, 0) + 1
    return sorted(counts.items())


def steps_per_epoch(examples, batch_size, workers=1):
    """Batches per epoch per worker when each of `workers` reads its share
    of `examples` (the streamed dataset repeats; every worker must take the
    same number of steps)."""
    return max(1, math.ceil(examples / (batch_size * max(1, workers))))
