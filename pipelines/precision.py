"""One place that sets the dtype policy.

`float32`, `mixed_float16`, `mixed_bfloat16`, or `auto`: mixed precision on a
GPU that has fast half-precision math, float32 elsewhere (on a CPU, mixed
precision is slower, not faster). Heads and losses stay in float32: build
output layers with `dtype=HEAD_DTYPE`. Keras wraps the optimizer in a
`LossScaleOptimizer` under `mixed_float16` by itself when the model is
compiled, so nothing here scales losses by hand.

Example:

>>> set_precision("float32")
'float32'
"""

import contextlib

import keras
import tensorflow as tf

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "auto")

# Output heads (softmax, regression) and losses run in float32: half precision
# softmax and CTC/MSE reductions lose too much.
HEAD_DTYPE = "float32"


def resolve(name):
    """Returns the concrete policy name that `name` stands for on this machine."""
    if name not in POLICIES:
        raise ValueError(
            f"Unknown precision {name!r}; expected one of {list(POLICIES)}."
        )
    if name != "auto":
        return name
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "float32"
    details = tf.config.experimental.get_device_details(gpus[0])
    capability = details.get("compute_capability") or (0, 0)
    if tuple(capability) >= (8, 0):
        # Ampere and newer: bfloat16 has float32's range, so no loss scaling.
        return "mixed_bfloat16"
    if tuple(capability) >= (7, 0):
        return "mixed_float16"
    return "float32"


def set_precision(name):
    """Sets the global Keras dtype policy and returns the resolved name."""
    resolved = resolve(name)
    keras.config.set_dtype_policy(resolved)
    return resolved


def current():
    return keras.config.dtype_policy().name


class policy_scope:
    """Context manager: build layers under policy `name`, then restore.

    Layers keep the policy they were created with, so a pipeline can build a
    mixed-precision model without leaving the global policy changed.

    Example:

    >>> with policy_scope("mixed_bfloat16"):
    ...     layer = keras.layers.Dense(2)
    >>> layer.compute_dtype, current()
    ('bfloat16', 'float32')
    """

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self._previous = keras.config.dtype_policy()
        return set_precision(self.name)

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self._previous)
        return False


@contextlib.contextmanager
def dtype_scope(dtype=None):
    """Context manager: every layer created inside takes the dtype policy
    `dtype` (a policy name, a `keras.DTypePolicy` or its serialised dict;
    None: the policy in force). Yields the policy.

    A model that builds its layers inside `dtype_scope(dtype)` and stores
    its policy in `get_config` is rebuilt with that policy by
    `keras.models.load_model`, whatever the global policy is then.

    Example:

    >>> with dtype_scope("mixed_float16") as policy:
    ...     layer = keras.layers.Dense(2)
    >>> layer.compute_dtype, policy.name, current()
    ('float16', 'mixed_float16', 'float32')
    """
    previous = keras.config.dtype_policy()
    policy = previous if dtype is None else keras.dtype_policies.get(dtype)
    keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)
