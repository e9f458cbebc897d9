"""Speech data: the vocabulary, text normalisation, audio loading and corpora.

An utterance is a float32 mono waveform at a chosen sample rate and its
normalised transcript (`Utterance`). Corpora:

- FSDD (Free Spoken Digit Dataset): single digits (`fsdd_digits`) and the
  default task, digit *sequences* made by concatenating real recordings with
  short random pauses (`digit_sequences`, `fsdd_sequences`). The official
  split is kept: takes 0-4 of every speaker and digit are test, the rest train,
  and a sequence only ever uses recordings of its own split.
- LJ Speech (`ljspeech`): one speaker reading sentences; locally a 120-clip
  subset, online the full corpus.
- Any LibriSpeech-style folder (`librispeech`), and any corpus listed in a
  manifest (`write_manifest`, `read_manifest`, `load_manifest`).

Transcripts use `ALPHABET` (space, a-z, apostrophe); the CTC blank is added by
the model after it, at index `len(ALPHABET)`. `normalize_text` maps any text
onto it, and is applied in the same way to references and to hypotheses before
scoring.

Example:

>>> normalize_text("Call me at 9, O.K.?")
'call me at nine ok'
>>> decode(encode("nine"))
'nine'
"""

import dataclasses
import glob
import itertools
import logging
import os
import re
import unicodedata
import warnings
from typing import Optional

import librosa
import numpy as np
import soundfile

from pipelines.data import Dataset, Splits, locate_in_archive
from pipelines.files import atomic_write_text, utf8_lines

log = logging.getLogger(__name__)

# Public homes of the datasets; the local data directory is searched first.
FSDD = Dataset(
    "fsdd/recordings",
    url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip",
    archive_member="*/recordings",
)
LJSPEECH = Dataset(
    "ljspeech_subset",
    url="https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2",
    archive_member="LJSpeech-1.1",
)

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven",
               "eight", "nine"]

# A clip whose peak absolute amplitude is below this is refused as silent.
SILENCE_PEAK = 1e-4
#: The audio files `predict` takes from a folder.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
# Leading/trailing silence of each FSDD recording is trimmed before it goes
# into a sequence: frames more than this many dB below the peak are cut.
TRIM_TOP_DB = 40

_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_LETTERS = frozenset(ALPHABET) - {" ", "'"}
# Typographic apostrophes that become "'".
_APOSTROPHES = frozenset("\u2018\u2019\u02bc")
# Word-joining punctuation that becomes a space (besides dashes, category Pd,
# and connectors such as "_", category Pc).
_JOINERS = frozenset("/\\")
_FSDD_NAME = re.compile(r"^([0-9])_([^_]+)_([0-9]+)\.wav$")
_HEADER = "path\ttranscript"


@dataclasses.dataclass(eq=False)
class Utterance:
    """One utterance (compared by identity: its audio is an array).

    Args:
        audio: float32 mono waveform `[samples]`.
        text: its transcript, normalised (see `normalize_text`).
        source: where it came from: the audio file, or for a synthesised
            digit sequence the files it was made of, joined by " + ".
        word_ends: None, or the sample at which each word's audio ends
            (exclusive), one per word of `text`: known for synthesised
            digit sequences (the end of each trimmed recording), and what
            `model.emission_deadline_ms` trains a streaming model with.
    """

    audio: np.ndarray
    text: str
    source: str
    word_ends: Optional[tuple] = None


# ----------------------------------------------------------------------------
# Text


def normalize_text(text):
    """Maps any text onto `ALPHABET`; used for references and hypotheses alike.

    The rules, in order:

    1. Unicode NFKC (full-width and other compatibility forms become plain
       letters and digits), then lowercase.
    2. Each digit character is spoken as its word, on its own: "42" becomes
       "four two", "4th" becomes "four th" (no number grammar).
    3. Typographic apostrophes (’ ‘ ʼ) become "'"; apostrophes are kept
       ("isn't", "students'"); a token made only of apostrophes is dropped.
    4. Whitespace, dashes and hyphens (Unicode category Pd), connectors such
       as "_" (Pc) and slashes become a space: "well-known" is "well known".
    5. A letter with diacritics outside the alphabet is reduced to its base
       letter when that is in the alphabet ("é" -> "e"); every other
       character is removed, which drops other punctuation and symbols
       ("U.S.A." -> "usa", "o.k.?" -> "ok").
    6. Runs of whitespace become one space; the ends are stripped.

    Args:
        text: any string.

    Returns:
        A string of `ALPHABET` characters with single spaces between words
        (possibly empty).

    Examples:

    >>> normalize_text("Hello,   World!")
    'hello world'
    >>> normalize_text("Room 101-B")
    'room one zero one b'
    >>> normalize_text("Rock ’n’ roll isn't dead—it's well-known.")
    "rock 'n' roll isn't dead it's well known"
    >>> normalize_text("Café Ｎｏ.５ — “déjà vu” ' ")
    'cafe no five deja vu'
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_text expects a str, got {type(text).__name__}.")
    out = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        if ch in _INDEX:
            out.append(ch)
        elif ch in _APOSTROPHES:
            out.append("'")
        elif ch.isspace() or ch in _JOINERS or unicodedata.category(ch) in ("Pd", "Pc"):
            out.append(" ")
        elif ch.isdecimal():
            out.append(f" {DIGIT_WORDS[unicodedata.decimal(ch)]} ")
        else:
            base = unicodedata.normalize("NFKD", ch)
            if all(c in _LETTERS or unicodedata.combining(c) for c in base):
                out.append("".join(c for c in base if c in _LETTERS))
    words = "".join(out).split()
    return " ".join(w for w in words if w.strip("'"))


def encode(text):
    """Returns the `ALPHABET` indices (int32 `[len(text)]`) of a normalised text.

    Raises:
        ValueError: naming the characters outside the vocabulary and the text
            (run `normalize_text` first).
    """
    bad = sorted(set(text) - _INDEX.keys(), key=text.index)
    if bad:
        raise ValueError(
            f"Transcript {text!r} has characters outside the vocabulary: "
            + ", ".join(repr(c) for c in bad) + "."
        )
    return np.array([_INDEX[c] for c in text], dtype=np.int32)


def decode(ids):
    """Returns the text of `ALPHABET` indices; other ids (the CTC blank at
    `len(ALPHABET)`, padding such as -1) are ignored."""
    ids = np.asarray(ids).reshape(-1)
    return "".join(ALPHABET[i] for i in ids.tolist() if 0 <= i < len(ALPHABET))


# ----------------------------------------------------------------------------
# Audio


def load_audio(path, sample_rate, max_seconds=None):
    """Reads an audio file as a float32 mono waveform at `sample_rate`.

    Uses `librosa.load(path, sr=sample_rate, mono=True)`: any format that
    soundfile reads (WAV, FLAC, OGG, ...), channels averaged, resampled.

    Args:
        path: the audio file.
        sample_rate: the sample rate wanted, in Hz.
        max_seconds: the longest clip accepted (`None`: no limit).

    Returns:
        float32 `[samples]`.

    Raises:
        ValueError: one clear error naming the file when it is missing or
            cannot be decoded (with the reason), is empty, holds non-finite
            samples, is silent (peak amplitude below `SILENCE_PEAK`), or is
            longer than `max_seconds` (with its duration and the limit).
    """
    path = os.fspath(path)
    _check_rate(sample_rate, max_seconds)
    if not os.path.isfile(path):
        raise ValueError(f"Cannot read audio file {path}: no such file.")
    if max_seconds is not None:
        # Refuse a long file from its header, before decoding all of it.
        try:
            duration = soundfile.info(path).duration
        except Exception:  # noqa: BLE001 - librosa.load below reports why
            duration = None
        if duration is not None and duration > max_seconds:
            raise _too_long(path, duration, max_seconds)
    try:
        with warnings.catch_warnings():
            # librosa warns when it falls back from soundfile to audioread.
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(path, sr=int(sample_rate), mono=True)
    except Exception as e:  # noqa: BLE001 - decoders raise many types
        raise ValueError(f"Cannot read audio file {path}: {_reason(e)}.") from None
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise ValueError(f"Audio file {path} is empty (no samples).")
    if not np.isfinite(audio).all():
        raise ValueError(f"Audio file {path} has non-finite samples (NaN or infinity).")
    peak = float(np.max(np.abs(audio)))
    if peak < SILENCE_PEAK:
        raise ValueError(
            f"Audio file {path} is silent (peak amplitude {peak:.3g} is below "
            f"{SILENCE_PEAK:g})."
        )
    duration = audio.size / sample_rate
    if max_seconds is not None and duration > max_seconds:
        raise _too_long(path, duration, max_seconds)
    return audio


def _check_rate(sample_rate, max_seconds):
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}.")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive or None, got {max_seconds!r}.")


def _too_long(path, duration, max_seconds):
    return ValueError(
        f"Audio file {path} is {duration:.2f} s long, longer than the limit of "
        f"{max_seconds:g} s (max_seconds)."
    )


def _reason(error):
    """The most telling message in an exception chain (librosa's audioread
    fallback raises an empty NoBackendError on top of soundfile's reason)."""
    e = error
    while e is not None:
        text = getattr(e, "error_string", None) or str(e)
        if text:
            return text.rstrip(".")
        e = e.__cause__ or e.__context__
    return type(error).__name__


# ----------------------------------------------------------------------------
# FSDD


def fsdd_recordings(data_dir=None):
    """Lists the FSDD recordings, split the official way.

    Files are named `{digit}_{speaker}_{take}.wav`; takes 0-4 are test, the
    rest train. A file whose name does not match is skipped with a warning.

    Args:
        data_dir: the data directory (see `pipelines.data.data_dir`).

    Returns:
        `pipelines.data.Splits` with `train` and `test` (`val` None), each a
        sorted list of `(path, digit, speaker, take)` tuples; it reads like
        the dict `{"train": [...], "test": [...]}` too.
    """
    folder = locate_in_archive(FSDD, data_dir)
    splits = {"train": [], "test": []}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        match = _FSDD_NAME.match(name)
        if not match:
            log.warning(
                "Skipping %s: its name does not match {digit}_{speaker}_{take}.wav", path
            )
            continue
        digit, speaker, take = int(match[1]), match[2], int(match[3])
        splits["test" if take < 5 else "train"].append((path, digit, speaker, take))
    if not splits["train"] and not splits["test"]:
        raise ValueError(f"No FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in {folder}.")
    return Splits(train=sorted(splits["train"]), test=sorted(splits["test"]))


def digit_sequences(recordings, count, sample_rate=8000, min_digits=1, max_digits=7,
                    pause_seconds=(0.05, 0.3), seed=0, cache=None):
    """Synthesises digit-sequence utterances from real single-digit recordings.

    Each utterance draws its number of digits uniformly in
    [min_digits, max_digits], then that many recordings uniformly at random
    (with replacement), and joins them with silences drawn uniformly in
    `pause_seconds`, one between each two digits and one at each end. Each
    recording's leading and trailing silence is first trimmed
    (`librosa.effects.trim`, `TRIM_TOP_DB` = 40 dB below its peak, 32 ms
    frames), so that the drawn pauses are the real gaps between words. The
    result depends only on the recordings and `seed`.

    Args:
        recordings: `(path, digit, ...)` tuples, e.g. one split of
            `fsdd_recordings`; only these recordings are used.
        count: number of utterances.
        sample_rate: sample rate of the audio, in Hz.
        min_digits, max_digits: digits per utterance (inclusive bounds).
        pause_seconds: (low, high) bounds of each silence, in seconds.
        seed: seed of the draws (anything `np.random.default_rng` takes).
        cache: a dict memoising the trimmed waveforms by
            `(path, sample_rate)`, so that each file is read once; pass the
            same dict to several calls to share it (`None`: a fresh one).

    Returns:
        A list of `count` `Utterance`s with transcripts such as
        "three one four" and `source` the files joined by " + ".
    """
    recordings = list(recordings)
    if not recordings:
        raise ValueError("digit_sequences needs at least one recording, got none.")
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count!r}.")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(
            f"Need 1 <= min_digits <= max_digits, got min_digits={min_digits!r}, "
            f"max_digits={max_digits!r}."
        )
    low, high = pause_seconds
    if not 0 <= low <= high:
        raise ValueError(f"pause_seconds must be (low, high) with 0 <= low <= high, "
                         f"got {pause_seconds!r}.")
    cache = {} if cache is None else cache
    return [render_sequence(r, sample_rate, cache)
            for r in sequence_recipes(recordings, count, sample_rate, min_digits, max_digits,
                                      pause_seconds, seed)]


def sequence_recipes(recordings, count, sample_rate=8000, min_digits=1, max_digits=7,
                     pause_seconds=(0.05, 0.3), seed=0):
    """The draws of `digit_sequences` without the audio: `count` recipes
    `{"paths", "digits", "pauses"}` (pauses in samples, one more than
    digits), which `render_sequence` turns into the same utterances. Small
    and picklable: `prepare` renders them on its workers."""
    low, high = pause_seconds
    rng = np.random.default_rng(seed)
    recipes = []
    for _ in range(count):
        n = int(rng.integers(min_digits, max_digits + 1))
        picks = rng.integers(0, len(recordings), size=n)
        pauses = rng.uniform(low, high, size=n + 1)
        recipes.append({
            "paths": [os.fspath(recordings[k][0]) for k in picks],
            "digits": [int(recordings[k][1]) for k in picks],
            "pauses": [int(round(p * sample_rate)) for p in pauses],
        })
    return recipes


def render_sequence(recipe, sample_rate, cache):
    """The `Utterance` of one `sequence_recipes` recipe (each recording
    trimmed, read once per `cache`)."""
    parts, ends, at = [], [], 0
    for pause, path in zip(recipe["pauses"], recipe["paths"]):
        word = _trimmed(path, sample_rate, cache)
        parts += [np.zeros(pause, np.float32), word]
        at += pause + len(word)
        ends.append(at)
    parts.append(np.zeros(recipe["pauses"][-1], np.float32))
    return Utterance(audio=np.concatenate(parts),
                     text=" ".join(DIGIT_WORDS[d] for d in recipe["digits"]),
                     source=" + ".join(recipe["paths"]), word_ends=tuple(ends))


def _trimmed(path, sample_rate, cache):
    key = (os.fspath(path), sample_rate)
    if key not in cache:
        audio = load_audio(path, sample_rate)
        frame = max(16, int(round(0.032 * sample_rate)))
        trimmed, _ = librosa.effects.trim(
            audio, top_db=TRIM_TOP_DB, frame_length=frame, hop_length=max(1, frame // 4)
        )
        cache[key] = trimmed if trimmed.size else audio
    return cache[key]


def fsdd_sequences(data_dir=None, train_count=3000, test_count=300, seed=0, **kw):
    """The default task: FSDD digit sequences, train from train recordings
    only and test from test recordings only.

    Args:
        data_dir: the data directory.
        train_count, test_count: utterances per split.
        seed: the train split uses `seed`, the test split `[seed, 1]`, so the
            two differ in their draws as well as in their recordings.
        **kw: more `digit_sequences` arguments (sample_rate, min_digits,
            max_digits, pause_seconds, cache).

    Returns:
        `pipelines.data.Splits(train=[Utterance...], test=[Utterance...])`;
        `val` is None: the recogniser holds out its own `data.val_fraction`
        of `train`. Dict-style access (`splits["train"]`) works too.
    """
    recordings = fsdd_recordings(data_dir)
    kw.setdefault("cache", {})
    return Splits(
        train=digit_sequences(recordings.train, train_count, seed=seed, **kw),
        test=digit_sequences(recordings.test, test_count, seed=[seed, 1], **kw),
    )


def fsdd_digits(data_dir=None, sample_rate=8000):
    """FSDD single digits (untrimmed recordings), official split.

    Returns:
        `pipelines.data.Splits(train=[Utterance...], test=[Utterance...])`
        (`val` None), with transcripts "zero" ... "nine".
    """
    recordings = fsdd_recordings(data_dir)

    def utterances(recs):
        return [Utterance(load_audio(path, sample_rate), DIGIT_WORDS[digit], path)
                for path, digit, _, _ in recs]

    return Splits(train=utterances(recordings.train), test=utterances(recordings.test))


# ----------------------------------------------------------------------------
# Manifests


def write_manifest(utterances_or_pairs, path):
    """Writes a manifest: UTF-8 TSV, header `path<TAB>transcript`, one line
    per clip.

    Audio paths inside the manifest's folder are written relative to it (so
    the folder can be moved as a whole), others absolute. A relative path
    given here is taken relative to the current directory. The file is
    written atomically.

    Args:
        utterances_or_pairs: `(audio_path, transcript)` pairs, or
            `Utterance`s read from a single file (their `source`).
        path: the manifest file.

    Returns:
        The manifest path.

    Raises:
        ValueError: for an empty transcript, a tab or line break in a path or
            transcript, or an `Utterance` whose source is not one file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    lines = [_HEADER]
    for i, item in enumerate(utterances_or_pairs):
        if isinstance(item, Utterance):
            audio_path, text = item.source, item.text
            if not os.path.isfile(audio_path):
                raise ValueError(
                    f"Item {i}: the Utterance's source {audio_path!r} is not an audio "
                    "file; only utterances read from one file can go in a manifest."
                )
        else:
            audio_path, text = item
        audio_path = os.path.abspath(os.fspath(audio_path))
        try:
            relative = os.path.relpath(audio_path, folder)
        except ValueError:  # another drive
            relative = os.pardir
        if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
            audio_path = relative
        text = str(text).strip()
        if not text:
            raise ValueError(f"Item {i} ({audio_path}): empty transcript.")
        for what, value in (("path", audio_path), ("transcript", text)):
            if any(c in value for c in "\t\r\n"):
                raise ValueError(
                    f"Item {i}: the {what} {value!r} has a tab or line break."
                )
        lines.append(f"{audio_path}\t{text}")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def read_manifest(path):
    """Reads a manifest written by `write_manifest` (or by hand).

    Blank lines are ignored; relative audio paths are resolved against the
    manifest's folder. Transcripts are returned as written (stripped).

    Returns:
        A list of `(audio_path, transcript)`.

    Raises:
        ValueError: naming the file and line number, for a missing header,
            a line without exactly two tab-separated fields, or an empty path
            or transcript.
    """
    return [(p, t) for _, p, t in _read_manifest(path)]


def _read_manifest(path):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    lines = [line for _, line in utf8_lines(path)]
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")  # a byte-order mark (utf-8-sig)
    if not lines or lines[0].strip() != _HEADER:
        found = lines[0] if lines else ""
        raise ValueError(
            f"{path}, line 1: expected the header 'path<TAB>transcript', found {found!r}."
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        audio_path, text = _fields(line, "\t", f"{path}, line {number}",
                                   "tab-separated fields (path, transcript)", 2)
        if not audio_path:
            raise ValueError(f"{path}, line {number}: empty audio path.")
        if not text:
            raise ValueError(f"{path}, line {number}: empty transcript.")
        rows.append((number, os.path.join(folder, os.path.expanduser(audio_path)), text))
    return rows


def _fields(line, separator, where, what, count):
    """The `count` stripped fields of a metadata line; one error naming
    `where` (file and line) and `what` they should be otherwise."""
    fields = line.split(separator)
    if len(fields) != count:
        raise ValueError(f"{where}: expected {count} {what}, found {len(fields)}.")
    return [field.strip() for field in fields]


def load_manifest(path, sample_rate, max_seconds=None, skip_bad=False):
    """Loads the utterances listed in a manifest.

    Transcripts go through `normalize_text`.

    Args:
        path: the manifest file.
        sample_rate: sample rate of the audio, in Hz.
        max_seconds: the longest clip accepted (`None`: no limit).
        skip_bad: if True, a clip that is unreadable, empty, silent or too
            long, or whose transcript is empty once normalised, is skipped
            with a `logging.warning` naming the manifest line, the file and
            the reason, instead of raising. A malformed manifest line still
            raises.

    Returns:
        A list of `Utterance`s, in manifest order.

    Raises:
        ValueError: naming the manifest, line and file, for a bad line, or
            (without `skip_bad`) a bad clip or transcript.
    """
    manifest = os.fspath(path)
    _check_rate(sample_rate, max_seconds)
    utterances, skipped = [], 0
    rows = _read_manifest(manifest)
    for number, audio_path, raw in rows:
        try:
            text = normalize_text(raw)
            if not text:
                raise ValueError(
                    f"Transcript {raw!r} of {audio_path} is empty once normalised."
                )
            encode(text)
            audio = load_audio(audio_path, sample_rate, max_seconds)
        except ValueError as e:
            if not skip_bad:
                raise ValueError(f"{manifest}, line {number}: {e}") from None
            log.warning("%s, line %d: skipping %s: %s", manifest, number, audio_path, e)
            skipped += 1
            continue
        utterances.append(Utterance(audio, text, audio_path))
    if skipped:
        log.warning("%s: skipped %d of %d clips.", manifest, skipped, len(rows))
    return utterances


# ----------------------------------------------------------------------------
# LJ Speech and LibriSpeech


def ljspeech(data_dir=None, sample_rate=16000, limit=None):
    """Loads LJ Speech: locally the 120-clip subset, online the full corpus.

    `metadata.csv` holds `id|raw|normalized` lines (no header); the audio is
    `wavs/{id}.wav`. Transcripts are the normalized column (numbers already
    written out) passed through `normalize_text`.

    Args:
        data_dir: the data directory.
        sample_rate: sample rate of the audio, in Hz.
        limit: load only the first `limit` clips (`None`: all; the full
            corpus is 24 hours, about 5.5 GB as float32 at 16 kHz).

    Returns:
        A list of `Utterance`s in metadata order.
    """
    return _utterances(ljspeech_rows(locate_in_archive(LJSPEECH, data_dir)), sample_rate,
                       limit)


def extra_training(config, data_dir=None):
    """The extra training utterances of a `SpeechConfig`
    (`data.extra_train`, each corpus `data.extra_repeat` times), at its
    `features.sample_rate`: "ljspeech" (every clip there is) or a manifest
    path (`data.max_seconds` and `data.skip_bad` apply)."""
    d, rate = config.data, config.features.sample_rate
    extra = []
    for name in d.extra_train:
        if name == "ljspeech":
            utterances = ljspeech(data_dir, sample_rate=rate)
        else:
            utterances = load_manifest(name, rate, d.max_seconds, skip_bad=d.skip_bad)
        log.info("data.extra_train: %d utterances of %s, %d times each.", len(utterances),
                 name, d.extra_repeat)
        extra += utterances * d.extra_repeat
    return extra


def _utterances(rows, sample_rate, limit):
    """The `Utterance`s of `(audio path, raw transcript, where)` rows, the
    first `limit` (no row past it is read); an empty transcript raises
    naming its line and clip."""
    utterances = []
    for path, raw, where in itertools.islice(rows, limit):
        text = normalize_text(raw)
        if not text:
            clip = os.path.splitext(os.path.basename(path))[0]
            raise ValueError(f"{where}: empty transcript for {clip}.")
        utterances.append(Utterance(load_audio(path, sample_rate), text, path))
    return utterances


def ljspeech_rows(folder):
    """An iterator of `(wav path, raw transcript, "<metadata.csv>, line
    N")`, one per line of an LJ Speech folder's `metadata.csv`
    (`id|raw|normalized`; the normalized column, else the raw one). A
    malformed line raises naming it."""
    metadata = os.path.join(folder, "metadata.csv")
    # Opened now (a missing file fails at the call), read lazily.
    return _ljspeech_lines(folder, metadata, open(metadata, encoding="utf-8"))


def _ljspeech_lines(folder, metadata, f):
    with f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            clip, raw, normalized = _fields(line, "|", f"{metadata}, line {number}",
                                            "'|'-separated fields (id|raw|normalized)", 3)
            yield (os.path.join(folder, "wavs", clip + ".wav"), normalized or raw,
                   f"{metadata}, line {number}")


def librispeech(root, sample_rate=16000, limit=None):
    """Loads a LibriSpeech-style folder (e.g. `LibriSpeech/dev-clean`).

    Transcripts are `root/<speaker>/<chapter>/*.trans.txt` files of
    `ID TRANSCRIPT` lines; the audio is `ID.flac` beside them.

    Args:
        root: the folder holding the speaker folders.
        sample_rate: sample rate of the audio, in Hz.
        limit: load only the first `limit` clips (`None`: all).

    Returns:
        A list of `Utterance`s, sorted by transcript file then line.
    """
    return _utterances(librispeech_rows(root), sample_rate, limit)


def librispeech_rows(root):
    """An iterator of `(flac path, raw transcript, "<trans.txt>, line N")`,
    one per line of the `*/*/*.trans.txt` files under a LibriSpeech-style `root`
    (`ID TRANSCRIPT`; the audio is `ID.flac` beside them).

    Raises:
        FileNotFoundError: no transcript file under `root`.
        ValueError: a line that is not `ID TRANSCRIPT`, naming it.
    """
    root = os.fspath(root)
    transcripts = sorted(glob.glob(os.path.join(root, "*", "*", "*.trans.txt")))
    if not transcripts:
        raise FileNotFoundError(
            f"No LibriSpeech transcripts (*/*/*.trans.txt) under {root}."
        )
    return _librispeech_lines(transcripts)


def _librispeech_lines(transcripts):
    for trans in transcripts:
        folder = os.path.dirname(trans)
        with open(trans, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                parts = line.strip().split(maxsplit=1)
                if len(parts) != 2:
                    raise ValueError(
                        f"{trans}, line {number}: expected 'ID TRANSCRIPT', "
                        f"found {line.strip()!r}."
                    )
                yield os.path.join(folder, parts[0] + ".flac"), parts[1], f"{trans}, line {number}"
