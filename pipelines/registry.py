"""The domains the umbrella CLI knows, by module name only.

`pipelines` never imports a domain at import time; the CLI imports the task
module named here when a command asks for that domain.
"""

import importlib

DOMAINS = {
    "forecasting": "forecasting.task",
    "speech": "speech.task",
    "text": "text.task",
    "vision_caption": "vision_caption.task",
}


def get_task(domain):
    """The domain's `pipelines.task.Task` (its task module's `TASK`)."""
    if domain not in DOMAINS:
        raise ValueError(
            f"Unknown domain {domain!r}; available: {sorted(DOMAINS)}."
        )
    return importlib.import_module(DOMAINS[domain]).TASK
