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
