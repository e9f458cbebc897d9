"""Batch prediction with an export, on Apache Beam RunInference:
`pipelines predict DOMAIN --engine beam --export-dir DIR --input ... --output ...`.

A job needs nothing but the SavedModel folder (its `metadata.json` says what
`serve` takes) and the domain's `BatchReader`, which turns one raw input (an
audio file, a line of text, an image file, a CSV window) into `serve`'s
inputs for one example and the outputs of a batch back into answers:

1. the inputs (`BatchReader.inputs`: a glob, a folder or a list file) are
   spread over the workers (when there is more than one), and each one is
   expanded (a text file into its lines) and read; an input that cannot be
   read becomes an error record;
2. what was read is batched: by length when the inputs vary in length (our
   own per-bundle buckets, boundaries `BUCKET_RATIO` apart, so padding stays
   small; see `_bucket_batches` for why not Beam's length-aware
   BatchElements), else by RunInference's own batching; RunInference runs
   the export's `serve` on each batch in our `ExportModelHandler` (`serve`
   takes several named inputs). A batch that
   `serve` refuses is run again one example at a time, so that only the bad
   example becomes an error record, with `serve`'s own message;
3. the answers are written as JSON lines, each with its input's name
   (`"input"`) and the errors beside them (`<output stem>.errors.jsonl`), one
   file each, written by Beam's file sink (complete files renamed into place
   when the job ends).

Nothing is dropped silently: the job counts the inputs found and the records
written, and `predict` raises if `inputs != results + errors`.

The runner: by default the local `FnApiRunner` with one worker in this
process (`--direct_running_mode=in_memory`; TensorFlow runs each batch on
every core, and the model is loaded once: on the 2-core machine of
`bench/batch_predict.py` that is 4.6 times the speed of one worker process
per core, `--direct_running_mode=multi_processing`, on 300 clips);
`--runner=FlinkRunner ...` or `DataflowRunner` run the same job on a
cluster, whose workers must see the input and output paths (a shared
filesystem) and have the package installed (see
`pipelines.shards.beam_options`).

Example (the CLI does the same):

>>> from pipelines import batch                                  # doctest: +SKIP
>>> summary = batch.predict("runs/speech/fsdd/export", "clips/*.wav",  # doctest: +SKIP
...                         "transcripts.jsonl", batch_size=32)
>>> summary["results"] + summary["errors"] == summary["inputs"]  # doctest: +SKIP
True
"""

import glob
import json
import logging
import os
import re
import time

import numpy as np

from pipelines import export as export_lib

log = logging.getLogger(__name__)

#: Beam counters of a job (namespace, names).
NAMESPACE = "pipelines.batch"
#: Bucket boundaries a fixed ratio apart: padding inside a bucket is at most
#: `1 - 1 / BUCKET_RATIO` of a batch.
BUCKET_RATIO = 1.3


class BatchError(RuntimeError):
    """A batch job that did not account for every input."""


def errors_path(output):
    """Where the error records of `output` go: `out.jsonl` ->
    `out.errors.jsonl` (`out` -> `out.errors.jsonl`)."""
    root, ext = os.path.splitext(os.fspath(output))
    return f"{root}.errors{ext or '.jsonl'}"


def geometric_boundaries(low, high, ratio=BUCKET_RATIO):
    """Integer bucket boundaries from `low` to `high`, each `ratio` times the
    previous one (at least one apart).

    Example:

    >>> geometric_boundaries(4, 10, ratio=1.5)
    [4, 6, 9]
    """
    if not (low >= 1 and high >= low and ratio > 1):
        raise ValueError(f"geometric_boundaries needs 1 <= low <= high and ratio > 1; got "
                         f"low={low!r}, high={high!r}, ratio={ratio!r}.")
    out, value = [], float(low)
    while value <= high:
        b = int(value + 1e-6)  # 800 * 1.15 is 919.99...: 920
        if not out or b > out[-1]:
            out.append(b)
        value *= ratio
    return out


def error_message(error):
    """The useful line of a TensorFlow error raised by `serve`: the message
    of its failed assertion, without the graph's node names."""
    text = getattr(error, "message", None) or str(error)
    found = re.search(r"assertion failed: \[(.*?)\]\s*(?:\n|\[\[|$)", text, re.S)
    if found:
        text = re.sub(r"\]\s*\[", " ", found.group(1))
    # `tf.debugging.assert_*`: the message, then "Condition x >= y did not
    # hold" and the tensors' values.
    text = re.split(r"\s*Condition x .* did not hold", text, maxsplit=1)[0]
    text = text.strip().split("\n")[0]
    text = re.sub(r"\s*\[\[.*$", "", text).strip()
    return text or type(error).__name__


# ---------------------------------------------------------------------------
# What a domain supplies


class BatchReader:
    """How a domain's raw inputs become `serve`'s inputs, and its outputs
    answers. Made from the export's `metadata.json`; picklable (it holds
    the metadata only), as Beam sends it to its workers.

    A subclass sets `suffixes` (the file names `inputs` lists in a folder)
    and `imports` (modules the export's ops need), and implements `read`;
    it may override `expand` (an input file holding several inputs),
    `length` (a length that varies: batched by length) and `answers`.

    Args:
        metadata: the export's metadata (`pipelines.export.read_metadata`).
    """

    #: File name endings `inputs` takes from a folder (lowercase).
    suffixes = ()
    #: Modules imported before the export is loaded (their ops).
    imports = ()
    #: Whether inputs vary in length (then batched by `length`).
    varies_in_length = False
    #: Whether one input file holds many inputs (`expand`): they are then
    #: spread over the workers again once read.
    many_per_file = False

    def __init__(self, metadata):
        self.metadata = metadata

    def inputs(self, spec):
        """The input files of `spec`: a glob (`clips/*.wav`), a folder (its
        files ending in `suffixes`, sorted), a `.txt` list of paths (one per
        line, relative to the list's folder; for readers whose inputs are
        not `.txt` files themselves), or one file.

        Raises:
            FileNotFoundError: naming `spec` when it matches nothing.
        """
        spec = os.fspath(spec)
        if os.path.isdir(spec):
            found = sorted(os.path.join(spec, n) for n in os.listdir(spec)
                           if n.lower().endswith(self.suffixes))
            if not found:
                raise FileNotFoundError(f"--input {spec}: no {', '.join(self.suffixes)} file "
                                        "in the folder.")
            return found
        if os.path.isfile(spec):
            if spec.lower().endswith(".txt") and ".txt" not in self.suffixes:
                from pipelines.files import utf8_lines

                base = os.path.dirname(os.path.abspath(spec))
                return [p if os.path.isabs(p) else os.path.join(base, p)
                        for p in (line.strip() for _, line in utf8_lines(spec)) if p]
            return [spec]
        found = sorted(glob.glob(spec, recursive=True))
        if not found:
            raise FileNotFoundError(f"--input {spec}: no such file or folder, and no file "
                                    "matches it as a glob.")
        return found

    def expand(self, path):
        """Yields `(name, raw input)` for the inputs of one input file (by
        default the file is one input, named by its path)."""
        yield path, path

    def read(self, name, raw):
        """One raw input -> `{serve input name: numpy value}` for one
        example. Raises ValueError with the reason for an input that cannot
        be used."""
        raise NotImplementedError

    def length(self, features):
        """The length batches are bucketed by (for `varies_in_length`)."""
        return 1

    def bucket_boundaries(self):
        """Length boundaries of the buckets (for `varies_in_length`)."""
        return None

    def padding(self, examples):
        """`(real, slots)` of a batch of these examples: the sum of their
        `length`s and the longest times their number (the padding share is
        `1 - real / slots`); `(0, 0)` for inputs of one shape."""
        if not self.varies_in_length:
            return 0, 0
        lengths = [int(self.length(e)) for e in examples]
        return sum(lengths), max(lengths) * len(lengths)

    def collate(self, examples):
        """The features of several examples -> `serve`'s batch: arrays
        zero-padded along their first axis to the longest and stacked;
        scalars (and strings) stacked."""
        batch = {}
        for key in examples[0]:
            if isinstance(examples[0][key], (bytes, str)):
                # An object array: numpy's bytes dtype would drop trailing NULs.
                batch[key] = np.array([e[key] for e in examples], dtype=object)
                continue
            values = [np.asarray(e[key]) for e in examples]
            if values[0].ndim == 0:
                batch[key] = np.stack(values)
                continue
            longest = max(len(v) for v in values)
            out = np.zeros((len(values), longest) + values[0].shape[1:], values[0].dtype)
            for i, v in enumerate(values):
                out[i, :len(v)] = v
            batch[key] = out
        return batch

    def answers(self, outputs, examples):
        """`serve`'s outputs for a batch -> one JSON-able dict per example:
        every output, strings decoded, arrays as lists."""
        out = []
        for i in range(len(examples)):
            answer = {}
            for key, value in outputs.items():
                v = value[i]
                answer[key] = (v.decode("utf-8") if isinstance(v, bytes)
                               else np.asarray(v).tolist())
            out.append(answer)
        return out


# ---------------------------------------------------------------------------
# The model handler


def _make_handler(export_dir, reader, batch_size, bucketing):
    from apache_beam.metrics import Metrics
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult

    class ExportModelHandler(ModelHandler):
        """RunInference's handler of one export: loads it with
        `tf.saved_model.load` (after the reader's `imports`), collates a
        batch of `(name, features, length)` elements with the reader and
        calls `serve`; each result is `PredictionResult(element, answer)`,
        the answer `{"error": reason}` for an example `serve` refused."""

        def __init__(self):
            # In arrival order: RunInference's BatchElements, at one size.
            # (Bucketed batches come made: `_bucket_batches`, and
            # `with_no_batching`.)
            super().__init__(min_batch_size=batch_size, max_batch_size=batch_size)
            self.export_dir, self.reader = export_dir, reader
            self.real = Metrics.counter(NAMESPACE, "real_entries")
            self.slots = Metrics.counter(NAMESPACE, "padded_entries")
            self.batches = Metrics.counter(NAMESPACE, "batches")

        def load_model(self):
            return load_export(self.export_dir, self.reader)

        def run_inference(self, batch, model, inference_args=None):
            answers = _serve(model, self.reader, [e[1] for e in batch], self)
            return [PredictionResult(e, a) for e, a in zip(batch, answers)]

        def get_metrics_namespace(self):
            return NAMESPACE

    return ExportModelHandler()


def load_export(export_dir, reader):
    """The SavedModel at `export_dir`, loaded after the modules whose ops it
    needs (`reader.imports`)."""
    import importlib

    for module in reader.imports:
        importlib.import_module(module)
    import tensorflow as tf

    return tf.saved_model.load(export_dir)


def _bucket_batches(batch_size, boundaries):
    """A DoFn making batches of at most `batch_size` elements of one length
    bucket (`boundaries`, lower-inclusive), per bundle: an element waits in
    its bucket's buffer until the buffer is full or the bundle ends.

    Our own bucketing before RunInference rather than Beam's length-aware
    BatchElements (`batch_length_fn`), which needs its stateful path: its
    state cache weighs every buffered waveform (`objsize`), which showed in
    a profile of the 300-clip job of `bench/batch_predict.py`."""
    import bisect

    import apache_beam as beam
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.windowed_value import WindowedValue

    class BucketBatches(beam.DoFn):
        def start_bundle(self):
            self.buffers = {}

        def process(self, element):
            bucket = bisect.bisect_right(boundaries, element[2])
            buffer = self.buffers.setdefault(bucket, [])
            buffer.append(element)
            if len(buffer) == batch_size:
                self.buffers[bucket] = []
                yield buffer

        def finish_bundle(self):
            for buffer in self.buffers.values():
                if buffer:
                    yield WindowedValue(buffer, GlobalWindow().max_timestamp(),
                                        [GlobalWindow()])
            self.buffers = {}

    return BucketBatches()


def _serve(model, reader, examples, counters=None):
    """Answers for `examples` (feature dicts) from `model.serve`: the whole
    batch at once, or, when `serve` refuses it, one example at a time (an
    example refused alone is answered `{"error": reason}`)."""
    import tensorflow as tf

    feed = reader.collate(examples)
    try:
        outputs = model.serve(**{k: tf.constant(v) for k, v in feed.items()})
    except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError,
            tf.errors.UnknownError) as e:
        if len(examples) == 1:
            return [{"error": error_message(e)}]
        return [a for ex in examples for a in _serve(model, reader, [ex], counters)]
    if counters is not None:
        real, slots = reader.padding(examples)
        counters.batches.inc()
        counters.real.inc(real)
        counters.slots.inc(slots)
    return reader.answers({k: v.numpy() for k, v in outputs.items()}, examples)


# ---------------------------------------------------------------------------
# The job


def read_file(reader, path):
    """Yields `(name, features, None)` for each input of the input file
    `path`, or `(name, None, reason)` for one that cannot be read (the file
    itself when it cannot be expanded)."""
    try:
        expanded = list(reader.expand(path))
    except (ValueError, OSError) as e:
        yield path, None, str(e)
        return
    for name, raw in expanded:
        try:
            yield name, reader.read(name, raw), None
        except (ValueError, OSError) as e:
            yield name, None, str(e)


class _Read:
    """Beam DoFn body: one input file -> `(name, features, length)`
    elements, or `("errors", record)` for inputs that cannot be read."""

    def __init__(self, reader):
        self.reader = reader

    def __call__(self, path):
        from apache_beam import pvalue
        from apache_beam.metrics import Metrics

        inputs = Metrics.counter(NAMESPACE, "inputs")
        for name, features, error in read_file(self.reader, path):
            inputs.inc()
            if error is not None:
                yield pvalue.TaggedOutput("errors", {"input": name, "error": error})
            else:
                yield name, features, int(self.reader.length(features))


def _record(result):
    (name, _, _), answer = result.example, result.inference
    return {"input": name, **answer}


def _json_line(record):
    from apache_beam.metrics import Metrics

    Metrics.counter(NAMESPACE, "errors" if "error" in record else "results").inc()
    return json.dumps(record, ensure_ascii=False)


def predict(export_dir, input, output, reader=None, batch_size=32, bucketing=True,
            beam_args=()):
    """Runs an export on every input of `input` with Beam RunInference;
    writes JSON lines to `output` and error records to `errors_path(output)`;
    returns a summary (counts, padding share, seconds, the files).

    Args:
        export_dir: the SavedModel folder (`pipelines export`).
        input: a glob, a folder, a `.txt` list of files, or one file (what
            the domain's reader takes).
        output: the JSON lines file to write (its folder is created).
        reader: the domain's `BatchReader` (None: the one of the export's
            domain, from its metadata, through the registry).
        batch_size: examples per `serve` call.
        bucketing: batch inputs of similar length together (for inputs that
            vary in length).
        beam_args: Beam pipeline options (see `pipelines.shards.beam_options`).

    Raises:
        FileNotFoundError: no export at `export_dir`, or no input.
        ValueError: a bad `batch_size`.
        BatchError: the records written do not add up to the inputs.
        ImportError: Apache Beam is not installed (with what to install).
    """
    from pipelines.shards import _runner, beam_options, require_beam

    beam = require_beam()
    from apache_beam.ml.inference.base import RunInference

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got "
                         f"batch_size={batch_size!r}.")
    export_dir = os.path.abspath(os.fspath(export_dir))
    metadata = export_lib.read_metadata(export_dir)
    if reader is None:
        reader = reader_for(metadata)
    files = reader.inputs(input)
    output = os.path.abspath(os.fspath(output))
    errors = errors_path(output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    bucketing = bool(bucketing and reader.varies_in_length)
    handler = _make_handler(export_dir, reader, batch_size, bucketing)
    options, used_args = beam_options(beam_args, local_mode="in_memory")
    started = time.time()
    pipeline = beam.Pipeline(runner=_runner(options, used_args), options=options)
    # One local worker has nothing to spread the work over.
    spread = not ("--direct_running_mode=in_memory" in used_args
                  and "--direct_num_workers=1" in used_args)
    inputs = pipeline | "inputs" >> beam.Create(files)
    if spread:
        # Over the workers before the (slow) reading.
        inputs = inputs | "spread" >> beam.Reshuffle()
    read = inputs | "read" >> beam.FlatMap(_Read(reader)).with_outputs("errors",
                                                                      main="examples")
    examples = read.examples
    if spread and reader.many_per_file:
        examples = examples | "spread examples" >> beam.Reshuffle()
    if bucketing:
        examples = examples | "bucket by length" >> beam.ParDo(
            _bucket_batches(batch_size, reader.bucket_boundaries()))
        handler = handler.with_no_batching()
    answered = (examples
                | "serve" >> RunInference(handler)
                | "records" >> beam.Map(_record))
    parts = answered | "split" >> beam.Partition(lambda r, n: int("error" in r), 2)
    for name, records, path in (("results", (parts[0],), output),
                                ("errors", (parts[1], read.errors), errors)):
        (records
         | f"all {name}" >> beam.Flatten()
         | f"{name} as JSON" >> beam.Map(_json_line)
         | f"write {name}" >> beam.io.WriteToText(path, shard_name_template="", num_shards=1))
    result = pipeline.run()
    result.wait_until_finish()
    counts = _counters(result)
    summary = {
        "inputs": counts.get("inputs", 0), "results": counts.get("results", 0),
        "errors": counts.get("errors", 0), "output": output, "errors_file": errors,
        "batch_size": batch_size, "bucketing": bucketing,
        "batches": counts.get("batches", 0),
        "padding_share": (1 - counts["real_entries"] / counts["padded_entries"]
                          if counts.get("padded_entries") else 0.0),
        "seconds": round(time.time() - started, 2), "beam_args": used_args,
    }
    _check_counts(summary)
    log.info("Predicted %d inputs in %.1f s: %d results in %s, %d errors in %s.",
             summary["inputs"], summary["seconds"], summary["results"], output,
             summary["errors"], errors)
    return summary


def _counters(result):
    from apache_beam.metrics.metric import MetricsFilter

    out = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + value
    return out


def _check_counts(summary):
    """Every input is a result or an error: checked on the counters, and on
    the written files where they are local."""
    written = {}
    for key, path in (("results", summary["output"]), ("errors", summary["errors_file"])):
        if os.path.exists(path):
            with open(path, "rb") as f:
                written[key] = sum(1 for _ in f)
    problems = []
    if summary["results"] + summary["errors"] != summary["inputs"]:
        problems.append(f"{summary['inputs']} inputs but {summary['results']} results and "
                        f"{summary['errors']} errors were counted")
    for key, lines in written.items():
        if lines != summary[key]:
            problems.append(f"{lines} {key} lines written but {summary[key]} counted")
    if problems:
        raise BatchError("The batch job lost inputs: " + "; ".join(problems) + ".")


def reader_for(metadata):
    """The `BatchReader` of an export's domain (from its metadata's
    `pipeline`, through the registry)."""
    from pipelines import registry

    name = metadata.get("pipeline")
    for domain in registry.DOMAINS:
        task = registry.get_task(domain)
        if name in task.export_names():
            return task.batch_reader(metadata)
    raise ValueError(f"The export's metadata names pipeline {name!r}, which no domain "
                     "reads; is this an export of recurrent-pipelines?")


def plain_loop(export_dir, input, reader=None, batch_size=32):
    """The same inputs through `serve` in one Python process, in batches of
    `batch_size` in input order (no Beam, no bucketing): `(records,
    padding share)`, records as `predict` writes them. The baseline of
    `bench/batch_predict.py`, and what tests compare the job with."""
    reader = reader or reader_for(export_lib.read_metadata(export_dir))
    model = load_export(export_dir, reader)
    records, pending = [], []
    real = slots = 0

    def flush():
        nonlocal real, slots
        if not pending:
            return
        r, s = reader.padding([p[1] for p in pending])
        real, slots = real + r, slots + s
        for (name, _), answer in zip(pending, _serve(model, reader, [p[1] for p in pending])):
            records.append({"input": name, **answer})
        pending.clear()

    for path in reader.inputs(input):
        for name, features, error in read_file(reader, path):
            if error is not None:
                records.append({"input": name, "error": error})
                continue
            pending.append((name, features))
            if len(pending) == batch_size:
                flush()
    flush()
    return records, (1 - real / slots if slots else 0.0)


def read_records(path):
    """The JSON lines of a results or errors file, by input name."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            out[record["input"]] = record
    return out


__all__ = ["BatchError", "BatchReader", "errors_path", "geometric_boundaries", "load_export",
           "plain_loop", "predict", "read_file", "read_records", "reader_for"]
