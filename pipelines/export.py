"""SavedModel export: named endpoints, atomic writes, verified reloads.

`export_saved_model` writes a SavedModel through `keras.export.ExportArchive`
into a temporary sibling directory, stores `metadata.json` beside the
SavedModel files, reloads it with `tf.saved_model.load` in a *fresh process* that imports
only TensorFlow (so nothing from this process can hide a missing asset or
op; one such process is kept for the later exports of the same process), compares its
outputs with the in-memory pipeline's on a sample, and only then renames it
into place. A failure at any point leaves no directory at the target.
"""

import atexit
import contextlib
import ctypes
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import keras
import numpy as np

from pipelines.files import atomic_directory, dumps_json

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
        with open(os.path.join(tmp, METADATA_FILE), "w", encoding="utf-8") as f:
            f.write(dumps_json(meta))
        if sample is not None and expected is not None:
            # The verification files live inside the temporary export, so a
            # kill leaves nothing elsewhere; they are gone before the rename.
            work = os.path.join(tmp, ".verify")
            os.makedirs(work)
            try:
                verify_in_fresh_process(
                    tmp, endpoint_to_verify, sample, expected, rtol, atol, imports,
                    work_dir=work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return export_dir


def _die_with_parent():
    """In the child, before exec: ask Linux to SIGKILL it when the parent
    dies (a killed export must not leave its verifier running)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the child ends on its own when done
        pass


def run_child(cmd, **kwargs):
    """`subprocess.run(cmd, ...)` whose child ends with this process, even
    when this process is killed with SIGKILL (on Linux)."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.run(cmd, preexec_fn=preexec, **kwargs)


class _Verifier:
    """A `python -m pipelines.verify_export --serve` child kept for the
    exports of this process that need the same `imports`: a new interpreter
    importing TensorFlow for every export was most of an export's time. It
    dies with this process (`_die_with_parent`) and ends when its stdin
    closes (at exit)."""

    _servers = {}
    _lock = threading.Lock()

    @classmethod
    def check(cls, request, imports):
        """The server's `{"ok", "message"}` for `request`, or None when no
        server answered (it could not start or died: the caller verifies
        in a one-off process, whose output says why)."""
        from pipelines.verify_export import RESULT_PREFIX

        with cls._lock:
            proc = cls._servers.get(imports)
            if proc is None or proc.poll() is not None:
                cmd = [sys.executable, "-m", "pipelines.verify_export", "--serve"]
                for module in imports:
                    cmd += ["--import", module]
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True,
                    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
                cls._servers[imports] = proc
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                for line in proc.stdout:
                    if line.startswith(RESULT_PREFIX):
                        return json.loads(line[len(RESULT_PREFIX):])
            except (BrokenPipeError, OSError, ValueError):
                pass
            proc.kill()
            cls._servers.pop(imports, None)
            return None

    @classmethod
    def close_all(cls):
        for proc in cls._servers.values():
            with contextlib.suppress(OSError):
                proc.stdin.close()
        cls._servers.clear()


atexit.register(_Verifier.close_all)


def verify_in_fresh_process(export_dir, endpoint, sample, expected, rtol=1e-4,
                            atol=1e-4, imports=(), work_dir=None):
    """Reloads `export_dir` in another Python process, one that imports only
    TensorFlow and `imports` (kept for this process's later exports that
    need the same imports), and checks its outputs. The input and expected
    arrays are written to `work_dir` (default: a temporary folder)."""
    with contextlib.ExitStack() as stack:
        work = work_dir or stack.enter_context(tempfile.TemporaryDirectory())
        inputs = os.path.join(work, "inputs.npz")
        outputs = os.path.join(work, "expected.npz")
        np.savez(inputs, **{k: np.asarray(v) for k, v in sample.items()})
        np.savez(outputs, **{k: np.asarray(v) for k, v in expected.items()})
        request = {"export_dir": os.fspath(export_dir), "endpoint": endpoint,
                   "inputs": inputs, "expected": outputs, "rtol": rtol, "atol": atol}
        answer = _Verifier.check(request, tuple(imports))
        if answer is not None:
            if not answer["ok"]:
                raise _not_reproduced(answer["message"])
            return
        cmd = [
            sys.executable, "-m", "pipelines.verify_export", os.fspath(export_dir),
            "--endpoint", endpoint, "--inputs", inputs, "--expected", outputs,
            "--rtol", str(rtol), "--atol", str(atol),
        ]
        for module in imports:
            cmd += ["--import", module]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        result = run_child(cmd, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise _not_reproduced(result.stdout + result.stderr)


def _not_reproduced(output):
    """The `ExportError` of a verification that failed, with the end of
    what the verifier said."""
    return ExportError("The exported SavedModel, reloaded in a fresh process, does not "
                       "reproduce the in-memory pipeline:\n" + output.strip()[-3000:])
