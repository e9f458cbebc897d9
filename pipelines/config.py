"""Config dataclasses: loaded from YAML, overridden with `key=value`, validated.

Every pipeline describes its run with a tree of dataclasses (sections such as
`data`, `model`, `train`). This module turns YAML files and command-line
overrides into such a tree, and gives errors that name the field and the bad
value, so a typo in a config fails at once rather than an hour into training.

Example:

>>> import dataclasses
>>> @dataclasses.dataclass
... class Model:
...     units: int = 64
>>> @dataclasses.dataclass
... class Cfg(Config):
...     name: str = "demo"
...     model: Model = dataclasses.field(default_factory=Model)
>>> cfg = Cfg.from_dict({"model": {"units": 32}}, overrides=["name=x"])
>>> (cfg.name, cfg.model.units)
('x', 32)
"""

import dataclasses
import difflib
import os
import typing

import yaml


class ConfigError(ValueError):
    """A config file or override is wrong; the message names field and value."""


def _type_name(tp):
    return getattr(tp, "__name__", str(tp))


def _coerce(path, value, tp):
    """Checks `value` against the annotated type `tp`, converting where safe."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is typing.Any:
        return value
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(path, value, arg)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(
                f"Config field '{path}' must be one of {list(args)}; "
                f"got {value!r}."
            )
        return value
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"Config field '{path}' must be a list; got {value!r}."
            )
        item_type = args[0] if args else typing.Any
        items = [_coerce(f"{path}[{i}]", v, item_type) for i, v in enumerate(value)]
        return list(items) if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(
                f"Config field '{path}' must be a mapping; got {value!r}."
            )
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(
                f"Config section '{path}' must be a mapping; got {value!r}."
            )
        return _build(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(
            f"Config field '{path}' must be true or false; got {value!r}."
        )
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(
            f"Config field '{path}' must be an integer; got {value!r}."
        )
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(
            f"Config field '{path}' must be a number; got {value!r}."
        )
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(
            f"Config field '{path}' must be a string; got {value!r}."
        )
    return value


def _unknown(path, key, known):
    where = f"{path}.{key}" if path else key
    hint = difflib.get_close_matches(key, known, n=1)
    msg = f"Unknown config field '{where}'."
    if hint:
        msg += f" Did you mean '{(path + '.') if path else ''}{hint[0]}'?"
    msg += f" Known fields here: {', '.join(sorted(known))}."
    return ConfigError(msg)


def _build(cls, values, path=""):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in (values or {}).items():
        if key not in fields:
            raise _unknown(path, key, fields)
        sub = f"{path}.{key}" if path else key
        field = fields[key]
        if (
            isinstance(value, dict)
            and dataclasses.is_dataclass(hints[key])
            and field.default_factory is not dataclasses.MISSING
        ):
            # A partial section overrides the parent's defaults for it, which
            # may differ from the section class's own defaults.
            value = {**dataclasses.asdict(field.default_factory()), **value}
        kwargs[key] = _coerce(sub, value, hints[key])
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def _parse_override(item):
    if "=" not in item:
        raise ConfigError(
            f"Override {item!r} is not of the form key=value "
            "(for example --set train.epochs=5)."
        )
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"Override {item!r} has an empty key.")
    # YAML parsing gives numbers, booleans and lists their natural types.
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_path(tree, keys, value):
    node = tree
    for k in keys[:-1]:
        child = node.get(k)
        if not isinstance(child, dict):
            child = {}
            node[k] = child
        node = child
    node[keys[-1]] = value


class Config:
    """Mixin for the top-level config dataclass of a pipeline; the dataclass
    has a `name` field (the run name)."""

    @classmethod
    def from_dict(cls, values=None, overrides=()):
        """Builds the config from a mapping plus `key=value` overrides."""
        tree = _deep_copy(dict(values or {}))
        for item in overrides or ():
            keys, value = _parse_override(item)
            _set_path(tree, keys, value)
        return _build(cls, tree)

    @classmethod
    def from_yaml(cls, path=None, overrides=()):
        """Loads the config from a YAML file (or defaults if `path` is None)."""
        values = {}
        if path is not None:
            path = os.fspath(path)
            if not os.path.exists(path):
                raise ConfigError(f"Config file not found: {path}")
            with open(path) as f:
                try:
                    values = yaml.safe_load(f) or {}
                except yaml.YAMLError as e:
                    raise ConfigError(f"Config file {path} is not valid YAML: {e}")
            if not isinstance(values, dict):
                raise ConfigError(
                    f"Config file {path} must hold a mapping at the top level."
                )
        try:
            return cls.from_dict(values, overrides)
        except ConfigError as e:
            if path is None:
                raise
            raise ConfigError(f"{path}: {e}") from None

    def validate(self):
        """Checks the run name (it names a folder under `runs/<domain>/`);
        a subclass that checks more calls this too."""
        check(bool(self.name) and "/" not in self.name, "name", self.name,
              "must be a non-empty name without '/'")

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_yaml(self, path=None):
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text


def _deep_copy(tree):
    if isinstance(tree, dict):
        return {k: _deep_copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_deep_copy(v) for v in tree]
    return tree


def check(condition, field, value, requirement):
    """Raises ConfigError naming `field` and `value` unless `condition` holds."""
    if not condition:
        raise ConfigError(
            f"Config field '{field}' {requirement}; got {value!r}."
        )


def check_stream_fields(data):
    """Checks the `data.shards` / `data.shuffle_buffer` fields every corpus
    domain has (see `pipelines.shards`)."""
    check(data.shards is None or (isinstance(data.shards, str) and data.shards.strip()),
          "data.shards", data.shards, "must be a folder written by `pipelines prepare` or a "
          "glob of its shards")
    check(data.shuffle_buffer >= 0, "data.shuffle_buffer", data.shuffle_buffer,
          "must be at least 0 (0: no shuffling)")


@dataclasses.dataclass
class DecoderConfig:
    """The `model` fields of every pipeline built on
    `pipelines.blocks.AttentiveDecoder` and `pipelines.decoding.beam_search`
    (translation, captioning): a domain's model section subclasses it,
    redeclaring a field to change its default, and calls
    `super().validate()`.

    Args:
        cell_type: "gru" or "lstm".
        attention: "additive" (Bahdanau) or "multiplicative" (Luong).
        dropout: in [0, 1).
        label_smoothing: of the masked cross-entropy, in [0, 1).
        beam_width: the default beam (1 = greedy).
        length_penalty: GNMT alpha (0 = none).
    """

    cell_type: str = "gru"
    attention: str = "additive"
    dropout: float = 0.1
    label_smoothing: float = 0.0
    beam_width: int = 4
    length_penalty: float = 0.6

    def validate(self):
        check(self.cell_type in ("gru", "lstm"), "model.cell_type", self.cell_type,
              "must be 'gru' or 'lstm'")
        check(self.attention in ("additive", "multiplicative"), "model.attention",
              self.attention, "must be 'additive' or 'multiplicative'")
        check(0 <= self.dropout < 1, "model.dropout", self.dropout, "must be in [0, 1)")
        check(0 <= self.label_smoothing < 1, "model.label_smoothing", self.label_smoothing,
              "must be in [0, 1)")
        check(self.beam_width >= 1, "model.beam_width", self.beam_width,
              "must be at least 1")
        check(self.length_penalty >= 0, "model.length_penalty", self.length_penalty,
              "must be >= 0")


@dataclasses.dataclass
class TrainConfig:
    """The training settings every pipeline shares.

    Args:
        epochs: maximum number of epochs.
        batch_size: global batch size (split across replicas).
        learning_rate: peak learning rate of Adam(W).
        weight_decay: decoupled weight decay (AdamW); 0 uses plain Adam.
        clipnorm: gradient norm clipping; on by default because exploding
            gradients are the classic failure of recurrent networks. 0 disables.
        patience: EarlyStopping patience in epochs on the validation loss;
            0 disables early stopping.
        lr_decay: multiply the learning rate by this factor after each epoch
            (1.0 keeps it constant).
        lr_hold_epochs: epochs at the full rate before `lr_decay` starts:
            epoch e (from 0) trains at `learning_rate * lr_decay ** max(0, e -
            lr_hold_epochs)`. The published SegRNN schedule ("type3") is
            decay 0.8 with 3 held epochs.
        ema: momentum of an exponential moving average of the weights,
            updated every step (0 disables it). With it, validation, the
            best epoch's checkpoint and the trained model use the averaged
            weights; training itself steps the raw ones. The average (Keras'
            `use_ema`) has no warm-up: a run needs many more than
            `1 / (1 - ema)` steps (100 at 0.99) for it to forget the first
            weights.
        seed: seeds Python, NumPy and TensorFlow.
        precision: float32, mixed_float16, mixed_bfloat16 or auto.
        strategy: default, mirrored, multi_worker or tpu.
        tensorboard: write TensorBoard logs under the run's logs/.
        verbose: Keras fit verbosity (0, 1 or 2).
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    clipnorm: float = 1.0
    patience: int = 3
    lr_decay: float = 1.0
    lr_hold_epochs: int = 0
    ema: float = 0.0
    seed: int = 1337
    precision: str = "float32"
    strategy: str = "default"
    tensorboard: bool = True
    verbose: int = 2

    def validate(self):
        from pipelines import distribute, precision

        check(self.epochs >= 1, "train.epochs", self.epochs, "must be at least 1")
        check(self.batch_size >= 1, "train.batch_size", self.batch_size,
              "must be at least 1")
        check(self.learning_rate > 0, "train.learning_rate",
              self.learning_rate, "must be positive")
        check(self.weight_decay >= 0, "train.weight_decay", self.weight_decay,
              "must be >= 0")
        check(self.clipnorm >= 0, "train.clipnorm", self.clipnorm, "must be >= 0")
        check(self.patience >= 0, "train.patience", self.patience, "must be >= 0")
        check(0 < self.lr_decay <= 1, "train.lr_decay", self.lr_decay,
              "must be in (0, 1]")
        check(self.lr_hold_epochs >= 0, "train.lr_hold_epochs", self.lr_hold_epochs,
              "must be >= 0")
        check(0 <= self.ema < 1, "train.ema", self.ema, "must be in [0, 1)")
        check(self.precision in precision.POLICIES, "train.precision",
              self.precision, f"must be one of {list(precision.POLICIES)}")
        check(self.strategy in distribute.STRATEGIES, "train.strategy",
              self.strategy, f"must be one of {list(distribute.STRATEGIES)}")
        check(self.verbose in (0, 1, 2), "train.verbose", self.verbose,
              "must be 0, 1 or 2")
