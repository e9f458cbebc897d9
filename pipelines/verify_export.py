"""Reloads a SavedModel in a fresh process and checks an endpoint's outputs.

Run by `pipelines.export.verify_in_fresh_process`; it imports only TensorFlow
(plus any `--import` modules, such as `tensorflow_text`), so it proves that the
export needs no Python from this package.
"""

import argparse
import importlib
import sys

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("export_dir")
    parser.add_argument("--endpoint", default="serve")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--expected", required=True)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--import", dest="imports", action="append", default=[])
    args = parser.parse_args(argv)

    import tensorflow as tf

    for module in args.imports:
        importlib.import_module(module)
    loaded = tf.saved_model.load(args.export_dir)
    fn = getattr(loaded, args.endpoint)
    inputs = dict(np.load(args.inputs, allow_pickle=False))
    expected = dict(np.load(args.expected, allow_pickle=False))
    outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    if not isinstance(outputs, dict):
        outputs = {"output_0": outputs}
    failures = []
    for name, want in expected.items():
        if name not in outputs:
            failures.append(f"output {name!r} missing (have {sorted(outputs)})")
            continue
        got = outputs[name].numpy()
        if got.shape != want.shape:
            failures.append(f"output {name!r}: shape {got.shape} != {want.shape}")
        elif want.dtype.kind in "SUO":
            if [str(x) for x in np.char.decode(got.astype(bytes), "utf-8").ravel()] != [
                str(x) for x in want.astype(str).ravel()
            ]:
                failures.append(f"output {name!r}: strings differ")
        elif not np.allclose(got, want, rtol=args.rtol, atol=args.atol):
            diff = float(np.max(np.abs(got.astype("float64") - want)))
            failures.append(f"output {name!r}: max abs difference {diff:g}")
    if failures:
        print("; ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
