"""Text configs. The top-level `task` field chooses the pipeline
(`translation`, or `classification` for sentence classification), so one
training script serves both; `load_config` reads it and builds the right one.
The configs themselves live with their pipelines
(`text.translation.config`, `text.classification.config`).

Example:

>>> type(load_config()).__name__
'TranslationConfig'
"""

import os

import yaml

from pipelines.config import ConfigError
from text.classification.config import ClassificationConfig
from text.translation.config import TranslationConfig

TASKS = ("translation", "classification")

CONFIGS = {"translation": TranslationConfig, "classification": ClassificationConfig}


def config_class(task):
    if task not in CONFIGS:
        raise ConfigError(f"task: must be one of {sorted(CONFIGS)}; got task={task!r}.")
    return CONFIGS[task]


def load_config(path=None, overrides=()):
    """Reads the YAML's `task` (or a `task=...` override) and builds that
    task's config; without a path, the translation defaults."""
    task = "translation"
    if path is not None and os.path.exists(path):
        with open(path) as f:
            try:
                values = yaml.safe_load(f) or {}
            except yaml.YAMLError:
                values = {}  # from_yaml reports it, naming the file
        if isinstance(values, dict) and "task" in values:
            task = values["task"]
    for item in overrides or ():
        key, _, value = str(item).partition("=")
        if key.strip() == "task":
            task = value.strip()
    return config_class(task).from_yaml(path, overrides)


class TextConfig:
    """What the CLI calls `Config`: `from_yaml` dispatches on `task`."""

    from_yaml = staticmethod(load_config)
