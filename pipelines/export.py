"""SavedModel export: named endpoints, atomic writes, verified reloads.

`export_saved_model` writes a SavedModel through `keras.export.ExportArchive`
into a temporary sibling directory, stores `metadata.json` beside the
SavedModel files, reloads it with `tf.saved_model.load` in a *fresh process*
(so nothing from this process can hide a missing asset or op), compares its
outputs with the in-memory pipeline's on a sample, and only then renames it
into place. A failure at any point leaves no directory at the target.
"""

import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

METADATA_FILE = "metadata.json"


class ExportError(RuntimeError):
    """The export could not be written or did not reproduce the pipeline."""


def versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "tensorflow-text", "numpy", "recurrent-pipelines"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def read_metadata(export_dir):
    path = os.path.join(export_dir, METADATA_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No {METADATA_FILE} in export directory {export_dir}.")
    with open(path) as f:
        return json.load(f)


def export_saved_model(
    export_dir,
    endpoints,
    track=(),
    metadata=None,
    sample=None,
    expected=None,
    endpoint_to_verify="serve",
    rtol=1e-4,
    atol=1e-4,
    imports=(),
    overwrite=True,
):
    """Writes a verified SavedModel to `export_dir`, atomically.

    Args:
        export_dir: target directory.
        endpoints: mapping of endpoint name to `(fn, input_signature)`; each
            `fn` returns a dict of named outputs.
        track: Keras models/layers (and other trackables: lookup tables,
            vocab assets) the endpoints use.
        metadata: JSON-serialisable dict stored as `metadata.json` (config,
            input/output shapes, units); versions and a timestamp are added.
        sample: dict of numpy inputs for `endpoint_to_verify`.
        expected: dict of numpy outputs the in-memory pipeline gives on
            `sample`; the reloaded SavedModel must reproduce them.
        imports: modules the fresh process imports before loading (e.g.
            `tensorflow_text`, whose ops a text SavedModel needs).
        overwrite: replace an existing export (atomically) if True.

    Returns:
        The absolute path of the export.
    """
    export_dir = os.path.abspath(os.fspath(export_dir))
    if os.path.exists(export_dir) and not overwrite:
        raise ExportError(f"Export directory {export_dir} exists (overwrite=False).")
    with atomic_directory(export_dir) as tmp:
        archive = keras.export.ExportArchive()
        for obj in track:
            archive.track(obj)
        for name, (fn, signature) in endpoints.items():
            archive.add_endpoint(name=name, fn=fn, input_signature=signature)
        # write_out wants to create the directory itself.
        os.rmdir(tmp)
        archive.write_out(tmp, verbose=False)
        meta = dict(metadata or {})
        meta.setdefault("endpoints", sorted(endpoints))
        meta["versions"] = versions()
        meta["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=2, default=_json_default)
        if sample is not None and expected is not None:
            verify_in_fresh_process(
                tmp, endpoint_to_verify, sample, expected, rtol, atol, imports
            )
    return export_dir


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a fresh temporary directory beside `path`; when the block
    succeeds it replaces `path` (renames, so readers never see half a
    directory), and when it fails it is removed and `path` is left as it was.

    Example:

    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out")
    >>> with atomic_directory(target) as tmp:
    ...     open(os.path.join(tmp, "a.txt"), "w").close()
    >>> os.listdir(target)
    ['a.txt']
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp-")
    try:
        yield tmp
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


MODEL_FILE = "model.keras"


def save_pipeline(path, model, state_file, state, files=None):
    """Writes a saved pipeline to the directory `path`, atomically: the Keras
    model (`model.keras`), the JSON `state` (config and what the pipeline
    learned besides weights) as `state_file`, and each `files` entry
    (`name -> writer(path)`, e.g. a tokenizer's `save`). Returns the
    absolute path."""
    with atomic_directory(path) as tmp:
        model.save(os.path.join(tmp, MODEL_FILE))
        for name, write in (files or {}).items():
            write(os.path.join(tmp, name))
        with open(os.path.join(tmp, state_file), "w") as f:
            json.dump(state, f, indent=2)
    return os.path.abspath(os.fspath(path))


def load_pipeline_model(path, precision_name):
    """The Keras model of a pipeline saved by `save_pipeline`, rebuilt under
    the dtype policy it was trained with."""
    from pipelines import precision

    with precision.policy_scope(precision_name):
        return keras.models.load_model(os.path.join(os.fspath(path), MODEL_FILE))


def read_state(path, state_file, what):
    """Reads the JSON state file of a saved pipeline, or names what is missing."""
    state_path = os.path.join(os.fspath(path), state_file)
    if not os.path.exists(state_path):
        raise FileNotFoundError(f"No saved {what} at {os.fspath(path)} (missing {state_file}).")
    with open(state_path) as f:
        return json.load(f)


def _swap_into_place(tmp, target):
    if not os.path.exists(target):
        os.rename(tmp, target)
        return
    old = f"{tmp}.old"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def verify_in_fresh_process(export_dir, endpoint, sample, expected, rtol=1e-4,
                            atol=1e-4, imports=()):
    """Reloads `export_dir` in a new Python process and checks its outputs."""
    with tempfile.TemporaryDirectory() as work:
        inputs = os.path.join(work, "inputs.npz")
        outputs = os.path.join(work, "expected.npz")
        np.savez(inputs, **{k: np.asarray(v) for k, v in sample.items()})
        np.savez(outputs, **{k: np.asarray(v) for k, v in expected.items()})
        cmd = [
            sys.executable, "-m", "pipelines.verify_export", export_dir,
            "--endpoint", endpoint, "--inputs", inputs, "--expected", outputs,
            "--rtol", str(rtol), "--atol", str(atol),
        ]
        for module in imports:
            cmd += ["--import", module]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        result = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise ExportError(
                "The exported SavedModel, reloaded in a fresh process, does not "
                "reproduce the in-memory pipeline:\n"
                + (result.stdout + result.stderr).strip()[-3000:]
            )


def load(export_dir):
    """Loads an export with `tf.saved_model.load` (no Keras, no Python code)."""
    return tf.saved_model.load(os.fspath(export_dir))
