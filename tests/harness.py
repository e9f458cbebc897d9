"""The one small harness every pipeline's tests share.

Each check asserts a property a user relies on: configs round-trip, a model
takes a training step, a saved model reloads equal, an export reloads equal,
and mixed precision keeps variables in float32 and heads in float32.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from pipelines import precision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_FILES = ("config.yaml", "history.csv", "metrics.json", "model", "export", "checkpoints")


def run_module(args, **kw):
    """Runs `python <args>` from the project root (the CLI as a user runs it)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, **kw)


def assert_trained_run(result, run_dir):
    """A `train` command succeeded, printed its summary and filled the run
    directory; returns the summary."""
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["export"] == str(run_dir / "export")
    for name in RUN_FILES:
        assert os.path.exists(run_dir / name), name
    return summary


def assert_config_roundtrip(obj):
    """`from_config(get_config())` rebuilds an equal config."""
    config = obj.get_config()
    clone = obj.__class__.from_config(config)
    assert clone.get_config() == config
    return clone


def assert_fit_step(model, x, y, loss="mse", steps=1):
    """The model compiles and trains `steps` steps with a finite loss."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    history = model.fit(x, y, epochs=steps, batch_size=len(x), verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses)), losses
    return losses


def assert_save_reload_equal(model, x, tmp_path, atol=1e-6):
    """`.keras` save and reload gives the same outputs."""
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    a = keras.ops.convert_to_numpy(model(x, training=False))
    b = keras.ops.convert_to_numpy(reloaded(x, training=False))
    np.testing.assert_allclose(a, b, atol=atol)
    return reloaded


def assert_export_reload_equal(export_dir, endpoint, inputs, expected, atol=1e-5):
    """`tf.saved_model.load` of an export reproduces `expected` outputs."""
    loaded = tf.saved_model.load(export_dir)
    outputs = getattr(loaded, endpoint)(**{k: tf.constant(v) for k, v in inputs.items()})
    for name, want in expected.items():
        np.testing.assert_allclose(outputs[name].numpy(), want, atol=atol)
    return outputs


def assert_mixed_precision(build_model, x, y, policy, loss="mse"):
    """Under `policy`: compute dtype is half, variables float32, the output
    (head) float32, and one training step gives a finite loss."""
    half = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[policy]
    with precision.policy_scope(policy):
        model = build_model()
    assert any(layer.compute_dtype == half for layer in model._flatten_layers())
    assert all(v.dtype == "float32" for v in model.weights)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    out = model(x)
    assert out.dtype == "float32"
    history = model.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    return model
