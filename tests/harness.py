"""The one small harness every pipeline's tests share.

Each check asserts a property a user relies on: configs round-trip, a model
takes a training step, a saved model reloads equal, an export reloads equal,
and mixed precision keeps variables in float32 and heads in float32.

One entry per role, as keras-hub's `TestCase` has:

- `run_layer_test(make, args, ...)`: a layer builds, runs eagerly and
  symbolically (the same outputs), takes a training step, round-trips its
  config and a `.keras` file, and keeps float32 variables under mixed
  precision;
- `run_pipeline_test(pipeline, inputs, ...)`: a fitted pipeline answers,
  refuses bad input with the given messages, reloads equal after `save`,
  and its export (verified in a fresh process) reproduces it after
  `tf.saved_model.load`.
"""

import copy
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines import precision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_FILES = ("config.yaml", "history.csv", "metrics.json", "model", "export", "checkpoints")


#: `python -m MODULE` of the CLI's entry points, as `(module, domain)` for
#: `pipelines.cli.main(argv, domain=...)`.
_CLI_MODULES = {"pipelines.cli": None, "forecasting.train": "forecasting",
                "speech.train": "speech", "text.train": "text",
                "vision_caption.train": "vision_caption"}


def run_module(args, env=None, fresh=False, **kw):
    """Runs `python <args>` from the project root (the CLI as a user runs it),
    in `env` (default: this process's environment); returns a
    `subprocess.CompletedProcess` (text `stdout` and `stderr`).

    `python -m pipelines.cli ...` and `python -m <domain>.train ...` run in
    this process (`pipelines.cli.main`, with this environment swapped in,
    stdout, stderr and the log lines captured, the working directory the
    project root): the same code, without a new interpreter importing
    TensorFlow for every command, which made most of these tests' time. The
    process itself is exercised by `fresh=True` (a real child) and by
    `tests/test_readme.py`, which runs every README command as printed.
    """
    module = args[1] if len(args) > 1 and args[0] == "-m" else None
    if fresh or module not in _CLI_MODULES or kw:
        env = dict(os.environ if env is None else env, TF_CPP_MIN_LOG_LEVEL="2")
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600, **kw)
    return run_cli(list(args[2:]), _CLI_MODULES[module], env)


def run_cli(argv, domain, env, cwd=ROOT):
    """`pipelines.cli.main(argv, domain=domain)` in this process, as a fresh
    process with environment `env` and working directory `cwd` would run it;
    a `subprocess.CompletedProcess` of its exit status and output."""
    import contextlib
    import io
    import logging
    import traceback

    from pipelines import cli

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    root = logging.getLogger()
    saved_level = root.level
    # What `logging.basicConfig` in `main` gives a fresh process.
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        # Native log lines are a property of the process, not of the command.
        os.environ["PIPELINES_NATIVE_LOGS"] = "1"
        os.chdir(cwd)
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv, domain=domain)
            except SystemExit as e:  # argparse's errors
                code = e.code if isinstance(e.code, int) else 2
            except Exception:  # noqa: BLE001 - what a fresh process would print
                traceback.print_exc()
                code = 1
            # What a process's exit would do: nothing of one command (open
            # Keras models, a mixed-precision policy) is left to the next.
            keras.backend.clear_session()
            keras.mixed_precision.set_global_policy("float32")
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["python", "-m", *argv], code, out.getvalue(),
                                       err.getvalue())


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


def assert_reloads_with_its_policy(make, x, tmp_path, half_layers, float32_layers=(),
                                  policy="mixed_bfloat16", atol=1e-6):
    """A model built under `policy` stores it in its config, and a `.keras`
    reload (with float32 in force) rebuilds it: the model's policy, the
    compute dtype of `half_layers` (half) and `float32_layers` (heads), and
    the same outputs on `x`. Returns the reloaded model."""
    from pipelines import precision

    half = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[policy]
    with precision.policy_scope(policy):
        model = make()
    assert model.get_config()["dtype"]["config"]["name"] == policy
    want = keras.ops.convert_to_numpy(model(x, training=False))
    path = os.path.join(tmp_path, "policy.keras")
    model.save(path)
    assert keras.config.dtype_policy().name == "float32"
    reloaded = keras.models.load_model(path)
    assert reloaded.dtype_policy.name == policy
    for name in half_layers:
        assert reloaded.get_layer(name).compute_dtype == half, name
    for name in float32_layers:
        assert reloaded.get_layer(name).compute_dtype == "float32", name
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(x, training=False)), want,
                               atol=atol)
    return reloaded


# ---------------------------------------------------------------------------
# Role: layer
# ---------------------------------------------------------------------------

def _to_list(outputs):
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(outputs)]


def _symbolic(value, name):
    value = np.asarray(value)
    return keras.Input(value.shape[1:], batch_size=None, dtype=value.dtype.name, name=name)


def run_layer_test(make, args, kwargs=None, expected_shapes=None, train=True,
                   mixed_precision=True, atol=1e-5):
    """Checks a layer the way every layer of ours must hold up.

    Args:
        make: `() -> layer` (a fresh, unbuilt layer each call).
        args: numpy arrays, the positional inputs of the call.
        kwargs: numpy arrays passed by keyword (masks, states).
        expected_shapes: the output shapes (a list, outputs flattened).
        train: take one training step (MSE of the float outputs to zero).
        mixed_precision: build under mixed_bfloat16 and check the variables
            stay float32 and the compute dtype is bfloat16 (unless the
            layer pins its own dtype).

    Returns:
        The eager layer.
    """
    kwargs = dict(kwargs or {})
    layer = make()
    eager = _to_list(layer(*args, **kwargs))
    if expected_shapes is not None:
        assert [tuple(o.shape) for o in eager] == [tuple(s) for s in expected_shapes]

    # Symbolic call in a functional model, weights copied: the same outputs.
    inputs = [_symbolic(a, f"arg_{i}") for i, a in enumerate(args)]
    kw_inputs = {k: _symbolic(v, k) for k, v in kwargs.items()}
    twin = make()
    outputs = twin(*inputs, **kw_inputs)
    model = keras.Model(inputs + list(kw_inputs.values()), outputs)
    twin.set_weights(layer.get_weights())
    feed = list(args) + list(kwargs.values())
    symbolic = _to_list(model(feed, training=False))
    for a, b in zip(_to_list(layer(*args, **kwargs, training=False)), symbolic):
        np.testing.assert_allclose(a, b, atol=atol)

    # Serialisation: the config round-trips and a `.keras` file reloads equal.
    config = layer.get_config()
    # A copy: some from_config (functional models) consume the dict.
    clone = layer.__class__.from_config(copy.deepcopy(config))
    assert clone.get_config() == config
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer.keras")
        model.save(path)
        reloaded = keras.models.load_model(path)
        for a, b in zip(symbolic, _to_list(reloaded(feed, training=False))):
            np.testing.assert_allclose(a, b, atol=atol)

    if train and layer.trainable_weights:
        targets = [np.zeros(o.shape, "float32") for o in symbolic
                   if np.issubdtype(o.dtype, np.floating)]
        floats = [o for o in keras.tree.flatten(outputs)
                  if "float" in str(o.dtype)]
        trainer = keras.Model(model.inputs, floats)
        trainer.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
        before = [w.copy() for w in twin.get_weights()]
        loss = trainer.train_on_batch(feed, targets if len(targets) > 1 else targets[0])
        assert np.all(np.isfinite(loss)), loss
        assert any(not np.allclose(a, b) for a, b in zip(before, twin.get_weights())), \
            "one training step changed no weight"

    if mixed_precision:
        from pipelines import precision

        with precision.policy_scope("mixed_bfloat16"):
            half = make()
        out = half(*args, **kwargs)
        assert all(v.dtype == "float32" for v in half.weights)
        if half.dtype_policy.name == "mixed_bfloat16":
            assert half.compute_dtype == "bfloat16"
        assert all(np.all(np.isfinite(o.astype("float32"))) for o in _to_list(out)
                   if np.issubdtype(o.dtype, np.floating) or o.dtype.name == "bfloat16")
    return layer


# ---------------------------------------------------------------------------
# Role: pipeline
# ---------------------------------------------------------------------------

def assert_same_answers(a, b, atol=1e-5):
    """Two pipeline answers agree: equal strings, close numbers, recursively
    through lists, tuples (named too) and dicts."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            assert_same_answers(a[k], b[k], atol)
    elif isinstance(a, (list, tuple)) and not isinstance(a, str):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_answers(x, y, atol)
    elif isinstance(a, (str, bytes)):
        assert a == b
    else:
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "USO":
            assert a.tolist() == b.tolist()
        else:
            np.testing.assert_allclose(a, b, atol=atol)


def run_pipeline_test(pipeline, inputs, tmp_path, sample=None, bad_inputs=(),
                      predict=None, endpoint="serve", atol=1e-5):
    """Checks a fitted pipeline the way every pipeline of ours must hold up.

    Args:
        pipeline: a fitted `pipelines.pipeline.Pipeline`.
        inputs: what its `predict` takes (a list of inputs, a batch).
        tmp_path: a folder for the saved pipeline and the export.
        sample: the export's verification sample (default: `inputs`).
        bad_inputs: `(input, exception type, message regex)` triples that
            `predict` must refuse with exactly that error.
        predict: `(pipeline, inputs) -> answers` (default: `predict`).
        endpoint: the export's endpoint to check.

    Returns:
        `(reloaded pipeline, the export's outputs on the sample)`.
    """
    predict = predict or (lambda p, x: p.predict(x))
    answers = predict(pipeline, inputs)

    # Not fitted: one clear error.
    fresh = type(pipeline)(pipeline.config)
    with pytest.raises(RuntimeError, match=re.escape(
            f"This {type(pipeline).__name__} is not fitted yet: call fit() or load().")):
        predict(fresh, inputs)

    for bad, error, message in bad_inputs:
        with pytest.raises(error, match=message):
            predict(pipeline, bad)

    # save -> load: the same config and the same answers.
    saved = pipeline.save(os.path.join(tmp_path, "saved"))
    reloaded = type(pipeline).load(saved)
    assert reloaded.config == pipeline.config
    assert reloaded.model.dtype_policy.name == pipeline.model.dtype_policy.name
    assert_same_answers(predict(reloaded, inputs), answers, atol)

    # export (verified in a fresh process) -> tf.saved_model.load: the same
    # outputs as the in-memory pipeline.
    sample = inputs if sample is None else sample
    feed, expected = pipeline._export_sample(sample)
    path = pipeline.export(os.path.join(tmp_path, "export"), sample=sample)
    metadata = json.load(open(os.path.join(path, "metadata.json")))
    assert metadata["pipeline"] == pipeline.export_name
    assert metadata["config"] == json.loads(json.dumps(pipeline.config.to_dict()))
    loaded = tf.saved_model.load(path)
    outputs = getattr(loaded, endpoint)(**{k: tf.constant(v) for k, v in feed.items()})
    for name, want in expected.items():
        got = outputs[name].numpy()
        if got.dtype.kind in "SO":
            assert [g.decode("utf-8") for g in got.ravel()] == [str(w) for w in
                                                               np.asarray(want).ravel()]
        else:
            np.testing.assert_allclose(got, want, atol=atol)
    return reloaded, outputs


#: The local runner in this process, one worker: the fastest start for tests.
BEAM_IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def run_batch_test(task, export_dir, input, errors, tmp_path, batch_size=2, atol=1e-5,
                   bucketing=True):
    """Checks a batch prediction job on Beam the way every domain's must
    hold up: every input is a result or an error (counted and written); a
    result equals the export's `serve` on that input alone; each bad input
    is an error record whose reason matches.

    Args:
        task: the domain's `Task`.
        export_dir: an export of the domain.
        input: what `--input` takes (a glob, a folder, a file).
        errors: `{input name: reason regex}` of the bad inputs.
        tmp_path: where the output goes.

    Returns:
        `(summary, results by input name)`.
    """
    from pipelines import batch

    out = os.path.join(tmp_path, "out", "predictions.jsonl")
    summary = task.batch_predict(export_dir, input, out, batch_size=batch_size,
                                 bucketing=bucketing, beam_args=BEAM_IN_PROCESS)
    results, failed = batch.read_records(out), batch.read_records(batch.errors_path(out))
    assert summary["results"] == len(results) and summary["errors"] == len(failed)
    assert summary["inputs"] == len(results) + len(failed)
    assert not set(results) & set(failed)
    assert sorted(failed) == sorted(errors), failed
    for name, reason in errors.items():
        assert re.search(reason, failed[name]["error"]), (name, failed[name]["error"])
    # `serve` on one input at a time, in this process.
    alone = {r["input"]: r for r in batch.plain_loop(export_dir, input, batch_size=1)[0]}
    assert sorted(alone) == sorted([*results, *failed])
    for name, record in results.items():
        assert set(record) == set(alone[name]), name
        for key, value in record.items():
            assert_same_answers(value if not isinstance(value, dict) else list(value.values()),
                                alone[name][key] if not isinstance(value, dict)
                                else list(alone[name][key].values()), atol)
    for name, record in failed.items():
        assert record["error"] == alone[name]["error"]
    return summary, results
