import itertools

import numpy as np
import tensorflow as tf

from pipelines import decoding

EOS, BOS = 2, 0


def _bigram(seed=0, vocab=4):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(vocab) * 0.7, size=vocab).astype("float32")
    return tf.math.log(tf.constant(p)), np.log(p)


def _best_by_brute_force(logp, max_length):
    vocab = logp.shape[0]
    best, best_seq = -np.inf, None
    for n in range(1, max_length + 1):
        for seq in itertools.product(range(vocab), repeat=n):
            if EOS in seq[:-1] or (n < max_length and seq[-1] != EOS):
                continue
            score, prev = 0.0, BOS
            for tok in seq:
                score += logp[prev, tok]
                prev = tok
            if score > best:
                best, best_seq = score, list(seq)
    return best_seq


def _decode(table, batch, width, max_length, penalty=0.0):
    step = lambda tokens, s: (tf.gather(table, tokens), s)  # noqa: E731
    ids, lengths = decoding.beam_search(step, tf.zeros([batch * width, 1]), batch, BOS, EOS,
                                        max_length, beam_width=width, length_penalty=penalty)
    return ids.numpy(), lengths.numpy()


def test_wide_beam_finds_the_most_likely_sequence():
    for seed in range(5):
        table, logp = _bigram(seed)
        ids, lengths = _decode(table, 1, width=64, max_length=4)
        want = _best_by_brute_force(logp, 4)
        assert ids[0, :lengths[0]].tolist() == want, seed
        assert ids[0, lengths[0]:].tolist() == [0] * (4 - lengths[0])


def test_width_one_is_greedy():
    table, logp = _bigram(3)
    ids, lengths = _decode(table, 1, width=1, max_length=5)
    prev, greedy = BOS, []
    for _ in range(5):
        prev = int(np.argmax(logp[prev]))
        greedy.append(prev)
        if prev == EOS:
            break
    assert ids[0, :lengths[0]].tolist() == greedy


def test_batched_graph_and_savedmodel_agree(tmp_path):
    vocab, units = 5, 3
    rng = np.random.default_rng(0)
    emb = tf.constant(rng.normal(size=(vocab, units)).astype("float32"))
    out = tf.constant(rng.normal(size=(units, vocab)).astype("float32"))

    class Decoder(tf.Module):
        """A tiny stateful decoder whose state depends on each example."""

        @tf.function(input_signature=[tf.TensorSpec([None, units], tf.float32)])
        def decode(self, start):
            width = 3
            batch = tf.shape(start)[0]

            def step(tokens, state):
                h = tf.tanh(state + tf.gather(emb, tokens))
                return h @ out * 3.0, h

            ids, _ = decoding.beam_search(step, decoding.tile_beams(start, width), batch,
                                          BOS, EOS, 6, beam_width=width)
            return ids

    module = Decoder()
    start = rng.normal(size=(4, units)).astype("float32")
    together = module.decode(start).numpy()
    alone = np.concatenate([module.decode(start[i:i + 1]).numpy() for i in range(4)])
    np.testing.assert_array_equal(together, alone)
    tf.saved_model.save(module, str(tmp_path / "m"))
    reloaded = tf.saved_model.load(str(tmp_path / "m"))
    np.testing.assert_array_equal(reloaded.decode(start).numpy(), together)


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    blank = 3
    frames = [0, 0, blank, 0, 1, 1, blank, blank, 2]
    logits = np.full((1, len(frames), 4), -5.0, "float32")
    logits[0, np.arange(len(frames)), frames] = 5.0
    ids = decoding.ctc_decode(logits, np.array([len(frames)]), blank).numpy()
    assert ids[0][ids[0] >= 0].tolist() == [0, 0, 1, 2]
    beam = decoding.ctc_decode(logits, np.array([len(frames)]), blank, beam_width=4).numpy()
    assert beam[0][beam[0] >= 0].tolist() == [0, 0, 1, 2]
    # Only the first 5 frames count when the length says so.
    short = decoding.ctc_decode(logits, np.array([5]), blank).numpy()
    assert short[0][short[0] >= 0].tolist() == [0, 0, 1]
