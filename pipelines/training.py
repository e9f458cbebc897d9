"""Training glue around `model.fit`: run directory, seeds, callbacks, resume.

A run lives in one directory::

    runs/<domain>/<name>/
        config.yaml      the resolved config of the run
        checkpoints/     backup/ (resume state), best.weights.h5 (+ best.json)
        logs/            TensorBoard
        history.csv      one row per finished epoch, across restarts
        metrics.json     evaluation results
        model/           the saved pipeline (written by the domain)
        export/          the SavedModel

Starting the same command again after a crash or a SIGKILL resumes after the
last finished epoch: no finished epoch is lost and none is repeated.
"""

import csv
import json
import logging
import math
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
import yaml

from pipelines import distribute

log = logging.getLogger(__name__)

# Config fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("train.epochs", "train.verbose", "train.tensorboard")


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; the last finished epoch is kept."""


def atomic_write_text(path, text):
    """Writes `text` to `path` so that a reader never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def seed_everything(seed):
    """Seeds Python, NumPy and TensorFlow (through Keras)."""
    keras.utils.set_random_seed(int(seed))


class RunDir:
    """Paths of one run directory (see the module docstring)."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))

    def _join(self, *parts):
        return os.path.join(self.path, *parts)

    config = property(lambda self: self._join("config.yaml"))
    checkpoints = property(lambda self: self._join("checkpoints"))
    backup = property(lambda self: self._join("checkpoints", "backup"))
    best_weights = property(lambda self: self._join("checkpoints", "best.weights.h5"))
    best_record = property(lambda self: self._join("checkpoints", "best.json"))
    logs = property(lambda self: self._join("logs"))
    history = property(lambda self: self._join("history.csv"))
    metrics = property(lambda self: self._join("metrics.json"))
    model = property(lambda self: self._join("model"))
    export = property(lambda self: self._join("export"))

    def prepare(self, config_dict):
        """Creates the directory and saves the config; on a resumed run,
        checks that the config is the same one (but for `RESUMABLE_CHANGES`)."""
        os.makedirs(self.checkpoints, exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)
        if os.path.exists(self.config):
            with open(self.config) as f:
                old = yaml.safe_load(f) or {}
            changed = [
                key
                for key in _diff_keys(old, config_dict)
                if key not in RESUMABLE_CHANGES
            ]
            if changed and os.path.exists(self.backup):
                details = "; ".join(
                    f"{k}: {_get(old, k)!r} -> {_get(config_dict, k)!r}"
                    for k in changed[:5]
                )
                raise ValueError(
                    f"Run directory {self.path} holds an unfinished run with a "
                    f"different config ({details}). Resume it with the same "
                    "config, or choose another --run-dir."
                )
        atomic_write_text(self.config, yaml.safe_dump(config_dict, sort_keys=False))

    def write_metrics(self, metrics):
        current = self.read_metrics()
        current.update(metrics)
        atomic_write_text(self.metrics, json.dumps(_jsonable(current), indent=2))
        return current

    def read_metrics(self):
        if not os.path.exists(self.metrics):
            return {}
        with open(self.metrics) as f:
            return json.load(f)

    def read_history(self):
        """Returns the rows of history.csv as a list of dicts of floats."""
        if not os.path.exists(self.history):
            return []
        with open(self.history) as f:
            rows = list(csv.DictReader(f))
        return [
            {k: (int(v) if k == "epoch" else float(v)) for k, v in r.items()}
            for r in rows
        ]


def _flatten(tree, prefix=""):
    out = {}
    for k, v in (tree or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _diff_keys(a, b):
    fa, fb = _flatten(a), _flatten(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def _get(tree, dotted):
    return _flatten(tree).get(dotted)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


class ResumableRun(keras.callbacks.BackupAndRestore):
    """BackupAndRestore plus the epoch history and a NaN guard, in one place.

    Putting the three together fixes their order at the end of an epoch:
    the history row is written first, then the backup. A kill between the
    two repeats that epoch on restart, and the row written for the repeated
    epoch replaces the stale one; a kill can never leave an epoch finished
    without its row. A NaN or infinite loss stops training before the
    poisoned weights are backed up.
    """

    def __init__(self, run_dir):
        super().__init__(
            backup_dir=run_dir.backup, double_checkpoint=True, delete_checkpoint=False
        )
        self.run_dir = run_dir
        self.diverged_at = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.initial_epoch = int(getattr(self.model, "_initial_epoch", 0) or 0)
        # Drop rows of epochs that will run again (killed after the row was
        # written but before the backup).
        rows = [r for r in self.run_dir.read_history() if r["epoch"] < self.initial_epoch]
        self._write_rows(rows)
        if self.initial_epoch:
            log.info("Resuming %s after epoch %d", self.run_dir.path, self.initial_epoch)

    def _write_rows(self, rows):
        if not rows:
            if os.path.exists(self.run_dir.history):
                os.remove(self.run_dir.history)
            return
        keys = list(rows[0].keys())
        for r in rows[1:]:
            keys += [k for k in r if k not in keys]
        lines = [",".join(keys)]
        for r in rows:
            lines.append(",".join(repr(r.get(k, "")) if k != "epoch" else str(r[k]) for k in keys))
        atomic_write_text(self.run_dir.history, "\n".join(lines) + "\n")

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = (self._current_epoch, batch)
            self.model.stop_training = True
            return
        super().on_train_batch_end(batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged_at is not None:
            return
        logs = dict(logs or {})
        if not all(math.isfinite(float(v)) for v in logs.values()):
            self.diverged_at = (epoch, "end")
            self.model.stop_training = True
            return
        if "learning_rate" not in logs:
            try:
                logs["learning_rate"] = float(
                    keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
                )
            except Exception:  # pragma: no cover - optimizers without a scalar lr
                pass
        row = {"epoch": epoch}
        row.update({k: float(v) for k, v in sorted(logs.items())})
        rows = [r for r in self.run_dir.read_history() if r["epoch"] < epoch]
        self._write_rows(rows + [row])
        super().on_epoch_end(epoch, logs)


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best epoch (lowest `monitor`), across restarts.

    Unlike `ModelCheckpoint`, the best value is stored beside the weights, so
    a resumed run does not overwrite a better checkpoint with a worse one.
    """

    def __init__(self, run_dir, monitor="val_loss"):
        super().__init__()
        self.run_dir = run_dir
        self.monitor = monitor

    def best(self):
        if not os.path.exists(self.run_dir.best_record):
            return None
        with open(self.run_dir.best_record) as f:
            return json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            value = (logs or {}).get("loss")
        if value is None or not math.isfinite(float(value)):
            return
        record = self.best()
        if record is not None and float(value) >= record["value"]:
            return
        tmp = os.path.join(self.run_dir.checkpoints, ".tmp-best.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, self.run_dir.best_weights)
        atomic_write_text(
            self.run_dir.best_record,
            json.dumps({"epoch": epoch, "monitor": self.monitor, "value": float(value)}),
        )


def make_optimizer(train_config):
    """Adam (or AdamW with weight decay) with gradient clipping."""
    kwargs = {"learning_rate": train_config.learning_rate}
    if train_config.clipnorm:
        kwargs["clipnorm"] = train_config.clipnorm
    if train_config.weight_decay:
        return keras.optimizers.AdamW(weight_decay=train_config.weight_decay, **kwargs)
    return keras.optimizers.Adam(**kwargs)


def make_callbacks(run_dir, train_config, monitor="val_loss", extra=()):
    """The standard callbacks, in the order they must run."""
    callbacks = [ResumableRun(run_dir), BestCheckpoint(run_dir, monitor)]
    if train_config.lr_decay != 1.0:
        base, decay = train_config.learning_rate, train_config.lr_decay
        # The schedule is a function of the absolute epoch, so it is the same
        # whether or not the run was resumed.
        callbacks.append(
            keras.callbacks.LearningRateScheduler(lambda e: base * decay**e)
        )
    if train_config.patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=train_config.patience
            )
        )
    if train_config.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(run_dir.logs, write_graph=False)
        )
    callbacks.extend(extra)
    return callbacks


def fit(model, train_data, val_data, train_config, run_dir, monitor="val_loss",
        callbacks=(), **fit_kwargs):
    """Trains a compiled `model` in `run_dir`, resuming if it was interrupted.

    At the end the best epoch's weights are loaded back into `model`.

    Returns:
        The list of history rows (one dict per finished epoch, all restarts).

    Raises:
        TrainingDivergedError: when the loss became NaN or infinite.
    """
    if not isinstance(run_dir, RunDir):
        run_dir = RunDir(run_dir)
    if not distribute.is_chief():
        # Non-chief workers write their (identical) state somewhere private.
        run_dir = RunDir(os.path.join(run_dir.path, "workers", _task_index()))
        os.makedirs(run_dir.checkpoints, exist_ok=True)
    cbs = make_callbacks(run_dir, train_config, monitor, callbacks)
    if isinstance(train_data, tf.data.Dataset):
        # A dataset shuffles itself; Keras would only warn about the flag.
        fit_kwargs.setdefault("shuffle", False)
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=train_config.epochs,
        callbacks=cbs,
        verbose=train_config.verbose,
        **fit_kwargs,
    )
    guard = cbs[0]
    if guard.diverged_at is not None:
        epoch, batch = guard.diverged_at
        raise TrainingDivergedError(
            f"Training diverged: the loss became NaN or infinite at epoch "
            f"{epoch + 1}, batch {batch}. The last finished epoch is kept in "
            f"{run_dir.checkpoints}; lower train.learning_rate or "
            "train.clipnorm, or check the data for NaN."
        )
    if os.path.exists(run_dir.best_weights):
        model.load_weights(run_dir.best_weights)
    return run_dir.read_history()


def _task_index():
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    return f"{task.get('type', 'worker')}-{task.get('index', 0)}"
