import numpy as np
import pytest

from pipelines.losses import PinballLoss, delay_penalized_ctc
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


def test_delay_penalized_ctc_is_ctc_at_zero_and_prefers_early_emission():
    """At penalty 0 the loss and its gradient equal keras.ops.ctc_loss
    (repeated labels, padding, short lengths included); with a penalty, an
    alignment that emits earlier costs less than the same one later."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    logits = tf.Variable(rng.normal(size=(4, 30, 6)).astype("float32"))
    labels = np.array([[1, 2, 2, 3], [0, 1, 0, 0], [4, 4, 4, 0], [3, 0, 0, 0]], "int32")
    label_lengths, logit_lengths = np.array([4, 2, 3, 1]), np.array([30, 20, 25, 7])
    with tf.GradientTape(persistent=True) as tape:
        mine = delay_penalized_ctc(labels, logits, label_lengths, logit_lengths, blank=5)
        ref = keras.ops.ctc_loss(labels, logits, label_lengths, logit_lengths, mask_index=5)
    np.testing.assert_allclose(mine.numpy(), ref.numpy(), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(mine, logits).numpy(),
                               tape.gradient(ref, logits).numpy(), atol=1e-5)
    # One label over 10 frames, the logits saying it is at frame 2 or frame 7
    # (equally): the penalty makes the early alignment the likelier one.
    peaks = np.full((1, 10, 2), -5.0, "float32")
    peaks[0, :, 1] = 5.0                       # blank everywhere ...
    peaks[0, [2, 7], 0] = 5.0                  # ... but the label at 2 or 7
    peaks[0, [2, 7], 1] = -5.0
    one = (np.array([[0]]), np.array([1]), np.array([10]))
    plain = delay_penalized_ctc(one[0], peaks, one[1], one[2], blank=1)
    late = delay_penalized_ctc(one[0], peaks, one[1], one[2], blank=1, penalty=0.5)
    assert float(late[0]) > float(plain[0])
    x = tf.Variable(peaks)
    with tf.GradientTape() as tape:
        loss = delay_penalized_ctc(one[0], x, one[1], one[2], blank=1, penalty=0.5)
    grad = tape.gradient(loss, x).numpy()[0, :, 0]
    # Descent raises the label at frame 2 more than at frame 7.
    assert -grad[2] > -grad[7]
    with pytest.raises(ValueError, match="`penalty` must be >= 0; got penalty=-1"):
        delay_penalized_ctc(one[0], peaks, one[1], one[2], blank=1, penalty=-1)


def _restricted_by_enumeration(labels, logp, deadlines, blank):
    """-log of the summed probability of every alignment (all class strings
    of the frames) that spells `labels` with each label's frames at or
    before its deadline."""
    import itertools

    frames, classes = logp.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        index, spelled, previous, ok = [], [], blank, True
        for c in path:
            if c != blank and c != previous:
                spelled.append(c)
            index.append(len(spelled) - 1 if c != blank else None)
            previous = c
        if spelled != list(labels):
            continue
        for t, u in enumerate(index):
            if u is not None and t > deadlines[u]:
                ok = False
        if ok:
            total += np.exp(sum(logp[t, c] for t, c in enumerate(path)))
    return -np.log(total)


def test_ctc_with_deadlines_counts_only_the_alignments_in_time():
    """Each label's frames at or before its deadline: the loss equals the
    sum over exactly those alignments (enumerated), a deadline that cannot
    be met is moved to the earliest frame the label can take, and with
    deadlines past the end it is plain CTC."""
    import keras

    rng = np.random.default_rng(3)
    raw = rng.normal(size=(1, 6, 3)).astype("float32")
    logp = raw[0] - np.log(np.exp(raw[0]).sum(-1, keepdims=True))
    for labels, deadlines in (([0, 1], [1, 3]), ([0, 0], [2, 4]), ([1, 0], [4, 5]),
                              ([0, 1], [0, 1])):
        got = delay_penalized_ctc(np.array([labels]), raw, np.array([2]), np.array([6]),
                                  blank=2, deadlines=np.array([deadlines]))
        want = _restricted_by_enumeration(labels, logp, deadlines, blank=2)
        np.testing.assert_allclose(float(got[0]), want, rtol=1e-5)
    # Too early for the repeat (it needs a blank between): frame 2 is the first.
    early = delay_penalized_ctc(np.array([[0, 0]]), raw, np.array([2]), np.array([6]),
                                blank=2, deadlines=np.array([[0, 0]]))
    np.testing.assert_allclose(float(early[0]),
                               _restricted_by_enumeration([0, 0], logp, [0, 2], blank=2),
                               rtol=1e-5)
    # Deadlines at the end restrict nothing (padding labels ignored).
    batch = rng.normal(size=(2, 9, 4)).astype("float32")
    labels = np.array([[1, 2, 0], [2, 0, 0]], "int32")
    free = delay_penalized_ctc(labels, batch, np.array([3, 1]), np.array([9, 5]), blank=3,
                               deadlines=np.full((2, 3), 8))
    ref = keras.ops.ctc_loss(labels, batch, np.array([3, 1]), np.array([9, 5]),
                             mask_index=3)
    np.testing.assert_allclose(free.numpy(), np.asarray(ref), rtol=1e-5)
