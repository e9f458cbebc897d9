"""Tests for `pipelines.distribute`: strategy names, MirroredStrategy over two
logical CPUs, and MultiWorkerMirroredStrategy with two workers on loopback.

The distributed tests run in subprocesses: logical devices and TF_CONFIG must
be in place before TensorFlow initialises, which has already happened in the
pytest process.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from pipelines import distribute

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A tiny deterministic model, shared by the subprocess scripts.
MODEL_CODE = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    def data(n=16):
        rng = np.random.default_rng(123)
        x = rng.normal(size=(n, 6, 3)).astype("float32")
        y = rng.normal(size=(n, 1)).astype("float32")
        return x, y

    def build(keras):
        from pipelines.blocks import RecurrentEncoder
        keras.utils.set_random_seed(7)
        inputs = keras.Input((6, 3))
        h = RecurrentEncoder(4, cell_type="gru", return_sequences=False)(inputs)
        return keras.Model(inputs, keras.layers.Dense(1)(h))

    def compile_(keras, model):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    """
)

MIRRORED_SCRIPT = MODEL_CODE + textwrap.dedent(
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    from pipelines import distribute

    x, y = data()
    initial = build(keras).get_weights()
    out = {}
    for name, kwargs in [
        ("default", {}),
        ("mirrored", {"devices": ["/cpu:0", "/cpu:1"]}),
    ]:
        strategy = distribute.get_strategy(name, **kwargs)
        with strategy.scope():
            model = build(keras)
            model.set_weights(initial)
            compile_(keras, model)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        history = model.fit(ds, epochs=2, verbose=0, shuffle=False)
        out[name] = {
            "replicas": int(strategy.num_replicas_in_sync),
            "loss": [float(v) for v in history.history["loss"]],
            "weights": [w.tolist() for w in model.get_weights()],
        }
    out["initial"] = [w.tolist() for w in initial]
    print("RESULT " + json.dumps(out))
    """
)

WORKER_SCRIPT = MODEL_CODE + textwrap.dedent(
    """
    import keras
    from pipelines import distribute

    out_path = sys.argv[1]
    strategy = distribute.get_strategy("multi_worker")
    x, y = data(32)

    def dataset():
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()

    with strategy.scope():
        model = build(keras)
        compile_(keras, model)
    initial = [w.copy() for w in model.get_weights()]
    history = model.fit(
        distribute.shard_options(dataset()), epochs=2, steps_per_epoch=2, verbose=0
    )
    result = dict(
        chief=np.array(distribute.is_chief()),
        is_mwms=np.array(
            isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        ),
        replicas=np.array(strategy.num_replicas_in_sync),
        loss=np.array(history.history["loss"]),
        **{f"w{i}": w for i, w in enumerate(model.get_weights())},
        **{f"init{i}": w for i, w in enumerate(initial)},
    )
    if distribute.is_chief():
        # The same training on one device, on the whole (unsharded) batches.
        ref = build(keras)
        ref.set_weights(initial)
        compile_(keras, ref)
        ref_history = ref.fit(dataset(), epochs=2, steps_per_epoch=2, verbose=0)
        result["ref_loss"] = np.array(ref_history.history["loss"])
        result.update({f"ref{i}": w for i, w in enumerate(ref.get_weights())})
    np.savez(out_path, **result)
    """
)


def _env(**extra):
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# --- get_strategy by name ---------------------------------------------------


def test_default_strategy_has_one_replica():
    strategy = distribute.get_strategy("default")
    assert strategy.num_replicas_in_sync == 1
    assert distribute.get_strategy().num_replicas_in_sync == 1


def test_unknown_strategy_name_lists_valid_ones():
    with pytest.raises(ValueError) as info:
        distribute.get_strategy("mirorred")
    assert str(info.value) == (
        "Unknown distribution strategy 'mirorred'; expected one of "
        "['default', 'mirrored', 'multi_worker', 'tpu']."
    )


def test_multi_worker_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG") as info:
        distribute.get_strategy("multi_worker")
    assert "multi_worker" in str(info.value)


def test_multi_worker_with_malformed_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.get_strategy("multi_worker")


# --- is_chief -----------------------------------------------------------------


@pytest.mark.parametrize(
    "tf_config, expected",
    [
        (None, True),
        ("", True),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
        ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
        ({"cluster": {"worker": ["a:1"], "evaluator": ["e:0"]}, "task": {"type": "evaluator", "index": 0}}, False),
    ],
)
def test_is_chief(monkeypatch, tf_config, expected):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        value = tf_config if isinstance(tf_config, str) else json.dumps(tf_config)
        monkeypatch.setenv("TF_CONFIG", value)
    assert distribute.is_chief() is expected


def test_shard_options_sets_data_policy():
    import tensorflow as tf

    ds = distribute.shard_options(tf.data.Dataset.range(4))
    assert (
        ds.options().experimental_distribute.auto_shard_policy
        == tf.data.experimental.AutoShardPolicy.DATA
    )
    assert list(ds.as_numpy_iterator()) == [0, 1, 2, 3]


# --- MirroredStrategy over two logical CPUs -----------------------------------


def test_mirrored_two_cpus_matches_single_device():
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    single, mirrored = out["default"], out["mirrored"]
    assert single["replicas"] == 1
    assert mirrored["replicas"] == 2
    # Training moved the weights ...
    assert any(
        not np.allclose(a, b) for a, b in zip(single["weights"], out["initial"])
    )
    # ... and the same way on one device and on two replicas.
    assert len(single["weights"]) == len(mirrored["weights"])
    for a, b in zip(single["weights"], mirrored["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(single["loss"], mirrored["loss"], atol=1e-4, rtol=1e-4)


# --- MultiWorkerMirroredStrategy with two workers on loopback -----------------


def test_multi_worker_two_processes_on_loopback(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, outs, logs = [], [], []
    deadline = time.monotonic() + 120
    try:
        for i in range(2):
            outs.append(tmp_path / f"worker{i}.npz")
            logs.append(tmp_path / f"worker{i}.log")
            tf_config = {"cluster": cluster, "task": {"type": "worker", "index": i}}
            with open(logs[i], "w") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", WORKER_SCRIPT, str(outs[i])],
                        cwd=ROOT,
                        env=_env(TF_CONFIG=json.dumps(tf_config)),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, p in enumerate(procs):
        assert p.returncode == 0, f"worker {i} failed:\n{logs[i].read_text()[-4000:]}"

    r0, r1 = (np.load(out) for out in outs)
    assert bool(r0["is_mwms"]) and bool(r1["is_mwms"])
    assert bool(r0["chief"]) is True
    assert bool(r1["chief"]) is False
    assert int(r0["replicas"]) == int(r1["replicas"]) == 2
    n = len([k for k in r0.files if k.startswith("w")])
    assert n == 5  # GRU kernel, recurrent kernel, bias; Dense kernel, bias
    assert n == len([k for k in r1.files if k.startswith("w")])
    for i in range(n):
        # Both workers start from the same weights and end with the same ones,
        np.testing.assert_allclose(r0[f"init{i}"], r1[f"init{i}"])
        np.testing.assert_allclose(r0[f"w{i}"], r1[f"w{i}"], atol=1e-6)
        # which are those of the same training on one device.
        np.testing.assert_allclose(r0[f"w{i}"], r0[f"ref{i}"], atol=1e-4, rtol=1e-4)
    assert any(not np.allclose(r0[f"w{i}"], r0[f"init{i}"]) for i in range(n))
    np.testing.assert_allclose(r0["loss"], r1["loss"], atol=1e-6)
    np.testing.assert_allclose(r0["loss"], r0["ref_loss"], atol=1e-4, rtol=1e-4)
