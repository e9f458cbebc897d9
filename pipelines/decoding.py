"""Graph-safe decoding shared by the pipelines.

CTC greedy and beam search wrap `keras.ops.ctc_decode`; `ids_to_text` turns
label ids into strings with TensorFlow ops only, so the same code runs eagerly,
in `tf.function` and inside an exported SavedModel.
"""

import keras
import numpy as np
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


# ---------------------------------------------------------------------------
# CTC decoding constrained to a lexicon


class Lexicon:
    """CTC decoding that only spells words of a word list: the best path
    (Viterbi) of a character CTC's outputs through the word-loop graph of
    the lexicon, in TensorFlow ops (eagerly, in `tf.function`, in a
    SavedModel).

    The graph: each word is the CTC topology of its characters (a blank
    before, between and after the characters, a repeated character only
    after a blank), words are joined through an optional space (the
    alphabet's " ", with blanks around it), and the path starts at any word
    or space and ends after a word or a space. Every output is a sequence of
    lexicon words separated by single spaces; nothing outside the word list
    can be emitted. The best path is exact (not a pruned beam); the graph
    has about twice as many states as the lexicon has characters, and the
    back-pointers `[frames, batch, states]` are held, so it suits the word
    lists of a task (tens to a few hundred words).

    Args:
        words: the lexicon (duplicates and empty entries dropped).
        alphabet: the model's characters (`" "` among them); the CTC blank
            is `blank_index`.
        blank_index: index of the CTC blank class.

    Raises:
        ValueError: a word with a character outside the alphabet (naming
            the word and the character), a word with a space, or an empty
            lexicon.

    Example:

    >>> import numpy as np
    >>> lex = Lexicon(["ab", "b"], alphabet=" ab", blank_index=3)
    >>> frames = [1, 3, 2, 0, 2]       # "a", blank, "b", " ", "b"
    >>> logits = np.log(np.eye(4)[frames] * 0.9 + 0.025)[None].astype("float32")
    >>> [t.decode() for t in lex.decode(logits, [5]).numpy()]
    ['ab b']
    """

    def __init__(self, words, alphabet, blank_index):
        alphabet = list(alphabet)
        if " " not in alphabet:
            raise ValueError("The alphabet has no space (' '): lexicon decoding joins words "
                             "with it.")
        index = {c: i for i, c in enumerate(alphabet)}
        self.words = list(dict.fromkeys(w.strip() for w in words if w and w.strip()))
        if not self.words:
            raise ValueError("The lexicon is empty: give at least one word.")
        labels, word_of, initial, final, preds = [], [], [], [], []
        for w, word in enumerate(self.words):
            for c in word:
                if c == " " or c not in index:
                    raise ValueError(f"Lexicon word {word!r}: character {c!r} is not in the "
                                     f"model's alphabet {''.join(alphabet)!r}.")
            chars = [index[c] for c in word]
            start = len(labels)
            for p in range(2 * len(chars) + 1):
                j = start + p
                is_char = p % 2 == 1
                labels.append(chars[p // 2] if is_char else blank_index)
                word_of.append(w)
                initial.append(p <= 1)
                final.append(p >= 2 * len(chars) - 1)
                mine = [j]
                if p > 0:
                    mine.append(j - 1)
                if is_char and p >= 3 and chars[p // 2] != chars[p // 2 - 1]:
                    mine.append(j - 2)
                preds.append(mine)
        n_words_states = len(labels)
        space, space_blank = n_words_states, n_words_states + 1
        labels += [index[" "], blank_index]
        word_of += [-1, -1]
        initial += [True, False]
        final += [True, True]
        exit_, sep, never = space_blank + 1, space_blank + 2, space_blank + 3
        # A word starts after a space (`sep`: the better of the space and
        # the blank after it) or right after another word (`exit_`).
        for j in range(n_words_states):
            if initial[j]:
                preds[j] = preds[j] + [sep, exit_]
        preds.append([space, exit_])
        preds.append([space_blank, space])
        width = max(len(p) for p in preds)
        self._preds = np.array([p + [never] * (width - len(p)) for p in preds], np.int32)
        self._labels = np.array(labels, np.int32)
        self._word_of = np.array(word_of, np.int32)
        self._initial = np.array(initial)
        self._final = np.array(final)
        self._word_final = self._final & (self._word_of >= 0)
        self._space, self._space_blank = space, space_blank
        self._exit, self._sep = exit_, sep
        self.states = len(labels)

    def decode(self, logits, lengths):
        """float `[batch, frames, classes]` (logits or log-probabilities)
        and int `[batch]` frames -> string `[batch]`: the best lexicon
        path's words, separated by spaces ("" for no frame)."""
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        lengths = tf.cast(lengths, tf.int32)
        batch = tf.shape(logp)[0]
        frames = tf.shape(logp)[1]
        neg = tf.constant(-1e30, tf.float32)
        preds = tf.constant(self._preds)
        labels = tf.constant(self._labels)
        word_final = tf.constant(self._word_final)
        seps = tf.constant([self._space, self._space_blank], tf.int32)
        # [frames, batch, states]: each state's emission.
        emit = tf.transpose(tf.gather(logp, labels, axis=2), [1, 0, 2])
        start = tf.where(tf.constant(self._initial)[None], emit[0], neg)

        def step(carry, inputs):
            score = carry[0]
            t, emission = inputs
            exit_score = tf.where(word_final[None], score, neg)
            exit_arg = tf.argmax(exit_score, axis=1, output_type=tf.int32)
            sep_scores = tf.gather(score, seps, axis=1)
            sep_arg = tf.gather(seps, tf.argmax(sep_scores, axis=1, output_type=tf.int32))
            ext = tf.concat([score, tf.reduce_max(exit_score, 1, keepdims=True),
                             tf.reduce_max(sep_scores, 1, keepdims=True),
                             tf.fill([batch, 1], neg)], axis=1)
            candidates = tf.gather(ext, preds, axis=1)            # [b, states, k]
            arg = tf.argmax(candidates, axis=2, output_type=tf.int32)
            new = tf.reduce_max(candidates, axis=2) + emission
            live = (t < lengths)[:, None]
            # Past an utterance's end its path stays where it is.
            return (tf.where(live, new, score), tf.where(live, arg, 0), exit_arg, sep_arg)

        zeros = tf.zeros([batch, self.states], tf.int32)
        steps = tf.range(1, frames)
        scores, args, exit_args, sep_args = tf.scan(
            step, (steps, emit[1:]),
            initializer=(start, zeros, tf.zeros([batch], tf.int32),
                         tf.zeros([batch], tf.int32)))
        last = tf.concat([start[None], scores], axis=0)[-1]
        final = tf.where(tf.constant(self._final)[None], last, neg)
        state = tf.argmax(final, axis=1, output_type=tf.int32)

        rows = tf.range(batch)

        def back(carry, inputs):
            state = carry[0]
            arg, exit_arg, sep_arg = inputs
            choice = tf.gather_nd(arg, tf.stack([rows, state], 1))
            pred = tf.gather_nd(preds, tf.stack([state, choice], 1))
            entered = pred >= self._exit
            prev = tf.where(pred == self._exit, exit_arg,
                            tf.where(pred == self._sep, sep_arg, pred))
            return prev, state, entered

        # Walking back from the last frame: for frame t, the state there and
        # whether the path entered it from a space or another word.
        prev, states, entered = tf.scan(
            back, (args, exit_args, sep_args), reverse=True,
            initializer=(state, tf.zeros([batch], tf.int32), tf.zeros([batch], tf.bool)))
        # The state at frame 0 is the one the walk ended on.
        state0 = tf.cond(frames > 1, lambda: prev[0], lambda: state)
        path = tf.concat([state0[None], states], axis=0)               # [frames, b]
        starts = tf.concat([tf.ones([1, batch], tf.bool), entered], axis=0)
        word_of = tf.gather(tf.constant(self._word_of), path)
        is_start = starts & (word_of >= 0) & tf.gather(tf.constant(self._initial), path)
        frame_live = tf.range(frames)[:, None] < lengths[None]
        is_start = tf.transpose(is_start & frame_live)                  # [b, frames]
        ids = tf.ragged.boolean_mask(tf.transpose(word_of), is_start)
        text = tf.strings.reduce_join(tf.gather(tf.constant(self.words), ids), axis=1,
                                      separator=" ")
        return text


# ----------------------------------------------------------------------------
# Greedy CTC with the alignment kept: what streaming and word timestamps use.


def ctc_greedy_append(labels, live, carry, blank_index, frame_offset):
    """Appends the greedy CTC path of new frames to fixed-size buffers.

    The best label of each frame is collapsed as CTC does (repeats merged,
    blanks dropped); each emitted character keeps the first and last frame
    of its run, so words get times from the alignment. The buffers have a
    fixed size `M` (what a stream's state can hold): when a row is full,
    its oldest character is dropped to make room.

    Args:
        labels: int32 `[batch, k]` best label of each new frame.
        live: bool `[batch, k]`, False for padding frames (skipped).
        carry: dict of `chars`, `starts`, `ends` int32 `[batch, M]`, `count`
            int32 `[batch]` (characters held), `prev` int32 `[batch]` (the
            last frame's label, `blank_index` at the start), `final` int32
            `[batch]` (characters before it were reported; it moves down
            when the oldest character is dropped).
        blank_index: the CTC blank.
        frame_offset: int32 `[batch]` global index of the first new frame.

    Returns:
        The updated carry.
    """
    size = tf.shape(carry["chars"])[1]
    positions = tf.range(size)[None, :]

    def body(t, c):
        label, alive = labels[:, t], live[:, t]
        frame = frame_offset + t
        prev, count = c["prev"], c["count"]
        emit = alive & (label != blank_index) & (label != prev)
        extend = alive & (label != blank_index) & (label == prev) & (count > 0)
        full = emit & (count >= size)
        rolled = {k: tf.where(full[:, None], tf.roll(c[k], -1, axis=1), c[k])
                  for k in ("chars", "starts", "ends")}
        count = count - tf.cast(full, tf.int32)
        final = tf.maximum(c["final"] - tf.cast(full, tf.int32), 0)
        at = tf.equal(positions, tf.where(emit, count, count - 1)[:, None])
        new_at = emit[:, None] & at
        return t + 1, {
            "chars": tf.where(new_at, label[:, None], rolled["chars"]),
            "starts": tf.where(new_at, frame[:, None], rolled["starts"]),
            "ends": tf.where((emit | extend)[:, None] & at, frame[:, None], rolled["ends"]),
            "count": count + tf.cast(emit, tf.int32),
            "prev": tf.where(alive, label, prev),
            "final": final,
        }

    _, carry = tf.while_loop(lambda t, c: t < tf.shape(labels)[1], body,
                             (tf.constant(0), dict(carry)))
    return carry


def ctc_empty_carry(batch_size, size, blank_index):
    """The `ctc_greedy_append` carry of `batch_size` empty rows of `size`."""
    zeros = tf.zeros([batch_size, size], tf.int32)
    none = tf.zeros([batch_size], tf.int32)
    return {"chars": zeros, "starts": zeros, "ends": zeros, "count": none,
            "prev": tf.fill([batch_size], tf.cast(blank_index, tf.int32)), "final": none}


def ctc_words(carry, alphabet, low=None, high=None):
    """The words of `ctc_greedy_append` buffers, with their frames.

    Args:
        carry: the buffers (`chars`, `starts`, `ends`, `count`).
        alphabet: the model's characters (`" "` separates words).
        low, high: int32 `[batch]`: only the words that begin at a buffer
            position in `[low, high)` (default: all).

    Returns:
        `(words string [batch, W], frames int32 [batch, W, 2], count int32
        [batch])`: each word with the first frame of its first character and
        the last frame of its last character, padded with "" and -1.
    """
    chars, count = carry["chars"], carry["count"]
    batch, size = tf.shape(chars)[0], tf.shape(chars)[1]
    positions = tf.range(size)[None, :]
    space = list(alphabet).index(" ")
    letter = (positions < count[:, None]) & (chars != space) & (chars < len(alphabet))
    before = tf.pad(letter[:, :-1], [[0, 0], [1, 0]])
    begins = letter & ~before
    word = tf.cumsum(tf.cast(begins, tf.int32), axis=1) - 1
    # One segment per (row, word); every other position goes to a last one.
    dump = batch * size
    segment = tf.where(letter, tf.range(batch)[:, None] * size + word, dump)
    n = dump + 1
    table = tf.constant(list(alphabet) + [""])
    strings = tf.gather(table, tf.where(letter, chars, len(alphabet)))
    text = tf.strings.unsorted_segment_join(tf.reshape(strings, [-1]),
                                            tf.reshape(segment, [-1]), n)[:-1]
    first = tf.math.unsorted_segment_min(tf.reshape(carry["starts"], [-1]),
                                         tf.reshape(segment, [-1]), n)[:-1]
    last = tf.math.unsorted_segment_max(tf.reshape(carry["ends"], [-1]),
                                        tf.reshape(segment, [-1]), n)[:-1]
    begin_at = tf.math.unsorted_segment_min(
        tf.reshape(tf.broadcast_to(positions, tf.shape(chars)), [-1]),
        tf.reshape(segment, [-1]), n)[:-1]
    text, first, last, begin_at = (tf.reshape(v, [batch, size])
                                   for v in (text, first, last, begin_at))
    words_in_row = tf.reduce_sum(tf.cast(begins, tf.int32), axis=1)
    keep = positions < words_in_row[:, None]
    if low is not None:
        keep &= begin_at >= low[:, None]
    if high is not None:
        keep &= begin_at < high[:, None]
    words = tf.ragged.boolean_mask(text, keep)
    spans = tf.ragged.boolean_mask(tf.stack([first, last], -1), keep)
    return (words.to_tensor(default_value=""), spans.to_tensor(default_value=-1),
            tf.cast(words.row_lengths(), tf.int32))
