"""The training runner: resume after SIGKILL, NaN guard, best checkpoint,
early stopping across restarts, run-dir config checks, the optimizer."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines import training
from pipelines.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
W = np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")


def _data(n=64, sign=1.0, seed=0, batch=16):
    x = np.random.RandomState(seed).randn(n, 4).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, sign * x @ W)).batch(batch)


def _model(lr=0.05, clipnorm=1.0):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    cfg = TrainConfig(learning_rate=lr, clipnorm=clipnorm)
    model.compile(optimizer=training.make_optimizer(cfg), loss="mse")
    return model


def _cfg(**kw):
    base = dict(epochs=3, patience=0, tensorboard=False, verbose=0)
    base.update(kw)
    return TrainConfig(**base)


class _Epochs(keras.callbacks.Callback):
    """Records the epochs that `fit` actually runs."""

    def __init__(self):
        super().__init__()
        self.ran = []

    def on_epoch_begin(self, epoch, logs=None):
        self.ran.append(epoch)


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def _weights_of_file(path, make=None):
    model = (make or _model)()
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return _weights(model)


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _argmin_epoch(rows, key="val_loss"):
    return min((r for r in rows if key in r), key=lambda r: r[key])["epoch"]


# --------------------------------------------------------------- kill/resume
_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import keras, numpy as np, tensorflow as tf
    from pipelines import training
    from pipelines.config import TrainConfig

    run_dir, epochs_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            with open(epochs_file, "a") as f:
                f.write(f"{epoch}\\n")

    class Slow(keras.callbacks.Callback):
        # Runs after the standard callbacks: the kill most likely lands here,
        # but may land anywhere in the epoch.
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.4)

    training.seed_everything(0)
    x = np.random.RandomState(0).randn(64, 4).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16)
    val = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(16)
    cfg = TrainConfig(epochs=n, patience=0, tensorboard=False, verbose=0,
                      learning_rate=0.05)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=training.make_optimizer(cfg), loss="mse")
    rows = training.fit(model, train, val, cfg, run_dir, callbacks=[Record(), Slow()])
    print("ROWS", len(rows), flush=True)
    """
)


def _wait_for(predicate, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def _backup_epoch(run):
    path = os.path.join(run.backup, "training_metadata.json")
    try:
        with open(path) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkill_then_rerun_resumes_after_last_finished_epoch(tmp_path):
    n = 6
    run = training.RunDir(tmp_path / "run")
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"

    def start(epochs_file):
        return subprocess.Popen(
            [sys.executable, str(script), run.path, str(epochs_file), str(n)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    proc = start(first)
    try:
        # At least one epoch finished: its row is in history.csv and the
        # backup says so.
        ok = _wait_for(lambda: run.read_history() and _backup_epoch(run) >= 1, proc, 120)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=60)
    assert ok, f"first run ended before an epoch finished:\n{out}\n{err[-3000:]}"
    assert proc.returncode == -signal.SIGKILL, err[-3000:]

    rows_at_kill = run.read_history()
    k = _backup_epoch(run)  # finished epochs as far as the backup knows
    assert 1 <= k < n
    # The row is written before the backup: at most one row ahead of it.
    # history.csv counts epochs from 1 (as Keras prints them).
    assert [r["epoch"] for r in rows_at_kill] in (list(range(1, k + 1)), list(range(1, k + 2)))
    ran_first = [int(e) for e in first.read_text().split()]
    assert ran_first[:k] == list(range(k))

    proc = start(second)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    assert f"ROWS {n}" in out

    ran_second = [int(e) for e in second.read_text().split()]
    assert ran_second == list(range(k, n)), (k, ran_second)
    history = run.read_history()
    assert [r["epoch"] for r in history] == list(range(1, n + 1))
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["val_loss"]) for r in history)
    # Rows of epochs finished before the kill are kept as they were.
    for old in rows_at_kill[:k]:
        assert history[old["epoch"] - 1] == old
    assert _backup_epoch(run) == n
    with open(run.best_record) as f:
        best = json.load(f)
    assert best["epoch"] == _argmin_epoch(history)
    assert best["value"] == history[best["epoch"] - 1]["val_loss"]


# ---------------------------------------------------------------- NaN guard
def test_nan_loss_raises_keeps_finished_epochs_and_finite_backup(tmp_path):
    run = training.RunDir(tmp_path / "run")
    poison_epoch, poison_batch = 2, 2
    epoch_var = tf.Variable(-1, dtype=tf.int64)

    class SetEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epoch_var.assign(epoch)

    x = np.random.RandomState(0).randn(64, 4).astype("float32")
    y = x @ W
    index = np.arange(64, dtype="int64")

    def poison(x, y, i):
        bad = tf.logical_and(tf.equal(epoch_var, poison_epoch),
                             tf.equal(i // 16, poison_batch))
        return x, tf.where(bad, tf.constant(np.nan, tf.float32), y)

    train = tf.data.Dataset.from_tensor_slices((x, y, index)).map(poison).batch(16)
    val = _data(32)
    model = _model()
    with pytest.raises(training.TrainingDivergedError) as info:
        training.fit(model, train, val, _cfg(epochs=5), run, callbacks=[SetEpoch()])
    message = str(info.value)
    assert f"epoch {poison_epoch + 1}" in message
    assert f"batch {poison_batch + 1}" in message

    history = run.read_history()
    assert [r["epoch"] for r in history] == list(range(1, poison_epoch + 1))
    assert all(np.isfinite(list(r.values())).all() for r in history)
    assert _backup_epoch(run) == poison_epoch
    backup = _weights_of_file(os.path.join(run.backup, "latest.weights.h5"))
    assert all(np.isfinite(w).all() for w in backup)
    with open(run.best_record) as f:
        assert json.load(f)["epoch"] <= poison_epoch
    assert all(np.isfinite(w).all() for w in _weights_of_file(run.best_weights))

    # With the data fixed, the same command goes on from the last good epoch
    # (same model object, whose weights are NaN now).
    epoch_var.assign(-1)
    ran = _Epochs()

    class Clean(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epoch_var.assign(-1)

    rows = training.fit(model, train, val, _cfg(epochs=5), run, callbacks=[Clean(), ran])
    assert ran.ran == list(range(poison_epoch, 5))
    assert [r["epoch"] for r in rows] == list(range(1, 6))
    assert all(np.isfinite(w).all() for w in _weights(model))


def test_divergence_at_the_first_epoch_says_no_epoch_finished(tmp_path):
    run = training.RunDir(tmp_path / "run")
    x = np.ones((32, 4), "float32")
    y = np.full((32, 1), np.nan, "float32")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    with pytest.raises(training.TrainingDivergedError, match="epoch 1, batch 1"):
        training.fit(_model(), train, _data(16), _cfg(), run)
    assert run.read_history() == []
    assert not os.path.exists(os.path.join(run.backup, "latest.weights.h5"))


# ----------------------------------------------------------- best checkpoint
def test_best_checkpoint_kept_across_restarts(tmp_path):
    run = training.RunDir(tmp_path / "run")
    # Validation targets are the negated training targets: the better the
    # model fits, the worse val_loss gets, so the best epoch is an early one.
    train, val = _data(), _data(32, sign=-1.0, seed=1)
    training.fit(_model(), train, val, _cfg(epochs=3), run)
    with open(run.best_record) as f:
        first_best = json.load(f)

    # A restart with more epochs (a new process would build a new model).
    model = _model()
    ran = _Epochs()
    rows = training.fit(model, train, val, _cfg(epochs=6), run, callbacks=[ran])
    assert ran.ran == [3, 4, 5]
    assert [r["epoch"] for r in rows] == list(range(1, 7))
    with open(run.best_record) as f:
        best = json.load(f)
    assert best["epoch"] == _argmin_epoch(rows) == first_best["epoch"] <= 3
    assert best["value"] == rows[best["epoch"] - 1]["val_loss"]
    # The model ends with the best weights, not the last ones.
    _assert_same(_weights(model), _weights_of_file(run.best_weights))
    last = _weights_of_file(os.path.join(run.backup, "latest.weights.h5"))
    assert not all(np.array_equal(a, b) for a, b in zip(_weights(model), last))


def test_best_checkpoint_ranks_last_epoch_when_killed_before_it(tmp_path):
    run = training.RunDir(tmp_path / "run")
    train, val = _data(), _data(32, seed=1)
    rows = training.fit(_model(), train, val, _cfg(epochs=3), run)
    assert _argmin_epoch(rows) == 3
    # As if killed after epoch 3's backup but before BestCheckpoint saw it.
    with open(run.best_record, "w") as f:
        json.dump({"epoch": 2, "monitor": "val_loss", "value": rows[1]["val_loss"]}, f)

    model = _model()
    ran = _Epochs()
    training.fit(model, train, val, _cfg(epochs=3), run, callbacks=[ran])
    assert ran.ran == []
    with open(run.best_record) as f:
        assert json.load(f) == {"epoch": 3, "monitor": "val_loss",
                                "value": rows[2]["val_loss"]}
    backup = _weights_of_file(os.path.join(run.backup, "latest.weights.h5"))
    _assert_same(_weights_of_file(run.best_weights), backup)
    _assert_same(_weights(model), backup)


def test_history_and_best_with_validation_every_other_epoch(tmp_path):
    run = training.RunDir(tmp_path / "run")
    rows = training.fit(_model(), _data(), _data(32, seed=1), _cfg(epochs=4), run,
                        validation_freq=2)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert ["val_loss" in r for r in rows] == [False, True, False, True]
    assert all(np.isfinite(r["loss"]) for r in rows)
    with open(run.best_record) as f:
        best = json.load(f)
    # Ranked by val_loss once there is one, never against the training loss.
    assert best["monitor"] == "val_loss"
    assert best["epoch"] == _argmin_epoch(rows)


def test_best_checkpoint_follows_the_metric_direction(tmp_path):
    run = training.RunDir(tmp_path / "run")
    run.prepare({})
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    best = training.BestCheckpoint(run, monitor="val_accuracy")
    best.set_model(model)
    for epoch, acc in enumerate([0.5, 0.8, 0.6]):
        best.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0, "val_accuracy": acc})
    # An epoch whose training loss diverged is never the best.
    best.on_epoch_end(3, {"loss": float("nan"), "val_loss": 1.0, "val_accuracy": 0.9})
    # Keras's epoch index 1 is the second epoch: "epoch": 2 in best.json.
    assert best.best() == {"epoch": 2, "monitor": "val_accuracy", "value": 0.8}


def test_same_model_object_in_a_new_run_dir_starts_at_epoch_zero(tmp_path):
    model = _model()
    train, val = _data(), _data(32, seed=1)
    first = training.RunDir(tmp_path / "a")
    training.fit(model, train, val, _cfg(epochs=2), first)
    training.fit(model, train, val, _cfg(epochs=2), first)  # resumes: nothing to do
    ran = _Epochs()
    rows = training.fit(model, train, val, _cfg(epochs=2), tmp_path / "b", callbacks=[ran])
    assert ran.ran == [0, 1]
    assert [r["epoch"] for r in rows] == [1, 2]


# ------------------------------------------------------------ early stopping
def test_early_stopping_and_the_restored_epoch_are_said(tmp_path, caplog):
    run = training.RunDir(tmp_path / "run")
    train, val = _data(), _data(32, sign=-1.0, seed=1)  # val_loss only worsens
    with caplog.at_level("INFO", logger="pipelines.training"):
        rows = training.fit(_model(), train, val, _cfg(epochs=10, patience=2), run)
    assert len(rows) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert "Early stopping after epoch 3 of 10: val_loss did not improve for 2 epochs." \
        in messages
    best = json.load(open(run.best_record))
    assert (f"Restored the weights of the best epoch, 1 (val_loss = {best['value']:.6g}), "
            f"from {run.best_weights}.") in messages


def test_early_stopping_patience_spans_restarts(tmp_path):
    run = training.RunDir(tmp_path / "run")
    train, val = _data(), _data(32, sign=-1.0, seed=1)  # val_loss only worsens
    rows = training.fit(_model(), train, val, _cfg(epochs=1, patience=2), run)
    assert len(rows) == 1
    ran = _Epochs()
    rows = training.fit(_model(), train, val, _cfg(epochs=10, patience=2), run,
                        callbacks=[ran])
    # Best epoch 1, two epochs without improvement: stops after epoch 3, as
    # an uninterrupted run would (Keras's indices 1 and 2 ran now).
    assert ran.ran == [1, 2]
    assert [r["epoch"] for r in rows] == [1, 2, 3]

    # Starting the stopped run again trains nothing more.
    ran = _Epochs()
    rows = training.fit(_model(), train, val, _cfg(epochs=10, patience=2), run,
                        callbacks=[ran])
    assert ran.ran == []
    assert len(rows) == 3


# ------------------------------------------------------------------ run dir
def test_prepare_saves_config_and_checks_resumed_config(tmp_path):
    run = training.RunDir(tmp_path / "run")
    config = {"name": "demo", "model": {"units": 8, "sizes": (1, 2)},
              "train": {"epochs": 3, "learning_rate": 0.001}}
    run.prepare(config)
    assert os.path.isdir(run.checkpoints) and os.path.isdir(run.logs)
    with open(run.config) as f:
        assert f.read().startswith("name: demo")
    run.prepare(config)  # same config again (tuples read back as lists)

    os.makedirs(run.backup)  # an unfinished run
    changed = {**config, "train": {"epochs": 3, "learning_rate": 0.01}}
    with pytest.raises(ValueError) as info:
        run.prepare(changed)
    message = str(info.value)
    # A finished run keeps its backup too: the message must not call it unfinished.
    assert "holds a run (finished or not) trained with a different config" in message
    assert "unfinished" not in message
    assert "train.learning_rate" in message
    assert "0.001" in message and "0.01" in message
    assert "train.epochs" not in message

    more = {**config, "train": {"epochs": 7, "learning_rate": 0.001}}
    run.prepare(more)
    import yaml

    with open(run.config) as f:
        assert yaml.safe_load(f)["train"]["epochs"] == 7


def test_prepare_allows_any_config_without_a_backup(tmp_path):
    run = training.RunDir(tmp_path / "run")
    run.prepare({"train": {"learning_rate": 0.001}})
    run.prepare({"train": {"learning_rate": 0.1}})
    import yaml

    with open(run.config) as f:
        assert yaml.safe_load(f)["train"]["learning_rate"] == 0.1


# ---------------------------------------------------------------- optimizer
def test_make_optimizer_clips_by_default_and_uses_adamw_with_decay():
    assert TrainConfig().clipnorm == 1.0
    opt = training.make_optimizer(TrainConfig())
    assert type(opt) is keras.optimizers.Adam
    assert opt.clipnorm == 1.0
    assert float(opt.learning_rate) == pytest.approx(1e-3)

    opt = training.make_optimizer(TrainConfig(weight_decay=0.01, clipnorm=0.5))
    assert isinstance(opt, keras.optimizers.AdamW)
    assert opt.weight_decay == pytest.approx(0.01)
    assert opt.clipnorm == 0.5

    assert training.make_optimizer(TrainConfig(clipnorm=0.0)).clipnorm is None


def test_atomic_write_text_replaces_whole_file(tmp_path):
    from pipelines import files

    path = tmp_path / "sub" / "f.txt"
    files.atomic_write_text(path, "one")
    files.atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(path.parent) == ["f.txt"]


def test_history_table_reads_back_exactly(tmp_path):
    from pipelines import files

    run = training.RunDir(tmp_path)
    rows = [{"epoch": 0, "loss": 0.1, "member": 1}, {"epoch": 1, "loss": 1 / 3, "val_loss": 2.0}]
    files.write_table(run.history, rows)
    assert run.read_history() == rows
    files.write_table(run.history, [])
    assert not os.path.exists(run.history)


def test_private_keras_attributes_behave_as_the_runner_expects(tmp_path):
    """Pins the two private Keras attributes `training` relies on, on the
    installed Keras: `_initial_epoch` decides where `fit` starts (read after
    the callbacks' on_train_begin), and `_set_monitor_op` gives a metric's
    direction."""
    model = _model()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert training.resumed_epoch(model) == 0
    started = []

    class StartAt(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            training.set_resumed_epoch(self.model, 2)

        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    model.fit(_data(n=32), epochs=4, verbose=0, shuffle=False, callbacks=[StartAt()])
    assert started == [2, 3]
    assert training.resumed_epoch(model) == 2
    # Directions, by Keras's own rule, once the metrics are built.
    assert training.lower_is_better(model, "val_loss") is True
    assert training.lower_is_better(model, "mae") is True
    clf = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    clf.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clf.fit(np.zeros((8, 4)), np.zeros(8), verbose=0)
    assert training.lower_is_better(clf, "val_accuracy") is False


def test_run_directory_is_temporary_only_without_a_path(tmp_path):
    with training.run_directory(None, "demo") as run:
        temp = run.path
        assert os.path.basename(temp).startswith("demo-") and os.path.isdir(temp)
    assert not os.path.exists(temp)
    with training.run_directory(str(tmp_path / "kept")) as run:
        os.makedirs(run.path)
    assert os.path.isdir(tmp_path / "kept")


def test_unknown_length_dataset_trains_every_batch_without_a_warning(tmp_path, recwarn):
    # Filtering makes the length unknown to tf.data; the first epoch then ends
    # by running out of data, which is normal and must not be reported.
    data = _data(n=64).unbatch().filter(lambda x, y: True).batch(16)
    assert data.cardinality() == tf.data.UNKNOWN_CARDINALITY
    counted = []
    batches = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: counted.append(b))
    rows = training.fit(_model(), data, None, _cfg(epochs=2), str(tmp_path), callbacks=[batches])
    assert len(rows) == 2 and counted == [0, 1, 2, 3] * 2
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]


def test_layer_rates_freeze_then_scale_each_group():
    # Two groups under a head: "a" (group 1) waits one epoch, then steps at
    # half the rate; the head trains from the start at the full rate.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="a"),
                              keras.layers.Dense(1, name="b")])
    cfg = TrainConfig(learning_rate=0.01, weight_decay=0.1, clipnorm=0.0)
    opt = training.make_optimizer(cfg, groups=[model.get_layer("b").trainable_variables,
                                               model.get_layer("a").trainable_variables])
    model.compile(optimizer=opt, loss="mse")
    x = np.random.default_rng(0).random((8, 3), dtype="float32")
    y = np.random.default_rng(1).random((8, 1), dtype="float32")
    rates = training.LayerRates(factor=2.0, unfreeze_epochs=1)
    a0, b0 = model.get_layer("a").get_weights(), model.get_layer("b").get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[rates])
    a1, b1 = model.get_layer("a").get_weights(), model.get_layer("b").get_weights()
    for before, after in zip(a0, a1):
        np.testing.assert_array_equal(before, after)  # frozen: no step, no decay
    # Adam's first step moves every weight by about the rate (here 0.01).
    assert np.abs(b1[0] - b0[0]).max() == pytest.approx(0.01, rel=0.15)
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0, callbacks=[rates])
    step = np.abs(model.get_layer("a").get_weights()[0] - a1[0]).max()
    assert step == pytest.approx(0.005, rel=0.15)
    assert opt.group_scales.numpy().tolist() == [1.0, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"LayerRates: factor must be >= 1; got 0.5"):
        training.LayerRates(factor=0.5)
    # Fixed multipliers on top of the schedule (0 keeps a group frozen).
    fixed = training.LayerRates(factor=2.0, unfreeze_epochs=0, multipliers=[1.0, 1.0, 0.0])
    assert fixed.scales(3, 3) == [1.0, 0.5, 0.0]
    with pytest.raises(ValueError, match=r"LayerRates: multipliers must be >= 0; got "
                                         r"\[1.0, -1.0\]"):
        training.LayerRates(multipliers=[1.0, -1.0])
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    plain.compile(optimizer=training.make_optimizer(cfg), loss="mse")
    with pytest.raises(TypeError, match=r"LayerRates needs an optimizer from "
                                        r"make_optimizer\(groups=...\); got AdamW"):
        plain.fit(x, y, epochs=1, verbose=0, callbacks=[rates])


def _ema_model(ema=0.9):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=training.make_optimizer(TrainConfig(learning_rate=0.05, ema=ema)),
                  loss="mse")
    return model


def test_ema_validates_checkpoints_and_ends_with_the_averaged_weights(tmp_path):
    run = training.RunDir(tmp_path / "run")
    train, val = _data(), _data(32, seed=1)
    model = _ema_model()
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.9
    rows = training.fit(model, train, val, _cfg(epochs=3, ema=0.9), run)
    best = json.loads(open(run.best_record).read())
    assert best["epoch"] == _argmin_epoch(rows) == 3
    # val_loss was measured on the averaged weights, and they are what the
    # best checkpoint and the model hold; the backup holds the raw ones.
    _assert_same(_weights(model), _weights_of_file(run.best_weights, _ema_model))
    np.testing.assert_allclose(model.evaluate(val, verbose=0), best["value"], rtol=1e-5)
    raw = _weights_of_file(os.path.join(run.backup, "latest.weights.h5"), _ema_model)
    assert not all(np.allclose(a, b) for a, b in zip(_weights(model), raw))

    # Killed after epoch 3's backup, before its best checkpoint: the resume
    # ranks epoch 3 by the average too (from the backed-up optimizer).
    with open(run.best_record, "w") as f:
        json.dump({"epoch": 2, "monitor": "val_loss", "value": rows[1]["val_loss"]}, f)
    os.remove(run.best_weights)
    resumed = _ema_model()
    training.fit(resumed, train, val, _cfg(epochs=3, ema=0.9), run)
    assert json.loads(open(run.best_record).read())["epoch"] == 3
    _assert_same(_weights(resumed), _weights(model))
    with pytest.raises(Exception, match=r"'train.ema' must be in \[0, 1\); got 1.0"):
        TrainConfig(ema=1.0).validate()


class _Rates(keras.callbacks.Callback):
    """Records the learning rate each epoch trains at."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_learning_rate_holds_then_decays_and_resumes_on_schedule(tmp_path):
    run = training.RunDir(tmp_path / "run")
    rates = _Rates()
    cfg = _cfg(epochs=4, learning_rate=0.1, lr_decay=0.5, lr_hold_epochs=2)
    training.fit(_model(lr=0.1), _data(), _data(32, seed=1), cfg, run, callbacks=[rates])
    np.testing.assert_allclose(rates.rates, [0.1, 0.1, 0.1, 0.05], rtol=1e-6)
    # A longer rerun of the same run resumes at epoch 4 on the same schedule.
    more = _Rates()
    training.fit(_model(lr=0.1), _data(), _data(32, seed=1),
                 _cfg(epochs=6, learning_rate=0.1, lr_decay=0.5, lr_hold_epochs=2), run,
                 callbacks=[more])
    np.testing.assert_allclose(more.rates, [0.025, 0.0125], rtol=1e-6)
    with pytest.raises(ValueError, match=r"'train.lr_hold_epochs' must be >= 0; got -1\."):
        _cfg(lr_hold_epochs=-1).validate()
