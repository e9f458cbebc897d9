"""Speech from shards: `prepare` (FSDD sequences, a manifest with bad
lines), records equal to the in-memory utterances, the same batches from
shards as from memory, `pipelines prepare` + `train --set data.shards`,
resume after SIGKILL, and two workers splitting four shards by file."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from pipelines import shards, training
from speech import data
from speech.config import SpeechConfig
from speech.pipeline import SpeechRecognizer
from speech.task import TASK
from tests import harness
from tests.harness import run_module as run

pytest.importorskip("apache_beam")

ROOT = harness.ROOT
TINY = os.path.join(ROOT, "speech", "configs", "tiny.yaml")
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _config(*overrides):
    return SpeechConfig.from_yaml(TINY, ["train.verbose=0", *overrides])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The tiny config's FSDD sequences (40 train, 8 test) in 4 shards."""
    if not os.path.isdir(os.environ["PIPELINES_DATA_DIR"]):
        pytest.skip("data directory not present")
    out = tmp_path_factory.mktemp("speech") / "shards"
    index = TASK.prepare(_config(), out, shards=4, beam_args=IN_MEMORY)
    return out, index


def test_prepare_counts_and_index(prepared):
    out, index = prepared
    splits = index["splits"]
    # The recogniser's own hold-out: max(1, int(40 * 0.1)) of the 40.
    assert {k: v["examples"] for k, v in splits.items()} == {"train": 36, "val": 4, "test": 8}
    assert all(len(v["shards"]) == 4 and v["skipped"] == 0 for v in splits.values())
    assert index["fields"] == {"features.sample_rate": 8000}
    assert index["length_unit"] == "samples" and index["length_bin"] == 80
    assert index["sources"] == [os.path.join(os.environ["PIPELINES_DATA_DIR"], "fsdd",
                                             "recordings")]


def test_records_equal_the_in_memory_utterances(prepared):
    out, _ = prepared
    memory = TASK.load_splits(_config())
    recogniser = SpeechRecognizer(_config())
    train, val = recogniser._split(memory.train, None)
    opened = shards.Shards.open(out)
    for name, utterances in (("train", train), ("val", val), ("test", memory.test)):
        read = TASK.examples_of(opened.split(name))
        by_source = {(u.source, u.text): u for u in utterances}
        assert sorted(by_source) == sorted((u.source, u.text) for u in read)
        for u in read:
            ref = by_source[(u.source, u.text)].audio
            assert u.audio.dtype == np.float32 and u.audio.shape == ref.shape
            # 16-bit PCM: within half a quantisation step.
            np.testing.assert_allclose(u.audio, ref, atol=0.5 / 32767 + 1e-7)


def test_a_manifest_with_bad_lines_skips_and_counts_them(tmp_path, data_dir):
    wav = os.path.join(data_dir, "fsdd", "recordings", "3_george_10.wav")
    manifest = tmp_path / "m.tsv"
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF no audio")
    data.write_manifest([(wav, "three"), (str(broken), "four"), (wav, "?!")], manifest)
    out = tmp_path / "shards"
    index = TASK.prepare(_config(), out, input=str(manifest), shards=1, beam_args=IN_MEMORY)
    splits = index["splits"]
    assert splits["train"]["examples"] + splits["val"]["examples"] == 1
    assert splits["train"]["skipped"] + splits["val"]["skipped"] == 2
    reasons = sorted(index["skipped_reasons"])
    # The messages `load_manifest(skip_bad=True)` logs for the same lines.
    assert reasons[0].startswith(f"{manifest}, line 3: skipping {broken}: Cannot read audio "
                                 f"file {broken}")
    assert reasons[1] == (f"{manifest}, line 4: skipping {wav}: Transcript '?!' of {wav} is "
                          "empty once normalised.")
    assert index["sources"] == [str(manifest)]
    # With data.skip_bad: false, prepare stops on the first, with the error
    # the in-memory loader raises, and writes nothing; so does the loader.
    strict = _config("data.skip_bad=false")
    with pytest.raises(ValueError) as e:
        TASK.prepare(strict, tmp_path / "strict", input=str(manifest), shards=1,
                     beam_args=IN_MEMORY)
    assert str(e.value).startswith(f"{manifest}, line 3: Cannot read audio file {broken}")
    assert str(e.value).endswith("(2 item(s) of the speech source cannot be used; "
                                 "data.skip_bad: true skips them, listed in skipped.jsonl.)")
    assert not (tmp_path / "strict").exists()
    with pytest.raises(ValueError, match=f"{manifest}, line 3: Cannot read audio file"):
        data.load_manifest(manifest, 8000, skip_bad=strict.data.skip_bad)


def test_shards_give_the_batches_memory_gives(prepared):
    out, _ = prepared
    recogniser = SpeechRecognizer(_config())
    memory = TASK.load_splits(_config())
    _, val = recogniser._split(memory.train, None)
    split = shards.Shards.open(out).split("val")

    def examples(ds):
        got = []
        for x, y in ds:
            for labels, n in zip(y["labels"].numpy(), y["label_lengths"].numpy()):
                got.append(data.decode(labels[:n]))
        return sorted(got)

    from_memory, from_shards = recogniser._dataset(val, False), recogniser._dataset(split, False)
    assert examples(from_memory) == examples(from_shards) == sorted(u.text for u in val)
    # The same model scores both the same (padding differs with the buckets).
    recogniser.model = recogniser._build_model()
    model = recogniser.model
    model.compile(loss=None)
    a = model.evaluate(from_memory, verbose=0)
    b = model.evaluate(from_shards, verbose=0)
    np.testing.assert_allclose(a, b, rtol=2e-3)


def test_fit_from_shards_learns_and_checks_the_rate(prepared):
    out, _ = prepared
    asr = SpeechRecognizer(_config(f"data.shards={out}", "train.epochs=3",
                                   "train.learning_rate=0.005")).fit()
    losses = [row["loss"] for row in asr.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert all(np.isfinite(row["val_loss"]) for row in asr.history)
    with pytest.raises(shards.ShardsError, match=(
            "was prepared with features.sample_rate=8000, but this config has "
            "features.sample_rate=16000")):
        SpeechRecognizer(_config(f"data.shards={out}", "features.sample_rate=16000")).fit()


def test_prepare_on_the_command_line_refuses_an_existing_output(tmp_path):
    # (The README runs `pipelines prepare speech` and trains from its shards,
    # as printed: tests/test_readme.py.)
    out = tmp_path / "shards"
    out.mkdir()
    again = run(["-m", "pipelines.cli", "prepare", "speech", "--config", TINY,
                 "--output", str(out), "--direct_running_mode=in_memory"])
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1] == (
        f"error: {out} already exists; pass --overwrite (overwrite=True) to rebuild it, or "
        "choose another --output.")
    # Options that are not Beam's go nowhere silently.
    wrong = run(["-m", "pipelines.cli", "train", "speech", "--runner=FlinkRunner"])
    assert wrong.returncode == 2 and "unrecognized arguments: --runner=FlinkRunner" in wrong.stderr


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    from speech.config import SpeechConfig
    from speech.pipeline import SpeechRecognizer
    config, shards, run_dir = sys.argv[1:4]
    cfg = SpeechConfig.from_yaml(config, [f"data.shards={shards}", "train.epochs=4",
                                          "train.verbose=0"])
    asr = SpeechRecognizer(cfg).fit(run_dir=run_dir)
    print("EPOCHS", [row["epoch"] for row in asr.history])
""")


def test_a_shard_fed_run_killed_resumes_after_its_last_epoch(prepared, tmp_path):
    out, _ = prepared
    run_dir = training.RunDir(tmp_path / "run")
    script = tmp_path / "train.py"
    script.write_text(_KILL_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def start():
        return subprocess.Popen([sys.executable, str(script), TINY, str(out), run_dir.path],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    proc = start()
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(run_dir.read_history()) >= 1 and os.path.exists(
                    os.path.join(run_dir.backup, "training_metadata.json")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    finished = [row["epoch"] for row in run_dir.read_history()]
    assert finished and finished[-1] < 4
    proc = start()
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-3000:]
    assert "EPOCHS [1, 2, 3, 4]" in stdout
    assert [row["epoch"] for row in run_dir.read_history()] == [1, 2, 3, 4]


_WORKER_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import tensorflow as tf
    from pipelines import distribute, shards
    from speech.config import SpeechConfig
    from speech.pipeline import SpeechRecognizer
    config, folder, run_dir, out = sys.argv[1:5]
    cfg = SpeechConfig.from_yaml(config, [f"data.shards={folder}", "train.epochs=1",
                                          "train.verbose=0", "train.strategy=multi_worker"])
    asr = SpeechRecognizer(cfg).fit(run_dir=run_dir)
    # What this worker reads of the training records: the stream `fit`
    # reads, one epoch.
    split = shards.Shards.open(folder).split("train")
    spec = {"source": tf.io.FixedLenFeature([], tf.string)}
    seen = [tf.io.parse_single_example(r, spec)["source"].numpy().decode()
            for r in asr._stream(split, lambda records: records, True)]
    weights = {f"w{i}": w for i, w in enumerate(asr.model.get_weights())}
    np.savez(out, seen=np.array(seen), **weights)
""")


def test_two_workers_split_four_shards_by_file(prepared, tmp_path):
    out, index = prepared
    from tests.pipelines.test_distribute import _env, _free_ports

    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    script = tmp_path / "worker.py"
    script.write_text(_WORKER_SCRIPT)
    procs, results, logs = [], [], []
    try:
        for i in range(2):
            results.append(tmp_path / f"worker{i}.npz")
            logs.append(open(tmp_path / f"worker{i}.log", "w"))
            tf_config = {"cluster": cluster, "task": {"type": "worker", "index": i}}
            procs.append(subprocess.Popen(
                [sys.executable, str(script), TINY, str(out), str(tmp_path / "run"),
                 str(results[i])], cwd=ROOT, stdout=logs[i], stderr=subprocess.STDOUT,
                env=_env(TF_CONFIG=json.dumps(tf_config),
                         PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))))
        for p in procs:
            p.wait(timeout=240)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs:
            f.close()
    for i, p in enumerate(procs):
        assert p.returncode == 0, (tmp_path / f"worker{i}.log").read_text()[-4000:]
    r0, r1 = (np.load(r) for r in results)
    # Which file each record is in.
    split = shards.Shards.open(out).split("train")
    file_of = {}
    for path in split.files:
        spec = {"source": tf.io.FixedLenFeature([], tf.string)}
        for record in tf.data.TFRecordDataset(path):
            file_of[tf.io.parse_single_example(record, spec)["source"].numpy().decode()] = path
    files0 = {file_of[s] for s in r0["seen"]}
    files1 = {file_of[s] for s in r1["seen"]}
    # Each worker read two whole shards, and together all four, once.
    assert len(files0) == len(files1) == 2 and not files0 & files1
    counts = {e["file"]: e["examples"] for e in index["splits"]["train"]["shards"]}
    assert len(r0["seen"]) == sum(counts[os.path.basename(f)] for f in files0)
    assert len(r1["seen"]) == sum(counts[os.path.basename(f)] for f in files1)
    assert len(r0["seen"]) + len(r1["seen"]) == 36
    # Both finish with the same weights.
    weights = [k for k in r0.files if k.startswith("w")]
    assert weights
    for k in weights:
        np.testing.assert_allclose(r0[k], r1[k], atol=1e-6)
