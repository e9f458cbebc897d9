"""Quiet by default: TensorFlow's native log lines kept off the terminal.

TensorFlow's C++ side writes lines such as `I0000 00:00:... cudart_stub.cc:31]
Could not find cuda drivers ...` and `WARNING: All log messages before
absl::InitializeLog() ...` straight to file descriptor 2, before and despite
`TF_CPP_MIN_LOG_LEVEL`. The CLI filters them out of stderr (everything else,
Python's own logging and errors included, passes through unchanged);
`--native-logs` or `PIPELINES_NATIVE_LOGS=1` shows them.

Example:

>>> bool(NATIVE_LINE.match("I0000 00:00:1796161646.766385   13872 port.cc:153] oneDNN"))
True
>>> bool(NATIVE_LINE.match("normalizer.cc(51) LOG(INFO) precompiled_charsmap is empty."))
True
>>> bool(NATIVE_LINE.match("error: the run directory has no model"))
False
"""

import atexit
import logging
import os
import re
import sys
import threading

ENV_VAR = "PIPELINES_NATIVE_LOGS"

# absl/glog lines (I/W/E + date + thread + file:line]) and the continuation
# lines TensorFlow prints after some of them. Fatal (F) lines stay visible.
NATIVE_LINE = re.compile(
    r"^(?:[IWE]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate"
    # SentencePiece's own INFO lines ("normalizer.cc(51) LOG(INFO) ...").
    r"|\w+\.cc\(\d+\) LOG\(INFO\)"
    r")"
)

_installed = []


def quiet_native_logs():
    """Filters native log lines out of this process's stderr (fd 2), from
    now until exit. Does nothing when `PIPELINES_NATIVE_LOGS` is set, or when
    already installed. Also sets `TF_CPP_MIN_LOG_LEVEL=2` (unless set) for
    the TensorFlow versions that honour it."""
    if os.environ.get(ENV_VAR) or _installed:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:  # no real fd 2 (embedded interpreters): leave it be
        return
    sink = os.fdopen(original, "wb", buffering=0)

    def pump():
        with os.fdopen(read_end, "rb") as source:
            for line in source:
                if not NATIVE_LINE.match(line.decode("utf-8", "replace")):
                    sink.write(line)

    thread = threading.Thread(target=pump, name="native-log-filter", daemon=True)
    thread.start()

    def restore():
        # Pointing fd 2 back closes the pipe's write end: the pump reads to
        # the end and stops.
        logging.shutdown()
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        try:
            os.dup2(original, 2)
        except OSError:  # the saved stderr is gone already (closed by a test harness)
            return
        thread.join(timeout=2)

    atexit.register(restore)
    _installed.append(thread)
