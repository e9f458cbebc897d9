"""Graph-safe decoding shared by the pipelines.

CTC greedy and beam search wrap `keras.ops.ctc_decode`; `ids_to_text` turns
label ids into strings with TensorFlow ops only, so the same code runs eagerly,
in `tf.function` and inside an exported SavedModel.
"""

import keras
import tensorflow as tf


def ctc_decode(logits, lengths, blank_index, beam_width=1):
    """Decodes CTC outputs.

    Args:
        logits: float `[batch, time, classes]` (logits or log-probabilities).
        lengths: int `[batch]` valid frames of each utterance.
        blank_index: index of the CTC blank class.
        beam_width: 1 for greedy decoding, more for beam search.

    Returns:
        int32 `[batch, time]` label ids, padded with -1.
    """
    logits = tf.cast(logits, tf.float32)
    if beam_width <= 1:
        decoded, _ = keras.ops.ctc_decode(
            logits, lengths, strategy="greedy", mask_index=blank_index
        )
    else:
        # tf.nn.ctc_beam_search_decoder scores log-probabilities.
        decoded, _ = keras.ops.ctc_decode(
            tf.nn.log_softmax(logits), lengths, strategy="beam_search",
            beam_width=beam_width, top_paths=1, mask_index=blank_index,
        )
    return decoded[0]


def ids_to_text(ids, alphabet, separator=""):
    """int `[batch, steps]` ids (padded with -1) -> string `[batch]`.

    Ids outside `alphabet` (padding, blanks) are dropped; runs of spaces are
    collapsed and the result stripped.
    """
    table = tf.constant(list(alphabet))
    ids = tf.convert_to_tensor(ids)
    valid = tf.logical_and(ids >= 0, ids < len(alphabet))
    ragged = tf.ragged.boolean_mask(ids, valid)
    chars = tf.gather(table, ragged)
    text = tf.strings.reduce_join(chars, axis=-1, separator=separator)
    text = tf.strings.regex_replace(text, " +", " ")
    return tf.strings.strip(text)


def tile_beams(tensor, beam_width):
    """Repeats each batch row `beam_width` times: `[b, ...] -> [b * k, ...]`
    (rows of one example stay adjacent, the layout `beam_search` uses)."""
    return tf.repeat(tensor, beam_width, axis=0)


def _gather_beams(tensor, indices, batch_size, beam_width):
    """Picks beams `indices [b, k]` from a `[b * k, ...]` tensor."""
    shape = tf.shape(tensor)
    folded = tf.reshape(tensor, tf.concat([[batch_size, beam_width], shape[1:]], 0))
    picked = tf.gather(folded, indices, batch_dims=1)
    return tf.reshape(picked, shape)


def beam_search(step_fn, state, batch_size, bos_id, eos_id, max_length, beam_width=4,
                length_penalty=0.6, pad_id=0):
    """Batched beam search for an autoregressive decoder, in graph-safe TF ops.

    Runs eagerly, inside `tf.function` and in an exported SavedModel (one
    `tf.while_loop`, fixed shapes). `beam_width=1` is greedy decoding.

    Args:
        step_fn: `(tokens int32 [n], state) -> (logits [n, vocab], state)`
            with `n = batch_size * beam_width`; `state` is any nested
            structure of tensors with leading dimension `n` (build it with
            `tile_beams`; anything constant per example, like the encoder
            memory, can be captured pre-tiled by `step_fn` instead).
        state: the initial decoder state, already tiled.
        batch_size: scalar (may be a tensor).
        bos_id, eos_id, pad_id: special token ids.
        max_length: maximum number of generated tokens (EOS included).
        beam_width: beams kept per example.
        length_penalty: GNMT's alpha: finished hypotheses are ranked by
            `log_prob / ((5 + length) / 6) ** alpha`; 0 ranks by log-prob.

    Returns:
        `(ids int32 [batch, max_length], lengths int32 [batch])`: the best
        hypothesis per example, EOS included, padded with `pad_id`.

    Example:

    A bigram "model" (row: previous token, column: next token; 2 is EOS)
    where the greedy first choice leads nowhere:

    >>> table = tf.math.log(tf.constant([[0.1, 0.5, 0.4], [0.5, 0.1, 0.4],
    ...                                  [1.0, 1e-9, 1e-9]]))
    >>> step = lambda tokens, s: (tf.gather(table, tokens), s)
    >>> def decode(width):
    ...     ids, n = beam_search(step, tf.zeros([width, 1]), 1, bos_id=0, eos_id=2,
    ...                          max_length=4, beam_width=width, length_penalty=0.0)
    ...     return ids.numpy().tolist(), n.numpy().tolist()
    >>> decode(1)  # greedy
    ([[1, 0, 1, 0]], [4])
    >>> decode(2)
    ([[2, 0, 0, 0]], [1])
    """
    k = int(beam_width)
    neg_inf = tf.constant(-1e9, tf.float32)
    # Only the first beam is alive at the start, so the k beams differ.
    log_probs = tf.tile(
        tf.concat([[0.0], tf.fill([k - 1], neg_inf)], 0)[None, :], [batch_size, 1]
    )
    seqs = tf.fill([batch_size, k, max_length], tf.cast(pad_id, tf.int32))
    finished = tf.zeros([batch_size, k], tf.bool)
    lengths = tf.zeros([batch_size, k], tf.int32)
    tokens = tf.fill([batch_size * k], tf.cast(bos_id, tf.int32))
    positions = tf.range(max_length)[None, None, :]

    def body(t, tokens, state, seqs, log_probs, finished, lengths):
        logits, state = step_fn(tokens, state)
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocab = tf.shape(logp)[-1]
        logp = tf.reshape(logp, [batch_size, k, vocab])
        # A finished beam only extends with EOS at no cost.
        eos_row = tf.where(tf.range(vocab) == eos_id, 0.0, neg_inf)
        logp = tf.where(finished[..., None], eos_row[None, None, :], logp)
        total = tf.reshape(log_probs[..., None] + logp, [batch_size, k * vocab])
        log_probs, flat = tf.math.top_k(total, k=k)
        beam = flat // vocab
        token = tf.cast(flat % vocab, tf.int32)
        was_finished = tf.gather(finished, beam, batch_dims=1)
        lengths = tf.gather(lengths, beam, batch_dims=1) + tf.cast(~was_finished, tf.int32)
        seqs = tf.gather(seqs, beam, batch_dims=1)
        written = tf.where(was_finished, tf.cast(pad_id, tf.int32), token)
        seqs = tf.where(positions == t, written[..., None], seqs)
        finished = was_finished | tf.equal(token, eos_id)
        state = tf.nest.map_structure(lambda s: _gather_beams(s, beam, batch_size, k), state)
        return t + 1, tf.reshape(token, [-1]), state, seqs, log_probs, finished, lengths

    def cond(t, tokens, state, seqs, log_probs, finished, lengths):
        return tf.logical_and(t < max_length, ~tf.reduce_all(finished))

    _, _, _, seqs, log_probs, finished, lengths = tf.while_loop(
        cond, body, [tf.constant(0), tokens, state, seqs, log_probs, finished, lengths],
        shape_invariants=[
            tf.TensorShape([]), tf.TensorShape([None]),
            tf.nest.map_structure(lambda s: tf.TensorShape([None]).concatenate(s.shape[1:]), state),
            tf.TensorShape([None, k, None]), tf.TensorShape([None, k]),
            tf.TensorShape([None, k]), tf.TensorShape([None, k]),
        ],
    )
    penalty = tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, length_penalty)
    # Unfinished hypotheses (hit max_length) compete too, as in most toolkits.
    best = tf.argmax(log_probs / penalty, axis=-1, output_type=tf.int32)
    ids = tf.gather(seqs, best, batch_dims=1)
    return ids, tf.gather(lengths, best, batch_dims=1)
