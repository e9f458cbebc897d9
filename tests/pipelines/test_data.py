import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines import data


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.data_dir() == str(tmp_path / "env")
    assert data.data_dir(tmp_path / "flag") == str(tmp_path / "flag")
    monkeypatch.delenv(data.ENV_VAR)
    assert data.data_dir().endswith(os.path.join(".keras", "pipelines_data"))


def test_locate_prefers_local_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.csv").write_text("x\n1\n")
    ds = data.Dataset("sub/a.csv", url="http://invalid.example/a.csv")
    assert data.locate(ds, tmp_path) == str(tmp_path / "sub" / "a.csv")


def test_locate_missing_names_dir_and_url(tmp_path):
    ds = data.Dataset("sub/b.csv", url="https://example.org/b.csv")
    with pytest.raises(FileNotFoundError) as e:
        data.locate(ds, tmp_path, download=False)
    assert str(e.value) == (
        f"Dataset file 'sub/b.csv' not found in the data directory {tmp_path} "
        "(set --data-dir or PIPELINES_DATA_DIR); it can be downloaded from "
        "https://example.org/b.csv."
    )


def test_download_and_cache_with_checksum(tmp_path):
    # A file:// origin stands in for the public address (no network in tests).
    source = tmp_path / "origin.csv"
    source.write_text("t,v\n1,2\n")
    good = data.Dataset("cache/origin.csv", url=source.as_uri(), sha256=data.sha256_of(source))
    path = data.locate(good, tmp_path / "dir")
    assert open(path).read() == "t,v\n1,2\n"
    assert path == str(tmp_path / "dir" / "cache" / "origin.csv")
    bad = data.Dataset("cache2/origin.csv", url=source.as_uri(), sha256="0" * 64)
    with pytest.raises(ValueError, match="(?i)incomplete or corrupted|hash"):
        data.locate(bad, tmp_path / "dir")


def test_bucketed_padded_batches():
    seqs = [np.arange(n) + 1 for n in (2, 3, 9, 10, 2, 11)]
    ds = tf.data.Dataset.from_generator(lambda: iter(seqs), output_signature=tf.TensorSpec([None], tf.int64))
    batches = list(data.padded_batches(ds, 2, lambda s: tf.shape(s)[0], [5], padded_shapes=[None]))
    lengths = [sorted(int(n) for n in np.count_nonzero(b.numpy(), axis=1)) for b in batches]
    # Short sequences (< 5) are batched with short ones, long with long, and
    # each batch is padded only to its own longest sequence.
    assert sorted(lengths) == [[2], [2, 3], [9, 10], [11]]
    assert sorted(int(b.shape[1]) for b in batches) == [2, 3, 10, 11]
    assert sum(int(b.shape[0]) for b in batches) == 6


def test_failed_download_is_one_line_and_creates_nothing(tmp_path):
    # Port 9 (discard) on loopback refuses at once: a download that fails.
    ds = data.Dataset("ett/ETTh1.csv", url="http://127.0.0.1:9/ETTh1.csv")
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(FileNotFoundError) as e:
        data.locate(ds, missing)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(
        f"Dataset 'ett/ETTh1.csv' is not in the data directory {missing}, and downloading it "
        "from http://127.0.0.1:9/ETTh1.csv failed (")
    assert message.endswith(
        "Pass --data-dir (or set PIPELINES_DATA_DIR) to a folder that holds ett/ETTh1.csv.")
    assert not (tmp_path / "no").exists()
    archive = data.Dataset("ljspeech", url="http://127.0.0.1:9/lj.tar.bz2")
    with pytest.raises(FileNotFoundError, match="downloading it from http://127.0.0.1:9/lj"):
        data.locate_in_archive(archive, missing)
    assert not (tmp_path / "no").exists()
