"""Training glue around `model.fit`: run directory, seeds, callbacks, resume.

A run lives in one directory::

    runs/<domain>/<name>/
        config.yaml      the resolved config of the run
        checkpoints/     backup/ (resume state), best.weights.h5 (+ best.json)
        logs/            TensorBoard
        history.csv      one row per finished epoch, across restarts (epochs
                         counted from 1, as Keras prints them)
        metrics.json     evaluation results
        model/           the saved pipeline (written by the domain)
        export/          the SavedModel

Starting the same command again after a crash or a SIGKILL resumes after the
last finished epoch: no finished epoch is lost and none is repeated.
"""

import contextlib
import csv
import json
import logging
import math
import os
import shutil
import tempfile
import warnings

import keras
import tensorflow as tf
import yaml

from pipelines import distribute
from pipelines.files import atomic_write_text, read_json, update_json, write_table

log = logging.getLogger(__name__)

# Config fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("train.epochs", "train.verbose", "train.tensorboard")


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; the last finished epoch is kept."""


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
    info = property(lambda self: self._join("run.json"))
    sample = property(lambda self: self._join("export_sample.npz"))

    def record(self, **facts):
        """Adds `facts` (the data directory, ...) to the run's `run.json`,
        which `evaluate`/`export`/`predict` on the run read back."""
        return update_json(self.info, facts)

    def recorded(self):
        return read_json(self.info)

    def recorded_data_dir(self):
        """The data directory the run was trained with (None if unknown)."""
        return self.recorded().get("data_dir")

    def trained_model(self, domain):
        """The path of the model this run saved; one clear error naming the
        run and the command to run first if it has none."""
        if not os.path.exists(self.model):
            raise FileNotFoundError(
                f"No trained model in {self.path} (expected {self.model}); run "
                f"`pipelines train {domain}` with this --run-dir first.")
        return self.model

    def prepare(self, config_dict, resumable=()):
        """Creates the directory and saves the config; on a resumed run,
        checks that the config is the same one (but for `RESUMABLE_CHANGES`
        and the fields `resumable` names: what only acts after training)."""
        os.makedirs(self.checkpoints, exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)
        text = yaml.safe_dump(config_dict, sort_keys=False)
        # Compare the config as it reads back from YAML (tuples become lists).
        config_dict = yaml.safe_load(text) or {}
        if os.path.exists(self.config):
            with open(self.config) as f:
                old = yaml.safe_load(f) or {}
            changed = config_changes(old, config_dict,
                                     lambda k: k in RESUMABLE_CHANGES or k in resumable)
            if changed and os.path.exists(self.backup):
                details = describe_changes(old, config_dict, changed)
                raise ValueError(
                    f"Run directory {self.path} holds a run (finished or not) trained "
                    f"with a different config ({details}). Run it with the same config "
                    "(it resumes, or does nothing if it finished), or choose another "
                    "--run-dir."
                )
        atomic_write_text(self.config, text)

    def write_metrics(self, metrics):
        """Merges `metrics` into metrics.json; returns all of it."""
        return update_json(self.metrics, metrics)

    def read_metrics(self):
        return read_json(self.metrics)

    def read_history(self):
        """Returns the rows of history.csv as a list of dicts of floats.

        A value an epoch did not log (say `val_loss` with `validation_freq=2`)
        is left out of that epoch's dict.
        """
        if not os.path.exists(self.history):
            return []
        with open(self.history, newline="") as f:
            rows = list(csv.DictReader(f))
        return [
            {
                k: (int(v) if k in ("epoch", "member") else float(v))
                for k, v in r.items()
                if k is not None and v not in (None, "")
            }
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


def config_changes(old, new, ignore=lambda key: False):
    """The dotted keys (`train.epochs`) whose values differ between two
    config dicts, sorted, but for those `ignore(key)` accepts."""
    return [k for k in _diff_keys(old, new) if not ignore(k)]


def describe_changes(old, new, keys, limit=5):
    """`"model.units: 32 -> 8; ..."` for the first `limit` of `keys`."""
    return "; ".join(f"{k}: {_get(old, k)!r} -> {_get(new, k)!r}" for k in keys[:limit])


def _finite(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


# Keras keeps two things this runner needs only in private attributes; each
# is read or written here alone, and tests/pipelines/test_training.py pins
# their behaviour on the installed Keras version.

def resumed_epoch(model):
    """The epoch `fit` starts at, as set by `BackupAndRestore` (0 if none).
    Keras keeps it in `model._initial_epoch`."""
    return int(getattr(model, "_initial_epoch", None) or 0)


def set_resumed_epoch(model, epoch):
    """Makes the next `fit` start at `epoch` (None: at its `initial_epoch`
    argument); `fit` reads `model._initial_epoch` after the callbacks'
    `on_train_begin`."""
    model._initial_epoch = epoch


def resolve_monitor_mode(callback):
    """Sets `callback.monitor_op` (an `EarlyStopping` or a subclass) from its
    metric's name and direction, as Keras does at the first epoch end
    (`_set_monitor_op`). Raises ValueError while the model's metrics are
    not built yet."""
    callback._set_monitor_op()


def lower_is_better(model, monitor):
    """True when a lower `monitor` is better, by Keras's own rule (the rule
    `EarlyStopping` applies); ValueError while the metrics are not built."""
    probe = keras.callbacks.EarlyStopping(monitor=monitor, min_delta=1.0)
    probe.set_model(model)
    resolve_monitor_mode(probe)
    return probe.min_delta < 0


@contextlib.contextmanager
def run_directory(path=None, prefix="run"):
    """Yields the `RunDir` at `path`, or a temporary one (removed at the end)
    when `path` is None, for a `fit` called without a run directory."""
    temp = None
    if path is None:
        path = temp = tempfile.mkdtemp(prefix=f"{prefix}-")
    try:
        yield path if isinstance(path, RunDir) else RunDir(path)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


class ResumableRun(keras.callbacks.BackupAndRestore):
    """BackupAndRestore plus the epoch history and a NaN guard, in one place.

    Putting the three together fixes their order at the end of an epoch:
    the history row is written first, then the backup. A kill between the
    two repeats that epoch on restart, and the row written for the repeated
    epoch replaces the stale one; a kill can never leave an epoch finished
    without its row. A NaN or infinite loss stops training before the
    poisoned weights are backed up.

    It must be the first callback: the others read the epoch it resumes at
    (and the history it trims) in their `on_train_begin`.
    """

    def __init__(self, run_dir):
        super().__init__(
            backup_dir=run_dir.backup, double_checkpoint=True, delete_checkpoint=False
        )
        self.run_dir = run_dir
        self.diverged_at = None
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        # Keras never resets `_initial_epoch`: a model object fitted before
        # would otherwise start at the epoch of an earlier backup. Only this
        # run's backup may set it.
        set_resumed_epoch(self.model, None)
        self.diverged_at = None
        super().on_train_begin(logs)
        self.initial_epoch = resumed_epoch(self.model)
        # Drop rows of epochs that will run again (killed after the row was
        # written but before the backup).
        # history.csv counts epochs from 1, as Keras prints them; Keras's own
        # epoch indices (callbacks, initial epoch) count from 0.
        rows = [r for r in self.run_dir.read_history() if r["epoch"] <= self.initial_epoch]
        self._write_rows(rows)
        if self.initial_epoch:
            log.info("Resuming %s after epoch %d", self.run_dir.path, self.initial_epoch)

    def _write_rows(self, rows):
        write_table(self.run_dir.history, rows)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
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
        if not all(_finite(v) for v in logs.values()):
            self.diverged_at = (epoch, None)
            self.model.stop_training = True
            return
        if "learning_rate" not in logs:
            try:
                logs["learning_rate"] = float(
                    keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
                )
            except Exception:  # pragma: no cover - optimizers without a scalar lr
                pass
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in sorted(logs.items())})
        rows = [r for r in self.run_dir.read_history() if r["epoch"] <= epoch]
        self._write_rows(rows + [row])
        super().on_epoch_end(epoch, logs)


# Metric names (or parts of them) where a higher value is better.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou", "r2")


@contextlib.contextmanager
def averaged_weights(model):
    """Puts the optimizer's moving average of the weights (`use_ema`, from
    `train.ema`) into `model` for the duration, then the raw weights back;
    a no-op for an optimizer without one."""
    optimizer = getattr(model, "optimizer", None)
    average = (getattr(optimizer, "_model_variables_moving_average", None)
               if getattr(optimizer, "use_ema", False) else None)
    if not average:
        yield
        return
    variables = model.trainable_variables
    raw = [v.numpy() for v in variables]
    for v in variables:
        v.assign(average[optimizer._get_variable_index(v)])
    try:
        yield
    finally:
        for v, value in zip(variables, raw):
            v.assign(value)


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best epoch (lowest `monitor`), across restarts.

    Unlike `ModelCheckpoint`, the best value is stored beside the weights, so
    a resumed run does not overwrite a better checkpoint with a worse one.

    `mode` is "min", "max" or "auto" (from the metric, as `EarlyStopping`
    does: lowest for losses and errors, highest for accuracies). Epochs
    without `monitor` (no validation, or `validation_freq` > 1) are ranked by
    the training `loss` only until the first epoch that has `monitor`.

    It must come after `ResumableRun`: on a resumed run it checks that the
    last finished epoch was ranked (a kill can land between the backup and
    this callback), using the weights the backup restored.
    """

    def __init__(self, run_dir, monitor="val_loss", mode="auto"):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}.")
        self.run_dir = run_dir
        self.monitor = monitor
        self.mode = mode
        self._lower = None

    def best(self):
        if not os.path.exists(self.run_dir.best_record):
            return None
        with open(self.run_dir.best_record) as f:
            return json.load(f)

    def _lower_is_better(self, key):
        if key != self.monitor:
            return True  # the `loss` fallback
        if self._lower is None:
            if self.mode != "auto":
                self._lower = self.mode == "min"
            else:
                # Keras's own rule (metric name and direction), as EarlyStopping.
                try:
                    self._lower = lower_is_better(self.model, self.monitor)
                except ValueError:
                    # The metrics are not built yet (before the first epoch
                    # of a fresh model): go by the name, and ask again later.
                    name = self.monitor.removeprefix("val_").lower()
                    return not any(h in name for h in _HIGHER_IS_BETTER)
        return self._lower

    def _ranked_value(self, logs):
        logs = logs or {}
        if not all(_finite(v) for v in logs.values()):
            return None, None  # a diverged epoch is never the best
        for key in (self.monitor, "loss"):
            if logs.get(key) is not None:
                return key, float(logs[key])
        return None, None

    def _improves(self, key, value, record):
        if record is None:
            return True
        if record.get("monitor", self.monitor) != key:
            # A record ranked by the `loss` fallback gives way to the first
            # epoch that has `monitor`; the reverse is never compared.
            return key == self.monitor
        if self._lower_is_better(key):
            return value < record["value"]
        return value > record["value"]

    def _consider(self, epoch, logs):
        key, value = self._ranked_value(logs)
        if key is None or not self._improves(key, value, self.best()):
            return
        tmp = os.path.join(self.run_dir.checkpoints, ".tmp-best.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, self.run_dir.best_weights)
        atomic_write_text(
            self.run_dir.best_record,
            json.dumps({"epoch": epoch + 1, "monitor": key, "value": value}),
        )

    def on_train_begin(self, logs=None):
        last = resumed_epoch(self.model) - 1
        if last < 0:
            return
        record = self.best()
        if record is not None and record.get("epoch") == last + 1:
            return
        rows = [r for r in self.run_dir.read_history() if r["epoch"] == last + 1]
        if rows:
            # The model holds the weights of epoch `last` (from the backup);
            # with `train.ema` its row was measured on their average, which
            # the backed-up optimizer holds.
            with averaged_weights(self.model):
                self._consider(last, rows[-1])

    def on_epoch_end(self, epoch, logs=None):
        self._consider(epoch, logs)


class _ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose patience counts the epochs of earlier runs too.

    Its state is rebuilt from history.csv on a resumed run, so an interrupted
    run stops at the same epoch as an uninterrupted one, and starting a run
    that already stopped early trains no further.
    """

    def __init__(self, run_dir, **kwargs):
        super().__init__(**kwargs)
        self.run_dir = run_dir

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        initial = resumed_epoch(self.model)
        rows = [r for r in self.run_dir.read_history() if r["epoch"] <= initial]
        if not rows:
            return
        if self.monitor_op is None:
            resolve_monitor_mode(self)
        stopped = False
        for row in rows:
            current = row.get(self.monitor)
            index = row["epoch"] - 1  # Keras's epoch index
            if current is None or index < self.start_from_epoch:
                continue
            self.wait += 1
            if self._is_improvement(current, self.best):
                self.best, self.best_epoch, stopped = current, index, False
                if self.baseline is None or self._is_improvement(current, self.baseline):
                    self.wait = 0
                continue
            stopped = self.wait >= self.patience and index > 0
        if stopped:
            log.info("%s already stopped early after epoch %d", self.run_dir.path, initial)
            epochs = int((self.params or {}).get("epochs", initial))
            # `fit` reads `_initial_epoch` after on_train_begin: no epoch runs.
            set_resumed_epoch(self.model, max(initial, epochs))


def make_optimizer(train_config, groups=None):
    """Adam (or AdamW with weight decay) with gradient clipping.

    Args:
        train_config: the run's `TrainConfig`.
        groups: optional lists of variables, one list per group, whose
            learning rates are scaled group by group (see `LayerRates`);
            variables in no list train at the full rate.
    """
    kwargs = {"learning_rate": train_config.learning_rate}
    if train_config.ema:
        # Keras keeps the average in the optimizer (so a backup resumes it);
        # `make_callbacks` swaps it in for validation and the best checkpoint.
        kwargs.update(use_ema=True, ema_momentum=train_config.ema)
    if train_config.clipnorm:
        kwargs["clipnorm"] = train_config.clipnorm
    base = keras.optimizers.AdamW if train_config.weight_decay else keras.optimizers.Adam
    if train_config.weight_decay:
        kwargs["weight_decay"] = train_config.weight_decay
    if groups is None:
        return base(**kwargs)
    scaled = GroupScaledAdamW if base is keras.optimizers.AdamW else GroupScaledAdam
    return scaled(groups, **kwargs)


def _group_scaled(base):
    """`base` (a Keras Adam/AdamW class) whose step, and weight decay, for a
    variable of group g is taken at `learning_rate * scales[g]`; `scales`
    (one float per group, 1 at first) is an optimizer variable, so it is
    checkpointed with the moments and set each epoch by `LayerRates`.
    Scaling the gradient instead would do nothing for Adam, whose step does
    not depend on the gradient's scale; a scale of 0 freezes a group exactly
    (its moments still follow its gradients, so it resumes warm)."""

    class GroupScaled(base):
        def __init__(self, groups=(), **kwargs):
            super().__init__(**kwargs)
            self._group_keys = [[id(v) for v in group] for group in groups]
            self.group_count = len(groups)

        @classmethod
        def from_config(cls, config, custom_objects=None):
            # The groups are variables of the model it trained; a reloaded
            # model (saved with its compile config) gets the plain optimizer.
            return base.from_config(config)

        def build(self, var_list):
            super().build(var_list)
            group_of = {}
            for g, keys in enumerate(self._group_keys):
                for key in keys:
                    group_of[key] = g
            # A variable in no group trains at the full rate: index `groups`.
            self._group_index = [group_of.get(id(v), self.group_count) for v in var_list]
            self.group_scales = self.add_variable((self.group_count + 1,),
                                                  initializer="ones", name="group_scales")

        def _scale(self, variable):
            return self.group_scales[self._group_index[self._get_variable_index(variable)]]

        def update_step(self, gradient, variable, learning_rate):
            scale = tf.cast(self._scale(variable), learning_rate.dtype)
            return super().update_step(gradient, variable, learning_rate * scale)

        def _apply_weight_decay(self, variables):
            # As the TensorFlow optimizer's, with the group's scale.
            if self.weight_decay is None:
                return

            def apply(distribution, variables):
                def decay(variable, rate):
                    variable.assign_sub(variable * tf.cast(rate, variable.dtype))

                for variable in variables:
                    if not self._use_weight_decay(variable):
                        continue
                    rate = self.learning_rate * self.weight_decay * self._scale(variable)
                    if isinstance(variable, keras.Variable):
                        variable = variable.value
                    distribution.extended.update(variable, decay, args=(rate,), group=False)

            tf.__internal__.distribute.interim.maybe_merge_call(
                apply, self._distribution_strategy, variables)

    GroupScaled.__name__ = GroupScaled.__qualname__ = f"GroupScaled{base.__name__}"
    return keras.saving.register_keras_serializable(package="pipelines")(GroupScaled)


GroupScaledAdam = _group_scaled(keras.optimizers.Adam)
GroupScaledAdamW = _group_scaled(keras.optimizers.AdamW)


class LayerRates(keras.callbacks.Callback):
    """Discriminative learning rates and gradual unfreezing (Howard and
    Ruder, ULMFiT, 2018) for an optimizer from `make_optimizer(groups=...)`.

    Groups are ordered from the top of the network (new layers) down to the
    bottom (pretrained embeddings). Group g trains at `factor**-g` times the
    learning rate in force; with `unfreeze_epochs = u > 0`, group g is
    frozen (rate 0) until epoch `g * u` (counted from 0): the new layers
    first learn on their own, then each pretrained group joins in turn. The
    rates are a function of the absolute epoch, so a resumed run gets the
    same ones.

    Args:
        factor: ratio of the rates of consecutive groups (>= 1; ULMFiT: 2.6).
        unfreeze_epochs: epochs between one group joining and the next
            (0: every group trains from the first epoch).
        multipliers: optional fixed factor per group (from the top), applied
            on top of the schedule (0 keeps a group frozen throughout).

    Example:

    >>> LayerRates(2.0, 1).scales(0, 3), LayerRates(2.0, 1).scales(5, 3)
    ([1.0, 0.0, 0.0], [1.0, 0.5, 0.25])
    """

    def __init__(self, factor=2.6, unfreeze_epochs=1, multipliers=None):
        super().__init__()
        if not factor >= 1:
            raise ValueError(f"LayerRates: factor must be >= 1; got {factor!r}.")
        if not (isinstance(unfreeze_epochs, int) and unfreeze_epochs >= 0):
            raise ValueError("LayerRates: unfreeze_epochs must be an integer >= 0; got "
                             f"{unfreeze_epochs!r}.")
        if multipliers is not None and not all(m >= 0 for m in multipliers):
            raise ValueError("LayerRates: multipliers must be >= 0; got "
                             f"{list(multipliers)!r}.")
        self.multipliers = None if multipliers is None else [float(m) for m in multipliers]
        self.factor = float(factor)
        self.unfreeze_epochs = unfreeze_epochs

    def scales(self, epoch, groups):
        """The rate multiplier of each of `groups` groups in `epoch`."""
        scales = [0.0 if epoch < g * self.unfreeze_epochs else self.factor ** -g
                  for g in range(groups)]
        if self.multipliers is not None:
            scales = [s * (self.multipliers[g] if g < len(self.multipliers) else 1.0)
                      for g, s in enumerate(scales)]
        return scales

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "group_count"):
            raise TypeError("LayerRates needs an optimizer from make_optimizer(groups=...); "
                            f"got {type(optimizer).__name__}.")
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        optimizer.group_scales.assign(self.scales(epoch, optimizer.group_count) + [1.0])


def make_callbacks(run_dir, train_config, monitor="val_loss", extra=()):
    """The standard callbacks, in the order they must run."""
    callbacks = [ResumableRun(run_dir)]
    if train_config.ema:
        # After the backup (which must hold the raw weights the next epoch
        # steps from, with the average in the optimizer) and before the best
        # checkpoint and early stopping: validation and the best epoch's
        # weights are the averaged ones.
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(BestCheckpoint(run_dir, monitor))
    if train_config.lr_decay != 1.0:
        base, decay = train_config.learning_rate, train_config.lr_decay
        hold = train_config.lr_hold_epochs
        # The schedule is a function of the absolute epoch, so it is the same
        # whether or not the run was resumed.
        callbacks.append(
            keras.callbacks.LearningRateScheduler(
                lambda e: base * decay ** max(0, e - hold))
        )
    if train_config.patience:
        callbacks.append(
            _ResumableEarlyStopping(
                run_dir, monitor=monitor, patience=train_config.patience
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

    At the end the best epoch's weights are loaded back into `model`. Without
    validation data a `val_*` monitor falls back to the training metric.

    Returns:
        The list of history rows (one dict per finished epoch, all restarts).

    Raises:
        TrainingDivergedError: when the loss became NaN or infinite.
    """
    if not isinstance(run_dir, RunDir):
        run_dir = RunDir(run_dir)
    if not distribute.is_chief():
        # Non-chief workers write their (identical) state somewhere private.
        kind, index = distribute.task()
        run_dir = RunDir(os.path.join(run_dir.path, "workers", f"{kind}-{index}"))
        os.makedirs(run_dir.checkpoints, exist_ok=True)
    if (
        val_data is None
        and not fit_kwargs.get("validation_split")
        and monitor.startswith("val_")
    ):
        # Otherwise EarlyStopping would never stop (it only warns).
        monitor = monitor[len("val_"):]
    cbs = make_callbacks(run_dir, train_config, monitor, callbacks)
    if isinstance(train_data, tf.data.Dataset):
        # A dataset shuffles itself; Keras would only warn about the flag.
        fit_kwargs.setdefault("shuffle", False)
    with warnings.catch_warnings():
        if "steps_per_epoch" not in fit_kwargs:
            # A dataset of unknown length (bucketed, filtered) ends its first
            # epoch by running out, which Keras reports as if steps were
            # lost; with no steps_per_epoch nothing is.
            warnings.filterwarnings("ignore", message="Your input ran out of data",
                                    category=UserWarning)
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
        # 1-based, as in the progress bar ("Epoch 3/10", "4/8").
        where = (
            f"in epoch {epoch + 1}, batch {batch + 1}"
            if batch is not None
            else f"at the end of epoch {epoch + 1}"
        )
        kept = (
            f"The last finished epoch ({epoch}) is kept in {run_dir.checkpoints} "
            f"and {run_dir.history}"
            if epoch
            else "No epoch finished"
        )
        raise TrainingDivergedError(
            f"Training diverged: the loss became NaN or infinite {where}. "
            f"{kept}; lower train.learning_rate or train.clipnorm, or check "
            "the data for NaN."
        )
    history = run_dir.read_history()
    stopper = next((c for c in cbs if isinstance(c, _ResumableEarlyStopping)), None)
    if stopper is not None and history and len(history) < train_config.epochs:
        log.info("Early stopping after epoch %d of %d: %s did not improve for %d epochs.",
                 history[-1]["epoch"], train_config.epochs, stopper.monitor,
                 stopper.patience)
    best = next(c for c in cbs if isinstance(c, BestCheckpoint)).best()
    if os.path.exists(run_dir.best_weights):
        model.load_weights(run_dir.best_weights)
        if best is not None:
            log.info("Restored the weights of the best epoch, %d (%s = %.6g), from %s.",
                     best["epoch"], best["monitor"], best["value"],
                     run_dir.best_weights)
    return history
