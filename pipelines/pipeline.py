"""`Pipeline`: what every user-facing pipeline shares, written once.

A domain pipeline (`Forecaster`, `SpeechRecognizer`, `Translator`,
`SentenceClassifier`, `Captioner`) subclasses `Pipeline` and fills in hooks;
the base owns the mechanisms:

- the constructor: a config object and/or keyword overrides of its fields
  (`SpeechRecognizer(units=16, epochs=2)`), validated;
- `fit`: seed, data, `tf.distribute` strategy and sharding, building and
  compiling under the strategy and the dtype policy, the run directory
  (a temporary one when none is given), `pipelines.training.fit` with resume;
- `save` / `load`: one atomically written folder (`model.keras`, a JSON state
  file, extra files such as tokenizers); the model's dtype policy is in its
  own config, so a mixed-precision pipeline reloads as it was saved;
- `export`: a verified SavedModel through `pipelines.export`, from the
  domain's endpoints, expected outputs and metadata;
- the cache of traced inference functions (one per beam width, ...), with a
  retry when a traced graph lost a resource (tokenizers);
- `_require_fitted`, the plotting preamble, and `predict` on every pipeline.

The hooks, in the order `fit` calls them::

    _split(train, val)            -> (train, val): the default hold-out
    _learn(train, **fit_kwargs)   scalers, tokenizers, vocabularies, labels
    _prepare(train, val)          -> data: what is made before the model
                                     (usually the datasets)
    _build_model()                -> the Keras model (inside strategy + policy)
    _initialize(model)            weights before training (default: none)
    _trained_model()              -> the model `fit` trains (default: the model)
    _optimizer(trained)           -> its optimizer (default: Adam(W), TrainConfig)
    _compile_args()               -> kwargs of `compile` (besides the optimizer)
    _callbacks()                  -> extra callbacks of `model.fit` (default: none)
    _datasets(data)               -> (train_ds, val_ds or None), made after the
                                     model (default: `data` itself)

and for persistence and export: `_state()` / `_restore(state, path)`,
`_files()`, `_endpoints(**options)`, `_export_sample(sample, **options)`,
`_export_metadata(**options)`, `_tracked()`.

Example (a complete pipeline in a few lines: a linear regressor):

>>> import dataclasses
>>> import numpy as np
>>> import tensorflow as tf
>>> from pipelines.config import Config, TrainConfig
>>> @dataclasses.dataclass
... class LinearConfig(Config):
...     name: str = "linear"
...     train: TrainConfig = dataclasses.field(
...         default_factory=lambda: TrainConfig(epochs=3, patience=0, verbose=0,
...                                             tensorboard=False, learning_rate=0.1))
>>> class Linear(Pipeline):
...     config_class = LinearConfig
...     def _build_model(self):
...         return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
...     def _compile_args(self):
...         return {"loss": "mse"}
...     def _prepare(self, train, val):
...         return tf.data.Dataset.from_tensor_slices(train).batch(8), None
...     def predict(self, x):
...         self._require_fitted()
...         return self.model.predict(x, verbose=0)
>>> x = np.linspace(-1, 1, 64, dtype="float32")[:, None]
>>> p = Linear(epochs=30).fit((x, 2 * x))
>>> float(np.abs(p.predict(x) - 2 * x).max()) < 0.1
True
"""

import dataclasses
import json
import logging
import os

import keras
import tensorflow as tf

from pipelines import distribute, export as export_lib, files, precision, training
from pipelines import shards as shards_lib

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"

# Sections searched for a keyword override, in this order; the others follow
# in the order the config declares them.
_OVERRIDE_ORDER = ("model", "train")


def config_with_overrides(config_class, config=None, overrides=None, owner="Pipeline"):
    """A `config_class` instance: `config` (default: the class defaults)
    with keyword `overrides` of its section fields applied and validated.

    A keyword names a field of a section (`units` is `model.units`, `epochs`
    is `train.epochs`); a name that several sections share goes to `model`,
    then `train`, then the others in the order the config declares them (use
    a config object for the rest).

    Raises:
        TypeError: for a config of another class, or a keyword that names no
            field (listing the fields there are).
        pipelines.config.ConfigError: for a value the field refuses.
    """
    if config is not None and not isinstance(config, config_class):
        raise TypeError(f"Argument `config` of {owner} must be a {config_class.__name__}; "
                        f"got config={type(config).__name__}.")
    config = config or config_class()
    sections = [f.name for f in dataclasses.fields(config)
                if dataclasses.is_dataclass(getattr(config, f.name))]
    sections = ([s for s in _OVERRIDE_ORDER if s in sections]
                + [s for s in sections if s not in _OVERRIDE_ORDER])
    fields = {s: {f.name for f in dataclasses.fields(getattr(config, s))} for s in sections}
    items, unknown = [], []
    for key, value in overrides.items():
        section = next((s for s in sections if key in fields[s]), None)
        if section is None:
            unknown.append(key)
        else:
            items.append(f"{section}.{key}={json.dumps(value)}")
    if unknown:
        known = "; ".join(f"{s} fields: {sorted(fields[s])}" for s in sections)
        raise TypeError(f"Unknown {owner} argument(s) {sorted(unknown)}; {known}.")
    # A copy even without overrides: the pipeline owns its config.
    return type(config).from_dict(config.to_dict(), items)


def signature_line(metadata):
    """`serve`'s inputs and outputs in one line, from the `inputs` and
    `outputs` of an export's metadata: what a caller must pass.

    Example:

    >>> signature_line({"inputs": {"history": {"dtype": "float32", "shape": [None, 96, 7]}},
    ...                 "outputs": {"forecast": {"dtype": "float32", "shape": [None, 24, 7]}}})
    'serve(history: float32 [batch, 96, 7]) -> {forecast: float32 [batch, 24, 7]}'
    """
    def spec(name, info):
        dims = ["batch" if i == 0 and d is None else ("any" if d is None else str(d))
                for i, d in enumerate(info.get("shape", []))]
        return f"{name}: {info.get('dtype')} [{', '.join(dims)}]"

    args = ", ".join(spec(k, v) for k, v in metadata["inputs"].items())
    outs = ", ".join(spec(k, v) for k, v in metadata["outputs"].items())
    return f"serve({args}) -> {{{outs}}}"


class Pipeline:
    """Base of the user-facing pipelines (see the module docstring).

    Args:
        config: an instance of the pipeline's `config_class` (default: its
            defaults).
        **overrides: fields of the config's sections to change
            (`units=32`, `epochs=2`, `beam_width=1`, ...).

    Attributes:
        config: the pipeline's config.
        model: the Keras model (None until `fit` or `load`).
        history: one dict per finished training epoch.
    """

    #: The config dataclass (a `pipelines.config.Config`).
    config_class = None
    #: Name of the JSON state file in a saved pipeline.
    state_file = "pipeline.json"
    #: `metadata.json`'s "pipeline" of an export.
    export_name = None
    #: Modules a fresh process imports before loading the export.
    export_imports = ()
    #: Keys of the function cache that survive `fit` (they do not depend on
    #: the model's weights).
    _kept_functions = ()
    #: The metric that picks the best epoch and stops early.
    monitor = "val_loss"
    #: Config fields that act only after training (calibration, decoding):
    #: a finished or interrupted run directory resumes with other values.
    resumable_changes = ()

    def __init__(self, config=None, **overrides):
        self.config = config_with_overrides(self.config_class, config, overrides,
                                            type(self).__name__)
        self.model = None
        self.history = []
        self._fns = {}

    # ------------------------------------------------------------------ fit
    def fit(self, train=None, val=None, run_dir=None, **kwargs):
        """Trains on `train` (validating on `val`); returns self.

        Args:
            train: the training data (what it is depends on the pipeline), or
                a `pipelines.shards.Split` of prepared shards; None trains on
                the shards of the config's `data.shards`.
            val: validation data; None holds out the pipeline's default
                share of `train` (for shards: their "val" split, if any).
            run_dir: run directory for checkpoints, history and resume after
                a kill; a temporary one (removed afterwards) if None.
            **kwargs: passed to the pipeline's `_learn` (e.g. `columns=`).
        """
        cfg = self.config
        # First: MultiWorkerMirroredStrategy must exist before any TensorFlow
        # op runs (datasets, tokenizer tables), or it cannot configure its
        # collective ops.
        strategy = distribute.get_strategy(cfg.train.strategy)
        if train is None:
            train, val = self._shard_splits(val)
        streamed = isinstance(train, shards_lib.Split)
        if streamed:
            train.shards.check(self.shard_domain, self._shard_fields())
            if val is None and train.shards.has("val"):
                val = train.shards.split("val")
        else:
            train, val = self._split(train, val)
        training.seed_everything(cfg.train.seed)
        # What the shard streams of this fit drop (`_drops`), said each epoch.
        self._stream_drops = []
        self._learn(train, **kwargs)
        data = self._prepare(train, val)
        with strategy.scope(), precision.policy_scope(cfg.train.precision):
            self.model = self._build_model()
            self._initialize(self.model)
            trained = self._trained_model()
            trained.compile(optimizer=self._optimizer(trained), **self._compile_args())
            # BackupAndRestore needs a built model and optimizer before fit.
            trained.optimizer.build(trained.trainable_variables)
        train_ds, val_ds = self._datasets(data)
        fit_kwargs = {}
        if cfg.train.strategy != "default":
            # Shards split between workers by file (`_stream` reads only this
            # worker's); other data by example.
            train_ds = distribute.shard_options(train_ds, self._file_shard(train) is not None)
            if val_ds is not None:
                val_ds = distribute.shard_options(val_ds, self._file_shard(val) is not None)
            if streamed and cfg.train.strategy == "multi_worker":
                # Workers' files hold different numbers of examples, but all
                # must take the same steps: a fixed count over a repeat.
                workers, batch = distribute.worker_count(), cfg.train.batch_size
                train_ds = train_ds.repeat()
                fit_kwargs["steps_per_epoch"] = shards_lib.steps_per_epoch(
                    train.examples, batch, workers)
                if val_ds is not None:
                    val_ds = val_ds.repeat()
                    fit_kwargs["validation_steps"] = shards_lib.steps_per_epoch(
                        val.examples, batch, workers)
        with training.run_directory(run_dir, type(self).__name__.lower()) as run:
            run.prepare(cfg.to_dict(), self.resumable_changes)
            callbacks = list(self._callbacks())
            if self._stream_drops:
                callbacks = callbacks + [shards_lib.drops_report(self._stream_drops)]
            self.history = training.fit(trained, train_ds, val_ds, cfg.train, run,
                                        monitor=self.monitor, callbacks=callbacks,
                                        **fit_kwargs)
        self._forget_functions()
        return self

    # -------------------------------------------------------------- shards
    #: The domain name `pipelines prepare` writes in the shards' index.
    shard_domain = None

    def _shard_fields(self):
        """Config values the shards must have been prepared with
        (`{"features.sample_rate": 8000}`)."""
        return {}

    def _shard_splits(self, val=None):
        """`(train, val)` Splits of the config's `data.shards`."""
        spec = getattr(getattr(self.config, "data", None), "shards", None)
        if not spec:
            raise ValueError(f"{type(self).__name__}.fit needs training data: pass it, or "
                             "set data.shards to a folder written by `pipelines prepare`.")
        shards = shards_lib.Shards.open(spec)
        return shards.split("train"), val

    def _stream(self, split, parse, training_mode):
        """The parsed elements of a shard `Split`: its records (interleaved
        files, the bounded shuffle of `data.shuffle_buffer` in training)
        through the domain's `parse(records)`."""
        cfg = self.config
        return parse(split.records(training=training_mode, seed=cfg.train.seed,
                                   shuffle_buffer=cfg.data.shuffle_buffer,
                                   shard=self._file_shard(split)))

    _stream_drops = ()

    def _drops(self, what, reason):
        """A `pipelines.shards.Drops` for a stream of this fit, reported
        after each epoch."""
        drops = shards_lib.Drops(what, reason)
        if isinstance(self._stream_drops, list):
            self._stream_drops.append(drops)
        return drops

    def _file_shard(self, split):
        """`(workers, ordinal)` when `split` is read by file across the
        workers of `multi_worker`, else None."""
        if (not isinstance(split, shards_lib.Split)
                or self.config.train.strategy != "multi_worker"):
            return None
        return distribute.worker_shard(len(split.files))

    def _split(self, train, val):
        return train, val

    def _learn(self, train, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}.fit got unexpected argument(s) "
                            f"{sorted(kwargs)}.")

    def _prepare(self, train, val):
        raise NotImplementedError

    def _build_model(self):
        raise NotImplementedError

    def _trained_model(self):
        return self.model

    def _compile_args(self):
        return {}

    def _initialize(self, model):
        """Sets weights of the freshly built `model` before training (from a
        pretrained network, say); a resumed run then restores its backup over
        them. Default: nothing."""

    def _optimizer(self, model):
        """The optimizer `model` trains with (default: `training.make_optimizer`)."""
        return training.make_optimizer(self.config.train)

    def _callbacks(self):
        """Callbacks of this pipeline's training, after the standard ones."""
        return ()

    def _datasets(self, data):
        return data

    def _require_fitted(self):
        if self.model is None:
            raise RuntimeError(
                f"This {type(self).__name__} is not fitted yet: call fit() or load().")

    # ----------------------------------------------------------- inference
    def predict(self, inputs, **kwargs):
        """The pipeline's answer for each input (the domain verb:
        `transcribe`, `translate`, `caption`, ...)."""
        raise NotImplementedError

    def _function(self, key, make):
        """The cached `make()` (a traced `tf.function`) under `key`."""
        if key not in self._fns:
            self._fns[key] = make()
        return self._fns[key]

    def _call_function(self, key, make, *args):
        """Calls the cached function `key` on `args`. A traced graph can lose
        a resource it captured (`tf.random.set_seed` deletes tokenizer
        resources): then `_renew_resources` renews them and the function is
        traced again, once."""
        try:
            return self._function(key, make)(*args)
        except tf.errors.NotFoundError:
            if not self._renew_resources():
                raise
            self._fns = {}
            return self._function(key, make)(*args)

    def _renew_resources(self):
        """Re-creates resources a traced graph may have lost; True if there
        were any (the call is then retried)."""
        return False

    def _forget_functions(self):
        self._fns = {k: v for k, v in self._fns.items() if k in self._kept_functions}

    @staticmethod
    def _pyplot():
        """matplotlib's pyplot, on the file-only "Agg" backend when there is
        no display (servers, CI), so plotting never needs a screen."""
        import matplotlib

        if not os.environ.get("DISPLAY"):
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        return plt

    # ------------------------------------------------------------ save/load
    def _state(self):
        """What the pipeline learned besides weights, as JSON (the config is
        added by `save`)."""
        return {}

    def _restore(self, state, path):
        """Sets what `_state` saved (and reads `_files`) from the folder
        `path`."""

    def _files(self):
        """Extra files of a saved pipeline: `{name: writer(path)}`."""
        return {}

    def save(self, path):
        """Saves the model, the config and what the pipeline learned to the
        folder `path`, atomically (a failure leaves the old folder, or
        none). Returns its absolute path."""
        self._require_fitted()
        state = {"config": self.config.to_dict(), **self._state()}
        with files.atomic_directory(path) as tmp:
            self.model.save(os.path.join(tmp, MODEL_FILE))
            for name, write in self._files().items():
                write(os.path.join(tmp, name))
            files.write_json(os.path.join(tmp, self.state_file), state)
        return os.path.abspath(os.fspath(path))

    @classmethod
    def load(cls, path):
        """Loads a pipeline written by `save`."""
        path = os.fspath(path)
        state_path = os.path.join(path, cls.state_file)
        if not os.path.exists(state_path):
            raise FileNotFoundError(
                f"No saved {cls.__name__} at {path} (missing {cls.state_file}).")
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
        self = cls(cls.config_class.from_dict(state["config"]))
        self._restore(state, path)
        # The model's config holds its dtype policy: no policy scope needed.
        self.model = keras.models.load_model(os.path.join(path, MODEL_FILE))
        return self

    # --------------------------------------------------------------- export
    def _endpoints(self, **options):
        """`{name: (fn, input_signature)}` of the SavedModel; `serve` first."""
        raise NotImplementedError

    def _export_sample(self, sample, **options):
        """`(inputs, expected)` numpy dicts for `serve`: `sample` run through
        the in-memory pipeline, which the reloaded export must reproduce."""
        raise NotImplementedError

    def _export_metadata(self, **options):
        """What `metadata.json` says besides the config: inputs, outputs,
        units, decoding settings."""
        return {}

    def _tracked(self):
        """The Keras models and other trackables the endpoints use."""
        return [self.model]

    def export(self, path, sample=None, **options):
        """Writes a SavedModel (see the pipeline's `_endpoints`) to `path`,
        atomically, with `metadata.json`; when `sample` is given it is run
        through the in-memory pipeline and through the export reloaded in a
        fresh process, and both must agree. Returns the export's path."""
        self._require_fitted()
        inputs = expected = None
        if sample is not None:
            inputs, expected = self._export_sample(sample, **options)
        metadata = {"pipeline": self.export_name, "config": self.config.to_dict(),
                    **self._export_metadata(**options)}
        if "inputs" in metadata and "outputs" in metadata:
            metadata.setdefault("serve", signature_line(metadata))
        return export_lib.export_saved_model(
            path, endpoints=self._endpoints(**options), track=self._tracked(),
            metadata=metadata, sample=inputs, expected=expected,
            imports=self.export_imports)
