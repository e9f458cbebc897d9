"""The one results writer every benchmark uses: a Markdown table (printed
and written to `bench/results/<name>.md`), the JSON row behind it
(`bench/results/<name>.json`) and a description of the machine it ran on, so
every number in the README can be traced to a file that says where it came
from.

    from report import write_results   # bench/ is on the path of a bench script
    write_results("sentiment", row, table)
"""

import datetime
import json
import os
import platform

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def machine():
    """What the numbers were measured on: cores, the process's nice value
    and the load when it finished (a shared machine slows training), the
    platform, and the library versions."""
    import keras
    import numpy as np
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"cpus": os.cpu_count(), "gpus": gpus, "nice": os.nice(0),
            "load_average": os.getloadavg(), "platform": platform.platform(),
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def write_results(name, row, table, ensure_ascii=True):
    """Prints `table` and writes `<name>.md` (the table) and `<name>.json`
    (`row`, plus `machine` and `date` unless the row has them) under
    bench/results/. Returns the two paths."""
    if isinstance(row, dict):
        row = {**row}
        row.setdefault("machine", machine())
        row.setdefault("date", datetime.date.today().isoformat())
    else:
        row = {"rows": row, "machine": machine(),
               "date": datetime.date.today().isoformat()}
    print(table)
    os.makedirs(RESULTS, exist_ok=True)
    md, js = (os.path.join(RESULTS, f"{name}.{ext}") for ext in ("md", "json"))
    with open(js, "w", encoding="utf-8") as fh:
        json.dump(row, fh, indent=2, ensure_ascii=ensure_ascii, default=str)
    with open(md, "w", encoding="utf-8") as fh:
        fh.write(table + "\n")
    return md, js
