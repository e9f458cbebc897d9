"""Speech corpora as shards (`pipelines prepare speech`), and their records
read back in TensorFlow ops.

A record is one utterance: `audio`, 16-bit little-endian PCM mono at the
config's `features.sample_rate` (resampled once, by librosa, in `prepare`),
`text`, its normalised transcript, and `source`, where it came from. The
sources:

- the config's dataset: FSDD sequences (the same draws as in memory: the
  recipes are drawn in the driver, rendered on Beam's workers), FSDD digits,
  LJ Speech, or `data.train_manifest` / `data.test_manifest`;
- or `--input`: a manifest (`path<TAB>transcript`), an LJ Speech folder
  (`metadata.csv`, `wavs/`) or a LibriSpeech-style folder
  (`*/*/*.trans.txt`, FLAC beside them).

Without a validation split of its own, `prepare` holds out the training
items the in-memory recogniser would (`data.val_fraction`, seeded by
`data.seed`).

Example:

>>> import numpy as np
>>> record = pcm16(np.array([0.0, 0.5, -1.0], "float32"))
>>> np.round(np.frombuffer(record, "<i2") / PCM_SCALE, 3).tolist()
[0.0, 0.5, -1.0]
"""

import glob
import os

import numpy as np

from pipelines.shards import ShardSource, example
from speech import data

#: float samples are stored as round(x * PCM_SCALE) in int16.
PCM_SCALE = 32767.0


def pcm16(audio):
    """float32 samples in [-1, 1] -> little-endian int16 bytes (clipped)."""
    return np.round(np.clip(audio, -1.0, 1.0) * PCM_SCALE).astype("<i2").tobytes()


class SpeechSource(ShardSource):
    """The utterances of a speech config (or of `--input`), as items that
    Beam's workers read, check and encode.

    Args:
        config: a `SpeechConfig`.
        data_dir: the data directory.
        input: a manifest, or an LJ Speech or LibriSpeech-style folder (None:
            the config's dataset).
    """

    domain = "speech"
    length_unit = "samples"
    skip_field = "data.skip_bad"

    def __init__(self, config, data_dir=None, input=None):
        # As the in-memory manifest loader: skip (and list) bad clips, or stop.
        self.skip_bad = bool(config.data.skip_bad)
        self.sample_rate = int(config.features.sample_rate)
        self.min_samples = int(config.features.n_fft)
        self.max_seconds = float(config.data.max_seconds)
        self.length_bin = int(config.features.hop_length)
        self.fields = {"features.sample_rate": self.sample_rate}
        self._splits = self._items(config, data_dir, input)
        d = config.data
        if "val" not in self._splits:
            # The hold-out `SpeechRecognizer._split` makes, on the same items.
            train = self._splits["train"]
            order = np.random.default_rng(d.seed).permutation(len(train))
            n_val = max(1, int(len(train) * d.val_fraction))
            self._splits["val"] = [train[i] for i in order[:n_val]]
            self._splits["train"] = [train[i] for i in order[n_val:]]

    def _items(self, config, data_dir, input):
        d, rate = config.data, self.sample_rate
        if input is not None:
            self.sources = [os.path.abspath(input)]
            return {"train": _input_items(input)}
        if d.dataset == "fsdd_sequences":
            recordings = data.fsdd_recordings(data_dir)
            self.sources = [os.path.dirname(recordings.train[0][0])]
            return {
                "train": [("sequence", r) for r in data.sequence_recipes(
                    recordings.train, d.train_count, rate, seed=d.seed)],
                "test": [("sequence", r) for r in data.sequence_recipes(
                    recordings.test, d.test_count, rate, seed=[d.seed, 1])],
            }
        if d.dataset == "fsdd_digits":
            recordings = data.fsdd_recordings(data_dir)
            self.sources = [os.path.dirname(recordings.train[0][0])]
            return {split: [("clip", (p, data.DIGIT_WORDS[digit], p))
                            for p, digit, _, _ in getattr(recordings, split)]
                    for split in ("train", "test")}
        if d.dataset == "ljspeech":
            folder = data.locate_in_archive(data.LJSPEECH, data_dir)
            self.sources = [folder]
            items = _ljspeech_items(folder)
            cut = int(len(items) * 0.9)
            return {"train": items[:cut], "test": items[cut:]}
        self.sources = [m for m in (d.train_manifest, d.test_manifest) if m]
        out = {"train": _manifest_items(d.train_manifest)}
        if d.test_manifest:
            out["test"] = _manifest_items(d.test_manifest)
        return out

    def items(self):
        return self._splits

    def describe(self, item):
        kind, value = item
        return " + ".join(value["paths"]) if kind == "sequence" else value[2]

    def encode(self, item):
        kind, value = item
        if kind == "sequence":
            utt = data.render_sequence(value, self.sample_rate, _CACHE)
            audio, text, where = utt.audio, utt.text, utt.source
        else:
            path, raw, where = value
            # The words `load_manifest` logs when it skips, or raises when not.
            lead = f"{where}: skipping {path}: " if self.skip_bad else f"{where}: "
            text = data.normalize_text(raw)
            if not text:
                raise ValueError(f"{lead}Transcript {raw!r} of {path} is empty once normalised.")
            try:
                audio = data.load_audio(path, self.sample_rate, self.max_seconds)
            except ValueError as e:
                raise ValueError(f"{lead}{e}") from None
        if len(audio) < self.min_samples:
            raise ValueError(f"{where}: clip of {len(audio)} samples is shorter than one "
                             f"analysis window ({self.min_samples} samples).")
        if len(audio) > self.max_seconds * self.sample_rate:
            raise ValueError(f"{where}: clip of {len(audio) / self.sample_rate:.2f} s is "
                             f"longer than data.max_seconds={self.max_seconds:g}.")
        data.encode(text)
        return [(example(audio=pcm16(audio), text=text, source=where), len(audio))]


# Trimmed FSDD recordings, per worker process: each file is read once.
_CACHE = {}


def _manifest_items(manifest):
    # Malformed lines fail here, at once, as `load_manifest` fails on them.
    return [("clip", (path, raw, f"{manifest}, line {number}"))
            for number, path, raw in data._read_manifest(os.fspath(manifest))]


def _ljspeech_items(folder):
    return [("clip", row) for row in data.ljspeech_rows(folder)]


def _librispeech_items(root):
    return [("clip", row) for row in data.librispeech_rows(root)]


def _input_items(input):
    input = os.fspath(input)
    if os.path.isdir(input):
        if os.path.exists(os.path.join(input, "metadata.csv")):
            return _ljspeech_items(input)
        if glob.glob(os.path.join(input, "*", "*", "*.trans.txt")):
            return _librispeech_items(input)
        raise ValueError(f"--input {input}: a folder must be an LJ Speech corpus "
                         "(metadata.csv) or LibriSpeech-style (*/*/*.trans.txt).")
    if not os.path.exists(input):
        raise FileNotFoundError(f"--input {input}: no such file or folder.")
    return _manifest_items(input)


def parse(records, alphabet=data.ALPHABET):
    """Serialised records -> `{"wave": float32 [samples], "label": int32
    [characters]}`, in TensorFlow ops (a `tf.data` map function); the
    elements the in-memory recogniser makes from `Utterance`s."""
    import tensorflow as tf

    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(alphabet)), tf.range(len(alphabet), dtype=tf.int32)),
        default_value=-1)
    spec = {"audio": tf.io.FixedLenFeature([], tf.string),
            "text": tf.io.FixedLenFeature([], tf.string)}

    def parse_one(record):
        e = tf.io.parse_single_example(record, spec)
        wave = tf.cast(tf.io.decode_raw(e["audio"], tf.int16, little_endian=True),
                       tf.float32) / PCM_SCALE
        return {"wave": wave, "label": table.lookup(tf.strings.bytes_split(e["text"]))}

    return records.map(parse_one, num_parallel_calls=tf.data.AUTOTUNE)


def utterances(split, limit=None):
    """The records of a `pipelines.shards.Split` as `Utterance`s, in the
    order read (for scoring and export samples: small splits)."""
    import tensorflow as tf

    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in ("audio", "text", "source")}
    ds = split.records()
    if limit is not None:
        ds = ds.take(limit)
    out = []
    for record in ds:
        e = tf.io.parse_single_example(record, spec)
        audio = np.frombuffer(e["audio"].numpy(), "<i2").astype("float32") / PCM_SCALE
        out.append(data.Utterance(audio, e["text"].numpy().decode("utf-8"),
                                  e["source"].numpy().decode("utf-8")))
    return out
