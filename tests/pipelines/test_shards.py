"""`pipelines.shards`: prepare on Apache Beam (local runner), the index,
atomic rebuilds, reading back, bucket boundaries, and sharding by file."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipelines import distribute, shards

beam = pytest.importorskip("apache_beam")

# The in-process runner in one process: fast, for the tests that are not
# about the runner itself.
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


class Lines(shards.ShardSource):
    """A tiny text source (module level: Beam pickles it)."""

    domain = "demo"
    length_unit = "characters"
    length_bin = 2
    fields = {"data.lowercase": True}
    sources = ("memory",)

    def __init__(self, splits):
        self.splits = splits

    def items(self):
        return self.splits

    def encode(self, line):
        if not line.strip():
            raise ValueError(f"line {line!r} is empty")
        return [(shards.example(text=line), len(line))]


def _texts(split, training=False):
    spec = {"text": tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(r, spec)["text"].numpy().decode()
            for r in split.records(training=training, seed=1, shuffle_buffer=4)]


WORDS = [f"sentence {i} " + "x" * (i % 7) for i in range(40)]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "shards"
    index = shards.prepare(Lines({"train": WORDS + ["  "], "test": WORDS[:5]}), out,
                           shards=3, beam_args=IN_MEMORY)
    return out, index


def test_prepare_writes_counted_checked_shards_and_an_index(prepared):
    out, index = prepared
    train = index["splits"]["train"]
    assert (train["items"], train["examples"], train["skipped"]) == (41, 40, 1)
    assert [e["file"] for e in train["shards"]] == [
        f"train-0000{i}-of-00003.tfrecord" for i in range(3)]
    assert sum(e["examples"] for e in train["shards"]) == 40
    assert index["splits"]["test"]["examples"] == 5
    assert index["domain"] == "demo" and index["fields"] == {"data.lowercase": True}
    assert index["length_unit"] == "characters" and index["length_bin"] == 2
    # The histogram counts every example, in bins of length_bin.
    assert sum(c for _, c in train["lengths"]) == 40
    assert all(b % 2 == 0 for b, _ in train["lengths"])
    # The skipped item: counted, with its reason in the index and the list.
    assert index["skipped_reasons"] == ["line '  ' is empty"]
    skipped = [json.loads(x) for x in open(out / shards.SKIPPED_FILE)]
    assert skipped == [{"split": "train", "record": "  ", "reason": "line '  ' is empty"}]
    assert json.load(open(out / shards.INDEX_FILE)) == index
    # Nothing but shards, the index and the skipped list (no Beam temp files).
    assert sorted(os.listdir(out)) == sorted(
        [e["file"] for s in index["splits"].values() for e in s["shards"]]
        + [shards.INDEX_FILE, shards.SKIPPED_FILE])


def test_records_read_back_equal_their_sources(prepared):
    out, _ = prepared
    split = shards.Shards.open(out).split("train")
    split.verify()
    assert len(split) == split.examples == 40
    assert sorted(_texts(split)) == sorted(WORDS)
    # Training order: files and records shuffled, every record once.
    assert sorted(_texts(split, training=True)) == sorted(WORDS)


def test_verify_names_a_changed_shard(prepared, tmp_path):
    out, index = prepared
    copy = tmp_path / "copy"
    os.makedirs(copy)
    for name in os.listdir(out):
        with open(out / name, "rb") as src, open(copy / name, "wb") as dst:
            dst.write(src.read())
    first = index["splits"]["train"]["shards"][0]["file"]
    # A record written twice: the framing is fine, the checksum is not.
    data = open(copy / first, "rb").read()
    open(copy / first, "ab").write(data[:16 + int.from_bytes(data[:8], "little")])
    with pytest.raises(shards.ShardsError, match=f"{first}: its content differs"):
        shards.Shards.open(copy).split("train").verify()
    open(copy / first, "ab").write(b"\x05")
    with pytest.raises(shards.ShardsError, match="truncated TFRecord header"):
        shards.scan(copy / first)


def test_a_glob_selects_some_shards(prepared):
    out, index = prepared
    split = shards.Shards.open(str(out / "train-0000[01]-*.tfrecord")).split("train")
    assert [os.path.basename(f) for f in split.files] == [
        "train-00000-of-00003.tfrecord", "train-00001-of-00003.tfrecord"]
    assert split.examples == sum(e["examples"] for e in index["splits"]["train"]["shards"][:2])


def test_open_errors_name_the_spec(prepared, tmp_path):
    out, _ = prepared
    with pytest.raises(shards.ShardsError, match=r"data.shards='.*nowhere': no such folder"):
        shards.Shards.open(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(shards.ShardsError, match="has no index.json; it was not written by "
                                                 "`pipelines prepare`"):
        shards.Shards.open(str(tmp_path / "empty"))
    opened = shards.Shards.open(out)
    with pytest.raises(shards.ShardsError, match=r"no 'val' examples \(splits: \['test', "
                                                 r"'train'\]\)"):
        opened.split("val")
    with pytest.raises(shards.ShardsError, match="prepared for 'demo', not 'speech'"):
        opened.check("speech", {})
    with pytest.raises(shards.ShardsError, match=(
            r"was prepared with data.lowercase=True, but this config has "
            r"data.lowercase=False; prepare again with this config, or set "
            r"data.lowercase=True")):
        opened.check("demo", {"data.lowercase": False})


def test_an_existing_output_is_refused_or_rebuilt_whole(tmp_path):
    out = tmp_path / "shards"
    shards.prepare(Lines({"train": WORDS}), out, shards=3, beam_args=IN_MEMORY)
    with pytest.raises(FileExistsError, match="already exists; pass --overwrite"):
        shards.prepare(Lines({"train": WORDS}), out, shards=2, beam_args=IN_MEMORY)
    # A rebuild that fails (every item skipped) leaves the old shards whole.
    with pytest.raises(ValueError, match="Every item of the demo source was skipped"):
        shards.prepare(Lines({"train": [" ", ""]}), out, overwrite=True, beam_args=IN_MEMORY)
    assert shards.Shards.open(out).split("train").examples == 40
    # A rebuild replaces the folder whole: no shard of the old build remains.
    shards.prepare(Lines({"train": WORDS[:10]}), out, shards=2, overwrite=True,
                   beam_args=IN_MEMORY)
    assert sorted(n for n in os.listdir(out) if n.endswith(".tfrecord")) == [
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    assert sorted(_texts(shards.Shards.open(out).split("train"))) == sorted(WORDS[:10])
    assert not [n for n in os.listdir(tmp_path) if n != "shards"]


def test_default_runner_is_local_multiprocess_and_never_prism(tmp_path, monkeypatch):
    options, args = shards.beam_options()
    assert "--runner=FnApiRunner" in args
    assert "--direct_running_mode=multi_processing" in args
    assert options.view_as(
        beam.options.pipeline_options.StandardOptions).runner == "FnApiRunner"
    # An explicit runner is the user's: nothing local is added.
    assert shards.beam_options(["--runner=FlinkRunner"])[1] == [
        "--runner=FlinkRunner", "--default_sdk_harness_log_level=WARNING"]
    from apache_beam.runners.portability import prism_runner

    def no_prism(*args, **kwargs):
        raise AssertionError("the Prism runner was tried")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", no_prism)
    index = shards.prepare(Lines({"train": WORDS[:8]}), tmp_path / "s", shards=2,
                           beam_args=["--direct_num_workers=2"])
    assert index["splits"]["train"]["examples"] == 8
    assert "--direct_running_mode=multi_processing" in index["beam_args"]


def test_missing_beam_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(ImportError, match=r"pip install 'recurrent-pipelines\[beam\]'"):
        shards.prepare(Lines({"train": WORDS}), "unused")


def test_bad_arguments():
    with pytest.raises(ValueError, match="shards must be a positive integer; got shards=0"):
        shards.prepare(Lines({"train": WORDS}), "unused", shards=0)
    with pytest.raises(ValueError, match="Nothing to prepare: the demo source has no items"):
        shards.prepare(Lines({"train": []}), "unused")
    with pytest.raises(TypeError, match="Feature 'x' must be bytes, str, int or float"):
        shards.example(x=[object()])


def test_boundaries_from_the_histogram():
    assert shards.histogram_boundaries([], 10) == []
    hist = shards.length_histogram([1, 3, 12, 15, 18, 25, 27, 29, 31, 45], 10)
    assert hist == [(0, 2), (10, 3), (20, 3), (30, 1), (40, 1)]
    # 20% of 10 examples is reached in the first bin, 40% in the second ...
    assert shards.histogram_boundaries(hist, 10) == [10, 20, 30]
    assert shards.steps_per_epoch(100, 8) == 13
    assert shards.steps_per_epoch(100, 8, workers=2) == 7


@pytest.mark.parametrize("files, chief, index, expected", [
    (4, False, 1, (2, 1)), (2, False, 0, (2, 0)), (3, True, 0, (3, 1)), (1, False, 0, None)])
def test_workers_split_shards_by_file_when_each_has_one(monkeypatch, caplog, files, chief,
                                                        index, expected):
    cluster = {"worker": ["localhost:1000", "localhost:1001"]}
    if chief:
        cluster["chief"] = ["localhost:999"]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": index}}))
    assert distribute.worker_shard(files) == expected
    fallback = [r for r in caplog.records if "each worker reads every file" in r.getMessage()]
    assert bool(fallback) == (expected is None)
    policy = distribute.shard_options(tf.data.Dataset.range(3), expected is not None).options(
    ).experimental_distribute.auto_shard_policy
    assert policy == (tf.data.experimental.AutoShardPolicy.OFF if expected
                      else tf.data.experimental.AutoShardPolicy.DATA)


def test_records_of_one_worker_are_its_files(prepared):
    out, _ = prepared
    split = shards.Shards.open(out).split("train")
    texts = [_texts_of(split.records(shard=(2, k))) for k in (0, 1)]
    assert sorted(texts[0] + texts[1]) == sorted(WORDS)
    by_file = [_texts_of(tf.data.TFRecordDataset(f)) for f in split.files]
    assert sorted(texts[0]) == sorted(by_file[0] + by_file[2])


def _texts_of(records):
    spec = {"text": tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(r, spec)["text"].numpy().decode() for r in records]


def test_records_shuffle_is_bounded_and_seeded(prepared):
    out, _ = prepared
    split = shards.Shards.open(out).split("train")
    a, b = _texts(split, training=True), _texts(split, training=True)
    assert a == b  # the same seed gives the same order
    assert a != _texts(split)
    assert np.unique(a).size == 40
