import doctest
import logging
import os
import re

import numpy as np
import pytest
import soundfile

from pipelines.data import Splits
from speech import data


def _tone(path, seconds=0.5, sample_rate=8000, amplitude=0.3):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    soundfile.write(path, (amplitude * np.sin(2 * np.pi * 440 * t)).astype("float32"),
                    sample_rate)
    return os.fspath(path)


def test_doctests():
    assert doctest.testmod(data).failed == 0


@pytest.mark.parametrize("raw, expected", [
    ("Hello, World!", "hello world"),
    ("  MIXED\tCase\n text  ", "mixed case text"),
    ("42", "four two"),
    ("Call 911.", "call nine one one"),
    ("4th of July", "four th of july"),
    ("well-known e-mail", "well known e mail"),
    ("yes—no – maybe/so snake_case", "yes no maybe so snake case"),
    ("U.S.A.; (really?) \"quoted\" ok!", "usa really quoted ok"),
    ("isn't it the students' books, 'tis", "isn't it the students' books 'tis"),
    ("Don’t ‘quote’ me", "don't 'quote' me"),
    ("' '' lone apostrophes '", "lone apostrophes"),
    ("Café déjà-vu naïve", "cafe deja vu naive"),
    ("ＦＵＬＬ ｗｉｄｔｈ １２", "full width one two"),
    ("straße 50% €5", "strae five zero five"),  # ß has no base letter; symbols go
    ("", ""),
    ("?!.,", ""),
])
def test_normalize_text(raw, expected):
    assert data.normalize_text(raw) == expected
    # Idempotent, and always encodable.
    assert data.normalize_text(expected) == expected
    data.encode(data.normalize_text(raw))


def test_alphabet_and_digits():
    assert data.ALPHABET[0] == " " and data.ALPHABET[-1] == "'" and len(data.ALPHABET) == 28
    assert data.DIGIT_WORDS[0] == "zero" and data.DIGIT_WORDS[9] == "nine"


def test_encode_decode():
    ids = data.encode("it's one")
    assert ids.dtype == np.int32
    assert ids.tolist() == [9, 20, 27, 19, 0, 15, 14, 5]
    assert data.decode(ids) == "it's one"
    # The CTC blank (len(ALPHABET)) and padding are ignored.
    blank = len(data.ALPHABET)
    assert data.decode([blank, 15, blank, 14, -1, 5, blank]) == "one"
    assert data.encode("").shape == (0,)
    with pytest.raises(ValueError) as e:
        data.encode("héllo")
    assert str(e.value) == "Transcript 'héllo' has characters outside the vocabulary: 'é'."
    with pytest.raises(ValueError) as e:
        data.encode("Hi 2 you!")
    assert str(e.value) == (
        "Transcript 'Hi 2 you!' has characters outside the vocabulary: 'H', '2', '!'."
    )


def test_load_audio(tmp_path):
    good = _tone(tmp_path / "good.wav", seconds=0.5, sample_rate=16000)
    audio = data.load_audio(good, 8000)
    assert audio.dtype == np.float32 and audio.shape == (4000,)
    stereo = tmp_path / "stereo.wav"
    soundfile.write(stereo, np.stack([audio, audio], axis=1), 8000)
    assert data.load_audio(stereo, 8000).shape == (4000,)


def test_load_audio_errors(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio")
    pattern = rf"^Cannot read audio file {re.escape(str(corrupt))}: .+\.$"
    with pytest.raises(ValueError, match=pattern):
        data.load_audio(corrupt, 8000)

    missing = tmp_path / "missing.wav"
    with pytest.raises(ValueError) as e:
        data.load_audio(missing, 8000)
    assert str(e.value) == f"Cannot read audio file {missing}: no such file."

    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, "float32"), 8000)
    with pytest.raises(ValueError) as e:
        data.load_audio(empty, 8000)
    assert str(e.value) == f"Audio file {empty} is empty (no samples)."

    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(800, "float32"), 8000)
    with pytest.raises(ValueError) as e:
        data.load_audio(silent, 8000)
    assert str(e.value) == f"Audio file {silent} is silent (peak amplitude 0 is below 0.0001)."

    long = _tone(tmp_path / "long.wav", seconds=2.5)
    with pytest.raises(ValueError) as e:
        data.load_audio(long, 8000, max_seconds=2)
    assert str(e.value) == (
        f"Audio file {long} is 2.50 s long, longer than the limit of 2 s (max_seconds)."
    )
    assert data.load_audio(long, 8000, max_seconds=3).shape == (20000,)

    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        data.load_audio(long, 0)


def test_fsdd_official_split(data_dir):
    recs = data.fsdd_recordings(data_dir)
    assert len(recs["train"]) == 2250 and len(recs["test"]) == 250
    assert recs["train"] == sorted(recs["train"]) and recs["test"] == sorted(recs["test"])
    assert {take for _, _, _, take in recs["test"]} == {0, 1, 2, 3, 4}
    assert min(take for _, _, _, take in recs["train"]) == 5
    assert not {r[0] for r in recs["train"]} & {r[0] for r in recs["test"]}
    assert {s for _, _, s, _ in recs["test"]} == {
        "george", "jackson", "lucas", "nicolas", "yweweler"}
    path, digit, speaker, take = recs["test"][0]
    assert os.path.basename(path) == f"{digit}_{speaker}_{take}.wav"


@pytest.fixture
def small_fsdd(data_dir, tmp_path):
    """A data directory with 6 real FSDD recordings (linked) and one stray file."""
    source = os.path.join(data_dir, "fsdd", "recordings")
    folder = tmp_path / "data" / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for name in ["1_george_0.wav", "2_jackson_3.wav", "3_lucas_1.wav",
                 "4_nicolas_7.wav", "5_yweweler_20.wav", "6_george_49.wav"]:
        os.symlink(os.path.join(source, name), folder / name)
    (folder / "notes.txt").write_text("not a recording")
    return tmp_path / "data"


def test_fsdd_small_folder(small_fsdd, caplog):
    with caplog.at_level(logging.WARNING, logger="speech.data"):
        recs = data.fsdd_recordings(small_fsdd)
    assert "notes.txt: its name does not match" in caplog.text
    assert [r[1:] for r in recs["test"]] == [(1, "george", 0), (2, "jackson", 3), (3, "lucas", 1)]
    assert [r[1] for r in recs["train"]] == [4, 5, 6]

    digits = data.fsdd_digits(small_fsdd)
    assert [u.text for u in digits["test"]] == ["one", "two", "three"]
    assert all(u.audio.dtype == np.float32 and u.audio.size > 1000 for u in digits["train"])

    seqs = data.fsdd_sequences(small_fsdd, train_count=4, test_count=4, seed=3)
    assert len(seqs["train"]) == 4 and len(seqs["test"]) == 4
    # Splits without val: the recogniser holds out its own share of train.
    for splits in (recs, digits, seqs):
        assert isinstance(splits, Splits) and splits.val is None
    assert seqs.train is seqs["train"] and [k for k, v in seqs.items() if v] == ["train", "test"]
    words = lambda utts: {w for u in utts for w in u.text.split()}  # noqa: E731
    assert words(seqs["train"]) <= {"four", "five", "six"}
    assert words(seqs["test"]) <= {"one", "two", "three"}
    # The two splits use different seeds: their draws (digit counts) differ.
    assert [len(u.text.split()) for u in seqs["train"]] != [
        len(u.text.split()) for u in seqs["test"]]


def test_digit_sequences(data_dir, monkeypatch):
    train = data.fsdd_recordings(data_dir)["train"]
    subset = [next(r for r in train if r[1] == d) for d in range(5)]  # digits 0-4
    reads = []
    real_load = data.load_audio
    monkeypatch.setattr(data, "load_audio",
                        lambda p, *a, **k: reads.append(p) or real_load(p, *a, **k))

    cache = {}
    a = data.digit_sequences(subset, 5, seed=0, cache=cache)
    again = data.digit_sequences(subset, 5, seed=0, cache=cache)
    other = data.digit_sequences(subset, 5, seed=1, cache=cache)
    # Each file is read once, however many utterances use it.
    assert len(reads) == len(set(reads)) <= len(subset)
    assert set(k[0] for k in cache) <= {r[0] for r in subset}

    assert [u.text for u in a] == [u.text for u in again]
    for x, y in zip(a, again):
        np.testing.assert_array_equal(x.audio, y.audio)
    assert [u.text for u in a] != [u.text for u in other] or any(
        x.audio.shape != y.audio.shape or not np.array_equal(x.audio, y.audio)
        for x, y in zip(a, other))

    digit_of = {r[0]: r[1] for r in subset}
    for u in a + other:
        words = u.text.split()
        paths = u.source.split(" + ")
        assert 1 <= len(words) <= 7 and len(words) == len(paths)
        assert words == [data.DIGIT_WORDS[digit_of[p]] for p in paths]
        assert u.audio.dtype == np.float32
        speech = sum(cache[(p, 8000)].size for p in paths)
        pauses = u.audio.size - speech
        n = len(words) + 1  # pauses: between digits and at both ends
        assert 0.05 * 8000 * n - n <= pauses <= 0.3 * 8000 * n + n
        assert np.all(u.audio[:int(0.05 * 8000) - 1] == 0)
        # Each word ends where its trimmed recording does: the last word's
        # end is followed by the final pause only, and its recording ends there.
        last = cache[(paths[-1], 8000)]
        assert len(u.word_ends) == len(words)
        np.testing.assert_array_equal(u.audio[u.word_ends[-1] - last.size:u.word_ends[-1]], last)
        assert np.all(u.audio[u.word_ends[-1]:] == 0)

    # Bounds on the number of digits are honoured.
    fixed = data.digit_sequences(subset, 3, min_digits=2, max_digits=2, seed=5, cache=cache)
    assert [len(u.text.split()) for u in fixed] == [2, 2, 2]
    with pytest.raises(ValueError, match="min_digits"):
        data.digit_sequences(subset, 1, min_digits=3, max_digits=2)


def test_manifest_round_trip(tmp_path):
    audio_dir = tmp_path / "corpus" / "audio"
    audio_dir.mkdir(parents=True)
    a = _tone(audio_dir / "a.wav", 0.5)
    b = _tone(audio_dir / "b.wav", 0.25)
    outside = _tone(tmp_path / "outside.wav", 0.25)
    manifest = tmp_path / "corpus" / "train.tsv"
    utt = data.Utterance(data.load_audio(b, 8000), "two", b)
    data.write_manifest([(a, "Hello, World 7"), utt, (outside, "far away")], manifest)

    lines = manifest.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "path\ttranscript",
        f"audio{os.sep}a.wav\tHello, World 7",
        f"audio{os.sep}b.wav\ttwo",
        f"{outside}\tfar away",
    ]
    assert data.read_manifest(manifest) == [
        (a, "Hello, World 7"), (b, "two"), (outside, "far away")]

    # A hand-written manifest elsewhere, relative to its own folder.
    other = tmp_path / "corpus" / "lists" / "dev.tsv"
    other.parent.mkdir()
    other.write_text("path\ttranscript\n../audio/a.wav\tA\n\n", encoding="utf-8")
    assert data.read_manifest(other) == [(os.path.join(other.parent, "../audio/a.wav"), "A")]
    assert os.path.samefile(data.read_manifest(other)[0][0], a)

    utts = data.load_manifest(manifest, 8000)
    assert [u.text for u in utts] == ["hello world seven", "two", "far away"]
    assert utts[0].audio.shape == (4000,) and utts[0].source == a

    with pytest.raises(ValueError, match="empty transcript"):
        data.write_manifest([(a, "  ")], tmp_path / "x.tsv")
    with pytest.raises(ValueError, match="is not an audio file"):
        data.write_manifest([data.Utterance(utt.audio, "one", "x.wav + y.wav")],
                            tmp_path / "x.tsv")


def test_manifest_malformed(tmp_path):
    manifest = tmp_path / "bad.tsv"
    manifest.write_text("path\ttranscript\na.wav\tone\nb.wav\ttwo\textra\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        data.read_manifest(manifest)
    assert str(e.value) == (
        f"{manifest}, line 3: expected 2 tab-separated fields (path, transcript), found 3."
    )
    manifest.write_text("path\ttranscript\na.wav\tone\nb.wav\t \n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        data.read_manifest(manifest)
    assert str(e.value) == f"{manifest}, line 3: empty transcript."
    manifest.write_text("a.wav\tone\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        data.read_manifest(manifest)
    assert str(e.value) == (
        f"{manifest}, line 1: expected the header 'path<TAB>transcript', found 'a.wav\\tone'."
    )


def test_load_manifest_skip_bad(tmp_path, caplog):
    good = _tone(tmp_path / "good.wav", 0.5)
    long = _tone(tmp_path / "long.wav", 3.0)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(800, "float32"), 8000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"garbage")
    manifest = tmp_path / "m.tsv"
    manifest.write_text(
        "path\ttranscript\n"
        "good.wav\tGood one\n"
        "missing.wav\tmissing\n"
        "silent.wav\tsilent\n"
        "long.wav\ttoo long\n"
        "corrupt.wav\tcorrupt\n"
        "good.wav\t?!\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError) as e:
        data.load_manifest(manifest, 8000, max_seconds=2)
    assert str(e.value) == (
        f"{manifest}, line 3: Cannot read audio file {tmp_path / 'missing.wav'}: no such file."
    )

    with caplog.at_level(logging.WARNING, logger="speech.data"):
        utts = data.load_manifest(manifest, 8000, max_seconds=2, skip_bad=True)
    assert [(u.source, u.text) for u in utts] == [(good, "good one")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 6
    assert f"line 3: skipping {tmp_path / 'missing.wav'}: " in warnings[0]
    assert "no such file" in warnings[0]
    assert f"{silent} is silent" in warnings[1]
    assert f"{long} is 3.00 s long" in warnings[2]
    assert f"Cannot read audio file {corrupt}" in warnings[3]
    assert "Transcript '?!'" in warnings[4] and "empty once normalised" in warnings[4]
    assert warnings[5] == f"{manifest}: skipped 5 of 6 clips."


def test_ljspeech(data_dir):
    utts = data.ljspeech(data_dir, sample_rate=16000)
    assert len(utts) == 120
    first = utts[0]
    assert os.path.basename(first.source) == "LJ001-0001.wav"
    info = soundfile.info(first.source)
    assert info.samplerate == 16000 and first.audio.shape == (info.frames,)
    assert first.text.startswith("printing in the only sense with which we are at present")
    for u in utts:
        assert u.text and u.text == data.normalize_text(u.text)
        assert u.audio.dtype == np.float32 and u.audio.ndim == 1
        data.encode(u.text)
    assert utts[92].text == "one those awaiting trial"


def test_librispeech(tmp_path):
    chapter = tmp_path / "dev" / "19" / "198"
    chapter.mkdir(parents=True)
    _tone(chapter / "19-198-0000.flac", 0.5, 16000)
    _tone(chapter / "19-198-0001.flac", 0.25, 16000)
    (chapter / "19-198.trans.txt").write_text(
        "19-198-0000 NORTHANGER ABBEY\n19-198-0001 THIS LITTLE WORK WAS FINISHED IN 1803\n")
    utts = data.librispeech(tmp_path / "dev", sample_rate=16000)
    assert [u.text for u in utts] == [
        "northanger abbey", "this little work was finished in one eight zero three"]
    assert utts[0].audio.shape == (8000,)
    assert utts[1].source == os.path.join(chapter, "19-198-0001.flac")
    with pytest.raises(FileNotFoundError, match="No LibriSpeech transcripts"):
        data.librispeech(tmp_path / "nothing")


def test_extra_training_corpora_join_the_training_split_only(data_dir, tmp_path):
    """`data.extra_train`: LJ Speech and a manifest, each `extra_repeat`
    times, at the config's rate, added after the validation share is held
    out (validation stays the task's own); the config refuses bad values."""
    from pipelines.config import ConfigError
    from speech.config import SpeechConfig
    from speech.pipeline import SpeechRecognizer

    tone = _tone(tmp_path / "t.wav", 0.25)
    manifest = tmp_path / "extra.tsv"
    data.write_manifest([(tone, "one two")], manifest)
    cfg = SpeechConfig.from_dict({}, [f"data.extra_train=[ljspeech, {manifest}]",
                                      "data.extra_repeat=2"])
    assert SpeechConfig.from_dict(cfg.to_dict()) == cfg
    extra = data.extra_training(cfg, data_dir)
    assert len(extra) == 2 * 120 + 2 and extra[-1].text == "one two"
    assert extra[0].audio.dtype == np.float32 and extra[-1].audio.shape == (2000,)  # 8 kHz
    own = [data.Utterance(np.zeros(800, "float32"), "zero", f"own{i}") for i in range(20)]
    asr = SpeechRecognizer(cfg)
    asr._data_dir = data_dir
    train, val = asr._split(own, None)
    assert len(val) == 2 and all(u.source.startswith("own") for u in val)
    assert len(train) == 18 + len(extra)
    assert [u.source for u in train[18:]] == [u.source for u in extra]
    with pytest.raises(ConfigError, match=r"'data.extra_repeat' must be at least 1"):
        SpeechConfig.from_dict({}, ["data.extra_repeat=0"])
    with pytest.raises(ConfigError, match=r"'data.extra_train' .*must be empty with data.shards"):
        SpeechConfig.from_dict({}, ["data.extra_train=[ljspeech]", "data.shards=x"])
