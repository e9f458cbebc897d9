import numpy as np
import pytest

from pipelines.losses import PinballLoss
from tests import harness


def test_pinball_loss_values_and_config():
    loss = PinballLoss([0.1, 0.5, 0.9])
    y = np.array([[1.0, -2.0]], "float32")
    pred = np.array([[[0.0, 1.0, 3.0], [-2.0, -2.0, -2.0]]], "float32")
    # Errors y - pred: (1, 0, -2) then zeros; pinball: 0.1 * 1, 0, 0.1 * 2.
    np.testing.assert_allclose(float(loss(y, pred)), (0.1 + 0.2) / 6, rtol=1e-6)
    clone = PinballLoss.from_config(loss.get_config())
    assert clone.quantiles == [0.1, 0.5, 0.9]
    with pytest.raises(ValueError) as e:
        PinballLoss([0.5, 1.0])
    assert str(e.value) == ("Argument `quantiles` must be levels in (0, 1); got "
                            "quantiles=[0.5, 1.0].")


def test_pinball_loss_is_minimised_by_the_quantile():
    # The constant minimising the mean pinball loss at q is the q-quantile.
    y = np.random.default_rng(0).exponential(size=(2000, 1)).astype("float32")
    grid = np.linspace(0, 4, 401, dtype="float32")
    loss = PinballLoss([0.9])
    values = [float(loss(y, np.full((2000, 1, 1), c, "float32"))) for c in grid]
    assert abs(grid[int(np.argmin(values))] - np.quantile(y, 0.9)) < 0.02


def test_a_quantile_model_trains_with_it():
    import keras

    x = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    y = x[:, :1] * 2
    inputs = keras.Input((4,))
    out = keras.layers.Reshape((1, 3))(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, out)
    losses = harness.assert_fit_step(model, x, y, loss=PinballLoss([0.1, 0.5, 0.9]),
                                     steps=20)
    assert losses[-1] < losses[0]
