import numpy as np
import pytest

from forecasting.model import LinearForecaster, SegRNN, WindowNormalization
from tests import harness

RNG = np.random.default_rng(0)


def _segrnn(**kw):
    args = dict(lookback=24, horizon=12, channels=3, segment_length=6, units=8, dropout=0.1)
    args.update(kw)
    return SegRNN(**args)


def test_shapes_and_roundtrips(tmp_path):
    model = _segrnn()
    x = RNG.normal(size=(4, 24, 3)).astype("float32")
    assert model(x).shape == (4, 12, 3)
    clone = harness.assert_config_roundtrip(model)
    assert clone.segment_length == 6 and clone.channels == 3
    harness.assert_save_reload_equal(model, x, tmp_path)
    lin = LinearForecaster(24, 12, 3)
    harness.assert_config_roundtrip(lin)
    harness.assert_save_reload_equal(lin, x, tmp_path)


def test_last_value_normalisation_makes_level_shift_equivariant():
    model = _segrnn(cell_type="lstm", num_layers=2)
    x = RNG.normal(size=(2, 24, 3)).astype("float32")
    np.testing.assert_allclose(model(x + 10.0), model(x) + 10.0, atol=1e-4)


def test_window_normalisation_inverse():
    x = RNG.normal(size=(2, 10, 3)).astype("float32") * 3 + 5
    for mode in ("last", "revin", "none"):
        layer = WindowNormalization(mode)
        z, stats = layer(x)
        np.testing.assert_allclose(layer(z, stats=stats, inverse=True), x, atol=1e-4)


def test_fit_step_and_mixed_precision():
    x = RNG.normal(size=(8, 24, 3)).astype("float32")
    y = RNG.normal(size=(8, 12, 3)).astype("float32")
    harness.assert_fit_step(_segrnn(), x, y)
    for policy in ("mixed_float16", "mixed_bfloat16"):
        harness.assert_mixed_precision(_segrnn, x, y, policy)


def test_argument_errors():
    with pytest.raises(ValueError) as e:
        _segrnn(lookback=25)
    assert str(e.value) == (
        "Argument `lookback` must be a multiple of segment_length=6; got lookback=25."
    )
    with pytest.raises(ValueError, match="`horizon` must be a multiple of segment_length=6; got horizon=7"):
        _segrnn(horizon=7)
    with pytest.raises(ValueError, match=r"`mode` must be one of \['last', 'revin', 'none'\]"):
        WindowNormalization("zscore")


def test_layers_hold_up_on_their_own():
    from forecasting.model import SegmentQueries

    state = RNG.normal(size=(6, 8)).astype("float32")  # batch 2 x 3 channels
    harness.run_layer_test(lambda: SegmentQueries(4, 3, 8), [state],
                           expected_shapes=[(24, 1, 8)])
    x = RNG.normal(size=(2, 10, 3)).astype("float32")
    for mode in ("last", "revin", "none"):
        # No weights: nothing to train, but it must run, serialise and keep
        # its float32 statistics.
        harness.run_layer_test(lambda: WindowNormalization(mode), [x], train=False)


def test_dtype_policy_is_part_of_the_model_config(tmp_path):
    x = RNG.normal(size=(2, 24, 3)).astype("float32")
    harness.assert_reloads_with_its_policy(_segrnn, x, tmp_path, ["segment_embedding"],
                                           ["head"])


def test_quantile_heads(tmp_path):
    x = RNG.normal(size=(4, 24, 3)).astype("float32")
    y = RNG.normal(size=(4, 12, 3)).astype("float32")
    from pipelines.losses import PinballLoss

    for make in (lambda: _segrnn(quantiles=[0.1, 0.5, 0.9]),
                 lambda: LinearForecaster(24, 12, 3, quantiles=[0.1, 0.5, 0.9])):
        model = make()
        out = np.asarray(model(x))
        assert out.shape == (4, 12, 3, 3)
        assert (np.diff(out, axis=-1) >= 0).all()  # sorted: never crossing
        assert harness.assert_config_roundtrip(model).quantiles == [0.1, 0.5, 0.9]
        harness.assert_save_reload_equal(model, x, tmp_path)
        harness.assert_fit_step(make(), x, y, loss=PinballLoss([0.1, 0.5, 0.9]))
    # Last-value normalisation shifts every quantile with the level.
    model = _segrnn(quantiles=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(model(x + 10.0), np.asarray(model(x)) + 10.0, atol=1e-4)
    with pytest.raises(ValueError, match=r"`quantiles` must be in increasing order, each once; "
                                         r"got quantiles=\[0.9, 0.1\]"):
        _segrnn(quantiles=[0.9, 0.1])


def test_shared_decoder_is_the_encoder_s_own_layer(tmp_path):
    x = RNG.normal(size=(4, 24, 3)).astype("float32")
    y = RNG.normal(size=(4, 12, 3)).astype("float32")
    shared, separate = _segrnn(shared_decoder=True), _segrnn()
    names = {layer.name for layer in shared.layers}
    assert "decoder" not in names and "decoder" in {layer.name for layer in separate.layers}
    # One GRU's weights fewer: the decoder's kernel, recurrent kernel and bias.
    gru = separate.get_layer("decoder").count_params()
    assert shared.count_params() == separate.count_params() - gru
    assert shared(x).shape == (4, 12, 3)
    assert harness.assert_config_roundtrip(shared).shared_decoder is True
    harness.assert_save_reload_equal(shared, x, tmp_path)
    harness.assert_fit_step(_segrnn(shared_decoder=True), x, y)
    with pytest.raises(ValueError) as e:
        _segrnn(shared_decoder=True, num_layers=2)
    assert str(e.value) == ("Argument `shared_decoder` needs num_layers=1 (got 2): the decoder "
                            "step is one layer; got shared_decoder=True.")


def _hour_features(hours):
    phase = 2 * np.pi * np.asarray(hours) / 24
    return np.stack([np.sin(phase), np.cos(phase)], axis=-1).astype("float32")


def test_learned_cycle_is_taken_out_of_the_lookback_and_put_into_the_forecast(tmp_path):
    from forecasting.model import LearnedCycle

    # No training step here: the table starts at zero, where MSE to zero has
    # no gradient; the pipeline test checks that it learns.
    layer = harness.run_layer_test(lambda: LearnedCycle(24, 3),
                                   [np.array([[0, 5, 25]], "int32")],
                                   expected_shapes=[(1, 3, 3)], train=False)
    layer.table.assign(np.arange(72, dtype="float32").reshape(24, 3))
    np.testing.assert_array_equal(layer(np.array([[1, 25, -23]]))[0], [[3, 4, 5]] * 3)
    # hour_of_day is the second future feature pair (a numeric covariate first).
    model = _segrnn(future_covariates=3, cycle_length=24, cycle_feature=1)
    hours = (np.arange(36) + 7) % 24  # the window starts at 07:00
    future = np.concatenate([RNG.normal(size=(1, 12, 1)).astype("float32"),
                             _hour_features(hours[24:])[None]], axis=-1)
    x = RNG.normal(size=(1, 24, 3)).astype("float32")
    table = RNG.normal(size=(24, 3)).astype("float32")
    plain = np.asarray(model({"history": x, "future_covariates": future}))
    model.get_layer("cycle").table.assign(table)
    cyclic = np.asarray(model({"history": x + table[hours[:24]], "future_covariates": future}))
    # The network sees the same residual window, and the cycle comes back at
    # the forecast's own hours.
    np.testing.assert_allclose(cyclic, plain + table[hours[24:]], atol=1e-5)
    clone = harness.assert_config_roundtrip(model)
    assert (clone.cycle_length, clone.cycle_feature) == (24, 1)
    harness.assert_save_reload_equal(model, {"history": x, "future_covariates": future}, tmp_path)
    with pytest.raises(ValueError) as e:
        _segrnn(future_covariates=1, cycle_length=24)
    assert str(e.value) == ("Argument `cycle_feature` must index the sine and cosine of a phase "
                            "among the 1 future covariate features; got cycle_feature=0.")


def test_query_stddev_sets_the_query_spread_and_round_trips():
    wide, narrow = _segrnn(units=64, query_stddev=1.0), _segrnn(units=64)
    for model in (wide, narrow):
        model(RNG.normal(size=(1, 24, 3)).astype("float32"))
    spread = lambda m: float(np.std(m.get_layer("queries").position.numpy()))
    # 2 segments x 32 values each: loose bounds, far apart.
    assert 0.6 < spread(wide) < 1.4 and spread(narrow) < 0.1
    clone = harness.assert_config_roundtrip(wide)
    assert clone.query_stddev == 1.0
    assert clone.get_layer("queries").get_config()["stddev"] == 1.0
    with pytest.raises(ValueError) as e:
        _segrnn(query_stddev=0)
    assert str(e.value) == "Argument `query_stddev` must be a positive number; got query_stddev=0."
