"""Writing files so that nobody ever reads half of one, and JSON of numpy.

Every file or folder the toolkit leaves behind (a run's config, history and
metrics, a saved pipeline, an export, a manifest) is written here: into a
temporary sibling first, then renamed into place, so a reader (or a run
killed half-way) sees the old version or the new one, never a mixture.

Example:

>>> import json, os, tempfile
>>> import numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "m.json")
>>> write_json(path, {"mse": np.float32(0.5), "rows": np.arange(2)})
>>> json.load(open(path))
{'mse': 0.5, 'rows': [0, 1]}
"""

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile

import numpy as np


def jsonable(obj):
    """`obj` with numpy scalars and arrays (also inside dicts, lists and
    tuples) turned into plain Python numbers and lists, and dict keys into
    strings: what `json.dump` accepts."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _json_default(obj):
    # Anything else json cannot write (a path, a dtype) is written as text.
    converted = jsonable(obj)
    return str(obj) if converted is obj else converted


def dumps_json(obj, indent=2):
    """JSON text of `obj` (numpy values converted, anything else as `str`)."""
    return json.dumps(jsonable(obj), indent=indent, default=_json_default)


def utf8_lines(path):
    """Yields `(line number, line)` of a UTF-8 text file, line endings
    removed. A line that is not UTF-8 is one ValueError naming the file, the
    line and the first bad byte (and how to convert the file), not a bare
    `UnicodeDecodeError` from somewhere in the file.

    Example:

    >>> path = os.path.join(tempfile.mkdtemp(), "latin1.txt")
    >>> _ = open(path, "wb").write("ok\\ncafé\\n".encode("latin-1"))
    >>> list(utf8_lines(path))
    Traceback (most recent call last):
        ...
    ValueError: ...latin1.txt, line 2: not UTF-8 text (byte 0xe9 at column 4); convert the file to UTF-8 (for example: iconv -f latin1 -t utf-8).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{path}, line {number}: not UTF-8 text (byte {raw[e.start]:#04x} at column "
                    f"{e.start + 1}); convert the file to UTF-8 (for example: iconv -f latin1 "
                    "-t utf-8).") from None
            yield number, line.rstrip("\r\n")


def atomic_write_text(path, text, encoding="utf-8"):
    """Writes `text` to `path` so that a reader never sees half a file: into
    a temporary file in the same folder, flushed to disk, then renamed."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_json(path, default=None):
    """The JSON in `path`, or `default` (a fresh `{}` when None) if there is
    no such file."""
    if not os.path.exists(path):
        return {} if default is None else default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def update_json(path, updates):
    """Merges `updates` into the JSON object in `path` (a new one if none),
    writes it atomically and returns it."""
    current = read_json(path)
    current.update(updates)
    write_json(path, current)
    return current


def write_json(path, obj):
    """`atomic_write_text` of `dumps_json(obj)`."""
    atomic_write_text(path, dumps_json(obj))


def write_table(path, rows, integer_columns=("epoch", "member")):
    """Writes `rows` (dicts) as a CSV table, atomically; no rows removes the
    file. Columns are the union of the rows' keys in first-seen order; a
    value a row lacks is an empty cell; `integer_columns` are written as
    integers and the other values as exact floats (`repr`), so the table
    reads back to the same numbers."""
    if not rows:
        if os.path.exists(path):
            os.remove(path)
        return
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([
            "" if k not in row else
            str(int(row[k])) if k in integer_columns else repr(float(row[k]))
            for k in keys
        ])
    atomic_write_text(path, out.getvalue())


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(path):
    """Removes the temporary siblings `atomic_directory(path)` left behind
    when its process was killed (`.<name>.tmp-<pid>-*` of a process that is
    gone, and `.old` copies); those of a live process are kept. Returns the
    paths removed."""
    path = os.path.abspath(os.fspath(path))
    parent, prefix = os.path.dirname(path), f".{os.path.basename(path)}.tmp-"
    removed = []
    if not os.path.isdir(parent):
        return removed
    for name in os.listdir(parent):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and _pid_alive(int(pid)) and not name.endswith(".old"):
            continue
        shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        removed.append(os.path.join(parent, name))
    return removed


def save_sample(path, sample):
    """Writes an export's verification sample to the `.npz` file `path`,
    atomically: an array, or a list of str, bytes and arrays (bytes kept
    exactly, trailing NULs included).

    Example:

    >>> path = os.path.join(tempfile.mkdtemp(), "sample.npz")
    >>> save_sample(path, ["Hola.", b"\\x89PNG\\0", np.arange(3)])
    >>> load_sample(path)
    ['Hola.', b'\\x89PNG\\x00', array([0, 1, 2])]
    """
    if isinstance(sample, np.ndarray):
        arrays, kinds = {"item_0": sample}, ["array"]
    else:
        arrays, kinds = {}, []
        for i, item in enumerate(sample):
            if isinstance(item, str):
                arrays[f"item_{i}"], kind = np.array(item), "str"
            elif isinstance(item, (bytes, bytearray)):
                arrays[f"item_{i}"], kind = np.frombuffer(bytes(item), np.uint8), "bytes"
            else:
                arrays[f"item_{i}"], kind = np.asarray(item), "list_array"
            kinds.append(kind)
    arrays["kinds"] = np.array(kinds)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_sample(path):
    """The sample `save_sample` wrote."""
    with np.load(path, allow_pickle=False) as stored:
        kinds = [str(k) for k in stored["kinds"]]
        items = [stored[f"item_{i}"] for i in range(len(kinds))]
    if kinds == ["array"]:
        return items[0]
    return [str(v) if k == "str" else v.tobytes() if k == "bytes" else v
            for k, v in zip(kinds, items)]


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a fresh temporary directory beside `path`; when the block
    succeeds it replaces `path` (renames, so readers never see half a
    directory), and when it fails it is removed and `path` is left as it was.
    What a killed process left beside `path` is cleaned up first.

    Example:

    >>> target = os.path.join(tempfile.mkdtemp(), "out")
    >>> with atomic_directory(target) as tmp:
    ...     open(os.path.join(tmp, "a.txt"), "w").close()
    >>> os.listdir(target)
    ['a.txt']
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(path)
    # The pid in the name tells a later call whether its owner is gone.
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp-{os.getpid()}-")
    try:
        yield tmp
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
