"""The batch prediction core: bucket boundaries, the useful line of a
TensorFlow error, collating a batch (padding counted, bytes kept exactly),
the error file's name, inputs found, and a job that loses an input."""

import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines import batch


def test_geometric_boundaries():
    assert batch.geometric_boundaries(2, 12, ratio=1.5) == [2, 3, 4, 6, 10]
    assert batch.geometric_boundaries(800, 1100, ratio=1.15) == [800, 920, 1058]
    b = batch.geometric_boundaries(800, 160000)
    assert b[0] == 800 and b[-1] <= 160000 < b[-1] * batch.BUCKET_RATIO
    assert all(later / earlier <= batch.BUCKET_RATIO + 2e-3 for earlier, later in zip(b, b[1:])
               if earlier > 100)
    with pytest.raises(ValueError, match=r"got low=0, high=5, ratio=1.3"):
        batch.geometric_boundaries(0, 5)


def test_error_message_is_the_assertion():
    @tf.function
    def check(x):
        tf.debugging.Assert(x > 0, ["x must be positive; got", x])
        tf.debugging.assert_less(x, 10, message="x is too big")
        return x

    for value, message in ((-1, "x must be positive; got -1"), (12, "x is too big")):
        with pytest.raises(tf.errors.InvalidArgumentError) as raised:
            check(tf.constant(value))
        assert batch.error_message(raised.value) == message


def test_collate_pads_counts_and_keeps_bytes():
    class Reader(batch.BatchReader):
        varies_in_length = True

        def length(self, features):
            return int(features["lengths"])

    reader = Reader({})
    examples = [{"waveform": np.ones(3, "float32"), "lengths": np.int32(3), "image": b"ab\0"},
                {"waveform": np.ones(5, "float32"), "lengths": np.int32(5), "image": b"c"}]
    feed = reader.collate(examples)
    real, slots = reader.padding(examples)
    assert feed["waveform"].shape == (2, 5) and feed["waveform"][0, 3:].tolist() == [0, 0]
    assert feed["lengths"].tolist() == [3, 5] and feed["lengths"].dtype == np.int32
    # Trailing NULs survive (numpy's bytes dtype would drop them).
    assert tf.constant(feed["image"]).numpy().tolist() == [b"ab\0", b"c"]
    assert (real, slots) == (8, 10)
    assert batch.BatchReader({}).padding(examples) == (0, 0)  # one shape: no padding
    assert reader.answers({"text": np.array([b"caf\xc3\xa9", b"x"]),
                           "p": np.array([[0.5], [1.0]])}, examples) == [
        {"text": "café", "p": [0.5]}, {"text": "x", "p": [1.0]}]


def test_errors_path():
    assert batch.errors_path("out/p.jsonl") == "out/p.errors.jsonl"
    assert batch.errors_path("out/p") == "out/p.errors.jsonl"


def test_inputs_of_a_folder_glob_list_and_nothing(tmp_path):
    class Reader(batch.BatchReader):
        suffixes = (".wav",)

    for name in ("b.wav", "a.WAV", "notes.md"):
        (tmp_path / name).write_text("")
    (tmp_path / "list.txt").write_text("b.wav\n\n/abs/x.wav\n")
    reader = Reader({})
    assert reader.inputs(tmp_path) == [str(tmp_path / "a.WAV"), str(tmp_path / "b.wav")]
    assert reader.inputs(str(tmp_path / "*.md")) == [str(tmp_path / "notes.md")]
    assert reader.inputs(tmp_path / "list.txt") == [str(tmp_path / "b.wav"), "/abs/x.wav"]
    with pytest.raises(FileNotFoundError, match=r"--input .*nothing\*: no such file or "
                                                r"folder, and no file matches it as a glob"):
        reader.inputs(str(tmp_path / "nothing*"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.wav file in the folder"):
        reader.inputs(empty)


def test_a_job_that_loses_an_input_is_an_error(tmp_path):
    out = tmp_path / "p.jsonl"
    out.write_text('{"input": "a"}\n')
    summary = {"inputs": 3, "results": 1, "errors": 1, "output": str(out),
               "errors_file": batch.errors_path(str(out))}
    with pytest.raises(batch.BatchError, match=r"^The batch job lost inputs: 3 inputs but 1 "
                                               r"results and 1 errors were counted\.$"):
        batch._check_counts(summary)
    summary["inputs"] = 2
    with open(summary["errors_file"], "w") as f:
        f.write('{"input": "b", "error": "x"}\n{"input": "c", "error": "y"}\n')
    with pytest.raises(batch.BatchError, match=r"2 errors lines written but 1 counted"):
        batch._check_counts(summary)
    os.remove(summary["errors_file"])
    batch._check_counts({**summary, "errors": 1})  # counts agree, the errors file is remote


def test_predict_refuses_a_bad_batch_size_and_a_missing_export(tmp_path):
    pytest.importorskip("apache_beam")
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer; got "
                                         r"batch_size=0"):
        batch.predict(tmp_path, "x", tmp_path / "o.jsonl", batch_size=0)
    with pytest.raises(FileNotFoundError, match=r"No metadata.json in export directory"):
        batch.predict(tmp_path, "x", tmp_path / "o.jsonl")
