import dataclasses
from typing import List, Optional

import pytest
import yaml

from pipelines.config import Config, ConfigError, TrainConfig, check


@dataclasses.dataclass
class Model:
    units: int = 64
    kind: str = "gru"
    dropout: float = 0.1
    layers: Optional[List[int]] = None

    def validate(self):
        check(self.kind in ("gru", "lstm"), "model.kind", self.kind,
              "must be 'gru' or 'lstm'")


def _train():
    return TrainConfig(epochs=30)


@dataclasses.dataclass
class Cfg(Config):
    name: str = "demo"
    model: Model = dataclasses.field(default_factory=Model)
    train: TrainConfig = dataclasses.field(default_factory=_train)


def test_yaml_overrides_and_roundtrip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: run1\nmodel:\n  units: 32\ntrain:\n  batch_size: 8\n")
    cfg = Cfg.from_yaml(path, ["model.dropout=0.5", "train.precision=mixed_bfloat16",
                                "model.layers=[1, 2]"])
    assert cfg.name == "run1"
    assert cfg.model.units == 32 and cfg.model.dropout == 0.5
    assert cfg.model.layers == [1, 2]
    # A partial section keeps the parent's defaults for the rest (epochs=30,
    # not TrainConfig's own 10).
    assert cfg.train.epochs == 30 and cfg.train.batch_size == 8
    assert cfg.train.precision == "mixed_bfloat16"
    saved = tmp_path / "resolved.yaml"
    cfg.to_yaml(saved)
    assert Cfg.from_yaml(saved) == cfg
    assert yaml.safe_load(saved.read_text())["model"]["units"] == 32


def test_int_is_accepted_for_float():
    assert Cfg.from_dict({}, ["model.dropout=0"]).model.dropout == 0.0


def test_unknown_field_names_it_and_suggests():
    with pytest.raises(ConfigError) as e:
        Cfg.from_dict({}, ["model.unitz=3"])
    assert str(e.value) == (
        "Unknown config field 'model.unitz'. Did you mean 'model.units'? "
        "Known fields here: dropout, kind, layers, units."
    )


def test_wrong_type_names_field_and_value():
    with pytest.raises(ConfigError) as e:
        Cfg.from_dict({"model": {"units": "many"}})
    assert str(e.value) == "Config field 'model.units' must be an integer; got 'many'."


def test_validation_names_field_and_value():
    with pytest.raises(ConfigError) as e:
        Cfg.from_dict({}, ["model.kind=rnn"])
    assert str(e.value) == "Config field 'model.kind' must be 'gru' or 'lstm'; got 'rnn'."
    with pytest.raises(ConfigError, match=r"'train.precision' must be one of .*got 'half'"):
        Cfg.from_dict({}, ["train.precision=half"])
    with pytest.raises(ConfigError, match=r"'train.epochs' must be at least 1; got 0"):
        Cfg.from_dict({}, ["train.epochs=0"])
    # The run name becomes a folder: every pipeline's config checks it here.
    for bad in ("", "a/b"):
        with pytest.raises(ConfigError) as e:
            Cfg.from_dict({"name": bad})
        assert str(e.value) == (
            f"Config field 'name' must be a non-empty name without '/'; got {bad!r}.")


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not of the form key=value"):
        Cfg.from_dict({}, ["train.epochs"])
    with pytest.raises(ConfigError, match="Config file not found: .*nope.yaml"):
        Cfg.from_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        Cfg.from_yaml(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("trian:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"typo.yaml: Unknown config field 'trian'. Did you mean 'train'\?"):
        Cfg.from_yaml(typo)


def test_every_shipped_config_parses_and_round_trips():
    # A config a README or bench command points at must load as shipped,
    # with every field known and valid, and survive the run directory's
    # config.yaml (to_dict, then back).
    import glob
    import os

    from pipelines.registry import DOMAINS, get_task

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    names = {}
    for domain in DOMAINS:
        task = get_task(domain)
        for path in sorted(glob.glob(os.path.join(root, domain, "configs", "*.yaml"))):
            config = task.config_class.from_yaml(path, [])
            assert type(config).from_dict(config.to_dict(), []) == config, path
            names.setdefault(config.name, []).append(path)
    assert len(sum(names.values(), [])) >= 19
    # The name picks the default run folder (runs/<domain>/<name>): two
    # configs must not share one.
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
