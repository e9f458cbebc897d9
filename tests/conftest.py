"""Shared test setup: quiet TensorFlow, the data directory, CPU only."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault(
    "PIPELINES_DATA_DIR", os.path.join(os.path.dirname(ROOT), "shared", "data")
)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts (and ends) with the float32 policy."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def data_dir():
    path = os.environ["PIPELINES_DATA_DIR"]
    if not os.path.isdir(path):
        pytest.skip(f"data directory {path} not present")
    return path
