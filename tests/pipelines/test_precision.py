import keras
import numpy as np
import pytest

from pipelines import precision
from pipelines.blocks import RecurrentEncoder
from tests import harness


def _build():
    inp = keras.Input((6, 3))
    x = RecurrentEncoder(8, cell_type="gru", bidirectional=True, return_sequences=False)(inp)
    out = keras.layers.Dense(2, dtype=precision.HEAD_DTYPE)(x)
    return keras.Model(inp, out)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_policy_trains_one_step(policy):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6, 3)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    harness.assert_mixed_precision(_build, x, y, policy)
    # The scope restores the global policy.
    assert precision.current() == "float32"


def test_auto_is_float32_on_cpu():
    assert precision.resolve("auto") == "float32"
    assert precision.resolve("mixed_bfloat16") == "mixed_bfloat16"


def test_unknown_policy():
    with pytest.raises(ValueError) as e:
        precision.set_precision("fp8")
    assert str(e.value) == (
        "Unknown precision 'fp8'; expected one of "
        "['float32', 'mixed_float16', 'mixed_bfloat16', 'auto']."
    )
