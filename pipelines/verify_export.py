"""Reloads a SavedModel in a fresh process and checks an endpoint's outputs.

Run by `pipelines.export.verify_in_fresh_process`; it imports only TensorFlow
(plus any `--import` modules, such as `tensorflow_text`), so it proves that the
export needs no Python from this package.

Two ways to run it: once per export (`EXPORT_DIR --inputs ... --expected
...`; exit status 0 and "ok", or 1 and what differs), or as a verifier that
stays up for the exports of one parent (`--serve`): one JSON request per
line on stdin (`export_dir`, `endpoint`, `inputs`, `expected`, `rtol`,
`atol`), one `RESULT_PREFIX` line of JSON (`ok`, `message`) per request on
stdout, until stdin closes. Each request loads its SavedModel anew and
drops it after; the process never imports this package's code, so it is as
fresh for the tenth export as for the first (a server is started for one
set of `--import` modules only, so no export borrows another's imports).
"""

import argparse
import gc
import importlib
import json
import sys
import traceback

import numpy as np

#: Marks the result lines of `--serve` on stdout (anything else a library
#: prints there is not a result).
RESULT_PREFIX = "@@verify-export-result "


def verify(export_dir, endpoint, inputs, expected, rtol=1e-4, atol=1e-4):
    """The differences between `endpoint`'s outputs on the arrays of the
    `.npz` file `inputs` and those of `expected`, as a list of strings
    (empty: it reproduces them)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir)
    fn = getattr(loaded, endpoint)
    inputs = dict(np.load(inputs, allow_pickle=False))
    expected = dict(np.load(expected, allow_pickle=False))
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
        elif not np.allclose(got, want, rtol=rtol, atol=atol):
            diff = float(np.max(np.abs(got.astype("float64") - want)))
            failures.append(f"output {name!r}: max abs difference {diff:g}")
    return failures


def serve(stdin=sys.stdin, stdout=sys.stdout):
    """Answers verification requests, one JSON line each, until EOF."""
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            failures = verify(request["export_dir"], request["endpoint"], request["inputs"],
                              request["expected"], request["rtol"], request["atol"])
            result = {"ok": not failures, "message": "; ".join(failures) or "ok"}
        except Exception:  # noqa: BLE001 - the parent reports it as the export's failure
            result = {"ok": False, "message": traceback.format_exc()}
        # The loaded SavedModel goes before the next one comes.
        gc.collect()
        stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        stdout.flush()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("export_dir", nargs="?")
    parser.add_argument("--endpoint", default="serve")
    parser.add_argument("--inputs")
    parser.add_argument("--expected")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--import", dest="imports", action="append", default=[])
    parser.add_argument("--serve", action="store_true",
                        help="answer JSON requests on stdin until it closes")
    args = parser.parse_args(argv)
    if not args.serve and not (args.export_dir and args.inputs and args.expected):
        parser.error("give EXPORT_DIR --inputs --expected, or --serve")

    import tensorflow as tf  # noqa: F401 - before the imports that register ops in it

    for module in args.imports:
        importlib.import_module(module)
    if args.serve:
        return serve()
    failures = verify(args.export_dir, args.endpoint, args.inputs, args.expected,
                      args.rtol, args.atol)
    if failures:
        print("; ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
