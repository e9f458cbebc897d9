import numpy as np
import pytest

from forecasting import data


def test_etth1_standard_split(data_dir):
    split = data.load_dataset("etth1", lookback=96, data_dir=data_dir)
    assert split.columns == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert split.train.shape == (8640, 7)
    # val/test reach back `lookback` rows into the previous part.
    assert split.val.shape == (2880 + 96, 7) and split.test.shape == (2880 + 96, 7)
    np.testing.assert_array_equal(split.val[:96], split.train[-96:])
    np.testing.assert_array_equal(split.test[:96], split.val[-96:])
    x, y = data.window_arrays(split.test, 96, 96)
    # Every window, stride 1, none dropped: 2880 - 96 + 1.
    assert x.shape == (2785, 96, 7) and y.shape == (2785, 96, 7)
    assert split.train[0, 0] == pytest.approx(5.827, abs=1e-3)


def test_windows_match_dataset():
    values = np.arange(40, dtype="float32").reshape(20, 2)
    x, y = data.window_arrays(values, 5, 3)
    assert x.shape == (13, 5, 2) and y.shape == (13, 3, 2)
    np.testing.assert_array_equal(x[4], values[4:9])
    np.testing.assert_array_equal(y[4], values[9:12])
    ds = list(data.window_dataset(values, 5, 3, batch_size=100).as_numpy_iterator())
    np.testing.assert_array_equal(ds[0][0], x)
    np.testing.assert_array_equal(ds[0][1], y)


def test_too_few_rows():
    with pytest.raises(ValueError) as e:
        data.window_arrays(np.zeros((7, 2)), 5, 3)
    assert str(e.value) == (
        "The series has 7 rows, too few for one window of lookback 5 + horizon 3 = 8 rows."
    )


def test_csv_loader_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("time,a,b\n2020-01-01,1,x\n2020-01-02,2,3\n")
    with pytest.raises(ValueError) as e:
        data.load_csv(path, time_column="time", columns=["a", "b"])
    assert str(e.value) == f"{path}: column 'b' is not numeric (value 'x' at data row 1)."
    with pytest.raises(ValueError) as e:
        data.load_csv(path, time_column="time", columns=["a", "c"])
    assert str(e.value) == f"{path}: column 'c' not found; columns are ['time', 'a', 'b']."
    with pytest.raises(ValueError, match="time column 'when' not found"):
        data.load_csv(path, time_column="when")
    with pytest.raises(FileNotFoundError, match="CSV file not found"):
        data.load_csv(tmp_path / "missing.csv")


def test_csv_missing_value_policies(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("t,a\n2020-01-01,\n2020-01-02,1\n2020-01-03,\n2020-01-04,\n2020-01-05,4\n")
    with pytest.raises(ValueError) as e:
        data.load_csv(path, time_column="t")
    assert str(e.value) == (
        f"{path}: missing value in column 'a' at data row 1 (3 rows have gaps); "
        "choose missing='interpolate' or 'drop'."
    )
    s = data.load_csv(path, time_column="t", missing="interpolate")
    # The leading gap cannot be filled and is dropped; the inner one is linear.
    np.testing.assert_allclose(s.values[:, 0], [1, 2, 3, 4])
    assert str(s.index[0])[:10] == "2020-01-02"
    with pytest.raises(ValueError, match="column 'a' has a gap of 2 rows, longer than max_gap=1"):
        data.load_csv(path, time_column="t", missing="interpolate", max_gap=1)
    assert data.load_csv(path, time_column="t", missing="drop").values[:, 0].tolist() == [1, 4]


def test_pollution_with_gaps(data_dir):
    split = data.load_dataset("pollution", lookback=24, data_dir=data_dir)
    assert split.columns[0] == "pm2.5"
    assert np.isfinite(split.train).all() and np.isfinite(split.test).all()
    # 43,824 hourly rows, less the leading rows with no pm2.5 reading.
    total = len(split.train) + len(split.val) + len(split.test) - 2 * 24
    assert 43_000 < total <= 43_824


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"Unknown dataset 'ett'; expected one of \['etth1'"):
        data.load_dataset("ett", 96)
