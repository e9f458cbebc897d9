"""What the text tests share: training a tiny config through the CLI, and
running an export in a fresh process."""

import json
import os
import subprocess
import sys

from tests import harness

CONFIGS = os.path.join(harness.ROOT, "text", "configs")

# A fresh process that imports only tensorflow and tensorflow_text, as a
# user serving the export does; prints every output as JSON.
SERVE = (
    "import sys, json, tensorflow as tf, tensorflow_text\n"
    "m = tf.saved_model.load(sys.argv[1])\n"
    "out = m.serve(text=tf.constant(sys.argv[2:]))\n"
    "print(json.dumps({k: {'dtype': v.dtype.name, 'values': [s.decode('utf-8') for s in\n"
    "                  v.numpy()] if v.dtype == tf.string else v.numpy().tolist()}\n"
    "                  for k, v in out.items()}))\n"
)


def serve_in_fresh_process(export_dir, sentences):
    """`serve(text=sentences)` of the export, run in a fresh process:
    `{output: {"dtype": name, "values": list}}` (strings decoded)."""
    result = subprocess.run([sys.executable, "-c", SERVE, str(export_dir), *sentences],
                            capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def train_tiny(config, tmp_path, data_dir):
    """`python -m text.train --config <config>` into `tmp_path/run`; asserts
    the run succeeded and returns `(run_dir, the command's result)`."""
    run_dir = tmp_path / "run"
    result = harness.run_module(["-m", "text.train", "--config", config, "--data-dir",
                                 data_dir, "--run-dir", str(run_dir), "--set",
                                 "train.verbose=0"])
    harness.assert_trained_run(result, run_dir)
    return run_dir, result
