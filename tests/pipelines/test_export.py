import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines import export as export_lib
from tests import harness


def _model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((3,))
    return keras.Model(inp, keras.layers.Dense(2)(inp))


def _endpoint(model):
    def serve(x):
        return {"y": model(x) * 2.0}

    return {"serve": (serve, [tf.TensorSpec([None, 3], tf.float32, name="x")])}


def test_export_writes_verifies_and_reloads(tmp_path):
    model = _model()
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    expected = {"y": np.asarray(model(x)) * 2.0}
    target = tmp_path / "export"
    path = export_lib.export_saved_model(
        target, _endpoint(model), track=[model], metadata={"units": "none"},
        sample={"x": x}, expected=expected,
    )
    assert path == str(target)
    harness.assert_export_reload_equal(path, "serve", {"x": x}, expected)
    meta = export_lib.read_metadata(path)
    assert meta["units"] == "none" and meta["endpoints"] == ["serve"]
    assert {"python", "tensorflow", "keras"} <= set(meta["versions"])
    # Nothing but the export is left beside it.
    assert os.listdir(tmp_path) == ["export"]


def test_failed_verification_leaves_no_directory(tmp_path):
    model = _model()
    x = np.ones((2, 3), "float32")
    wrong = {"y": np.asarray(model(x)) * 2.0 + 1.0}
    with pytest.raises(export_lib.ExportError, match="output 'y': max abs difference 1"):
        export_lib.export_saved_model(
            tmp_path / "export", _endpoint(model), track=[model],
            sample={"x": x}, expected=wrong,
        )
    assert os.listdir(tmp_path) == []


def test_failure_midway_keeps_the_previous_export(tmp_path):
    model = _model()
    target = tmp_path / "export"
    export_lib.export_saved_model(target, _endpoint(model), track=[model], metadata={"v": 1})

    def broken(x):
        raise RuntimeError("boom while tracing")

    with pytest.raises(RuntimeError, match="boom while tracing"):
        export_lib.export_saved_model(
            target, {"serve": (broken, [tf.TensorSpec([None, 3], tf.float32)])},
            track=[model], metadata={"v": 2},
        )
    assert sorted(os.listdir(tmp_path)) == ["export"]
    assert json.load(open(target / "metadata.json"))["v"] == 1


def test_overwrite_false(tmp_path):
    model = _model()
    export_lib.export_saved_model(tmp_path / "e", _endpoint(model), track=[model])
    with pytest.raises(export_lib.ExportError, match="exists"):
        export_lib.export_saved_model(tmp_path / "e", _endpoint(model), track=[model],
                                      overwrite=False)


def test_a_killed_export_leaves_nothing_behind_for_long(tmp_path):
    # What a SIGKILLed export leaves: its temporary sibling (the pid of a
    # process that is gone) and a half-swapped `.old` copy.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / f".export.tmp-{dead}-abc" / ".verify").mkdir(parents=True)
    (tmp_path / f".export.tmp-{dead}-abc.old").mkdir()
    # A live export of the same target (this process) is left alone.
    live = tmp_path / f".export.tmp-{os.getpid()}-live"
    live.mkdir()
    model = _model()
    x = np.ones((2, 3), "float32")
    export_lib.export_saved_model(tmp_path / "export", _endpoint(model), track=[model],
                                  sample={"x": x}, expected={"y": np.asarray(model(x)) * 2.0})
    assert sorted(os.listdir(tmp_path)) == sorted(["export", live.name])
    # The verification files were inside the temporary export, and are gone.
    assert ".verify" not in os.listdir(tmp_path / "export")


def test_the_verifier_child_dies_with_its_parent(tmp_path):
    # A parent starts a long child through run_child, then is SIGKILLed.
    script = textwrap.dedent("""
        import sys
        from pipelines import export
        export.run_child([sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"])
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=harness.ROOT,
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its parent")


def test_one_verifier_process_serves_a_process_s_exports(tmp_path):
    model = _model()
    x = np.ones((2, 3), "float32")
    good, bad = {"y": np.asarray(model(x)) * 2.0}, {"y": np.asarray(model(x)) * 2.0 + 1.0}
    servers = export_lib._Verifier._servers

    def export(name, expected, imports=()):
        return export_lib.export_saved_model(tmp_path / name, _endpoint(model), track=[model],
                                             sample={"x": x}, expected=expected,
                                             imports=imports)

    export("a", good)
    server = servers[()]
    export("b", good)
    with pytest.raises(export_lib.ExportError, match="output 'y': max abs difference 1"):
        export("c", bad)
    assert servers[()] is server and server.poll() is None  # the same process, still up
    # Other imports get a process of their own: none borrows another's.
    export("d", good, imports=("json",))
    assert servers[("json",)].pid != server.pid
    # A verifier that died is replaced; the export is still verified.
    server.kill()
    server.wait()
    export("e", good)
    assert servers[()].pid != server.pid and servers[()].poll() is None
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "d", "e"]
