import numpy as np
import pytest

from forecasting import conformal
from forecasting.metrics import quantile_metrics


def test_served_quantiles_and_levels():
    assert conformal.served_quantiles(None, []) == []
    assert conformal.served_quantiles(None, [0.8]) == [0.1, 0.5, 0.9]
    assert conformal.served_quantiles([0.1, 0.5, 0.9], [0.95]) == [0.025, 0.1, 0.5, 0.9, 0.975]
    assert conformal.central_levels([0.025, 0.1, 0.5, 0.9, 0.975]) == [0.8, 0.95]
    assert conformal.central_levels([0.1, 0.5, 0.8]) == []
    # The base of a served quantile: the model's own, else its nearest on
    # the same side of the median; a point model's is the point forecast.
    mq = [0.1, 0.5, 0.9]
    assert [conformal.base_index(q, mq) for q in (0.025, 0.1, 0.5, 0.9, 0.975)] == [0, 0, 1, 2, 2]
    assert conformal.base_index(0.9, None) is None


def test_offsets_are_the_conformal_ranks_of_the_scores():
    # Scores 1..9 (n = 9): the 0.9 quantile takes the ceil(10 * 0.9) = 9th
    # smallest, the 0.1 quantile the floor(10 * 0.1) = 1st.
    y = np.arange(1, 10, dtype="float64").reshape(9, 1, 1)
    cal = conformal.Calibration.fit(y, np.zeros_like(y), None, [0.1, 0.5, 0.9])
    assert cal.offsets[:, 0, 0].tolist() == [1.0, 0.0, 9.0] and cal.windows == 9
    q = cal.apply(np.zeros((2, 1, 1)), None, None)
    # The calibrated 0.1 quantile (1) lies above the median (the point, 0):
    # sorted, the served quantiles never cross.
    assert q.shape == (2, 1, 1, 3) and q[0, 0, 0].tolist() == [0.0, 1.0, 9.0]
    # A quantile model's own quantiles are the bases: offsets correct them.
    out = np.stack([y - 2, y, y + 5], axis=-1)
    cal = conformal.Calibration.fit(y, y, out, [0.1, 0.5, 0.9], [0.1, 0.5, 0.9])
    assert cal.offsets[:, 0, 0].tolist() == [2.0, 0.0, -5.0]
    restored = conformal.Calibration.from_dict(cal.to_dict())
    np.testing.assert_array_equal(restored.offsets, cal.offsets)
    with pytest.raises(ValueError) as e:
        conformal.Calibration.fit(y, np.zeros_like(y), None, [0.025, 0.5, 0.975])
    assert str(e.value) == (
        "9 calibration windows are too few for the quantile 0.025: split conformal needs "
        "at least 39; use a longer validation series or a less extreme level.")


def test_calibrated_intervals_cover_new_data_at_their_level():
    # A biased, overconfident point forecast: conformal offsets fix both.
    rng = np.random.default_rng(0)
    def draw(n):
        y = rng.normal(loc=1.0, scale=2.0, size=(n, 3, 2))
        return y, np.zeros_like(y)
    cal = conformal.Calibration.fit(*draw(2000), None, [0.025, 0.1, 0.5, 0.9, 0.975])
    y, point = draw(20000)
    q = cal.apply(point, None, None)
    m = quantile_metrics(y, q, cal.quantiles, levels=[0.8, 0.95])
    assert abs(m["coverage_80"] - 0.8) < 0.02 and abs(m["coverage_95"] - 0.95) < 0.01
    # Width of a N(1, 2) 80% interval: 2 * 1.2816 * 2.
    assert abs(m["width_80"] - 5.13) < 0.3


def test_quantile_metrics_on_known_values():
    y = np.array([0.5, 2.0]).reshape(1, 2, 1)
    pred = np.array([-1.0, 0.0, 1.0]) * np.ones((1, 2, 1, 3))
    m = quantile_metrics(y, pred, [0.1, 0.5, 0.9], levels=[0.8])
    # Pinball per (step, level): step 1 errors (1.5, 0.5, -0.5) -> (0.15, 0.25, 0.05);
    # step 2 errors (3, 2, 1) -> (0.3, 1.0, 0.9).
    pinball = np.array([[0.15, 0.25, 0.05], [0.3, 1.0, 0.9]])
    assert m["coverage_80"] == 0.5 and m["width_80"] == 2.0
    np.testing.assert_allclose(m["crps"], 2 * pinball.mean())
    np.testing.assert_allclose(m["wql"], np.mean(2 * pinball.sum(axis=0) / 2.5))
    with pytest.raises(ValueError) as e:
        quantile_metrics(y, pred, [0.1, 0.5, 0.9], levels=[0.95])
    assert str(e.value) == ("The interval level 0.95 needs the quantiles 0.025 and 0.975; "
                            "these forecasts have [0.1, 0.5, 0.9].")
