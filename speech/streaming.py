"""Streaming recognition: a causal `CTCAcousticModel` fed chunk by chunk.

A stream's whole memory is one float32 vector (`StreamGraph.state_size`
values), so a server keeps any number of streams as rows of one tensor and a
client needs to know nothing of the model:

- the samples not yet making a full STFT frame;
- the last two feature frames and the last two outputs of the first
  convolution (the causal 3-frame context of each convolution);
- the recurrent state of every layer;
- with a look-ahead of k frames (`model.lookahead`), the last k recurrent
  outputs, whose logits wait for the k frames after them (`finish` gives
  them zeros, as the offline model pads the end of a clip);
- the greedy CTC path so far: the characters with the first and last
  output frame of each (the word timestamps), the last frame's label, and
  how many characters were already reported in final words;
- a fingerprint of the model and a finished flag, so a state from another
  model, or a stream fed after its end, is refused.

Every frame depends on its own samples and on the past only, so the frames,
logits and transcript of a clip fed in chunks of any size equal those of the
whole clip (`SpeechRecognizer.transcribe` with the greedy decoder), up to
float rounding.

All the streams of one call advance together: a chunk is `[batch, n]`, the
same `n` samples for every stream.
"""

import hashlib
import json

import numpy as np
import tensorflow as tf

from pipelines import decoding
from speech.model import CAUSAL_CONTEXT


class StreamGraph:
    """The `start` / `feed` / `finish` graph functions of a trained causal
    recogniser (used by `SpeechRecognizer.stream` and the export's
    `stream_*` endpoints).

    Args:
        recognizer: a fitted `SpeechRecognizer` whose model is causal and
            normalises its own features (`model.causal: true`,
            `features.normalization: global`).
    """

    def __init__(self, recognizer):
        model = recognizer.model
        if not getattr(model, "causal", False) or model.feature_mean is None:
            raise ValueError(
                "This recogniser cannot stream: its model looks ahead. Train one with "
                "model.causal: true and features.normalization: global (see "
                "speech/configs/fsdd_streaming.yaml).")
        self.fe = recognizer.features
        self.model = model
        self.alphabet = recognizer.alphabet
        self.blank = len(self.alphabet)
        self.max_chars = int(recognizer.config.model.stream_max_chars)
        self.rate = recognizer.sample_rate
        self.normalize = model.get_layer("normalize")
        self.conv1 = model.get_layer("conv_1")
        self.conv2 = model.get_layer("conv_2")
        self.encoder = model.get_layer("encoder")
        self.head = model.get_layer("ctc_head")
        n_mels, filters = model.n_mels, model.conv_filters
        self.bands1 = -(-n_mels // 2)
        states = 2 if model.cell_type == "lstm" else 1
        m = self.max_chars
        # (name, per-stream shape), in the order of the state vector.
        self.fields = [
            ("fingerprint", ()), ("finished", ()), ("pending_count", ()),
            ("pending", (self.fe.n_fft,)), ("mel_frames", ()),
            ("mel_context", (CAUSAL_CONTEXT, n_mels)),
            ("conv_context", (CAUSAL_CONTEXT, self.bands1, filters)),
            ("rnn", (model.num_layers * states, model.units)),
        ]
        self.lookahead = int(getattr(model, "lookahead", 0))
        if self.lookahead:
            self.lookahead_conv = model.get_layer("lookahead")
            self.fields.append(("lookahead_context", (self.lookahead, model.units)))
        self.fields += [
            ("prev", ()), ("count", ()), ("final", ()),
            ("chars", (m,)), ("starts", (m,)), ("ends", (m,)),
        ]
        self.sizes = [int(np.prod(shape)) for _, shape in self.fields]
        self.state_size = sum(self.sizes)
        self.fingerprint = self._fingerprint(recognizer)

    @staticmethod
    def _fingerprint(recognizer):
        """A float32-exact number (below 2**23) from the model's config and
        its head's weights: a state from another model is refused."""
        digest = hashlib.sha1(json.dumps(recognizer.config.to_dict(), sort_keys=True,
                                         default=str).encode())
        for w in recognizer.model.get_layer("ctc_head").get_weights():
            digest.update(np.ascontiguousarray(w, "float32").tobytes())
        return float(int(digest.hexdigest()[:6], 16) % (2 ** 23))

    # ------------------------------------------------------------- state
    def _unpack(self, state):
        parts = tf.split(state, self.sizes, axis=1)
        batch = tf.shape(state)[0]
        return {name: tf.reshape(part, _dims(batch, shape))
                for (name, shape), part in zip(self.fields, parts)}

    def _pack(self, s):
        batch = tf.shape(s["pending"])[0]
        return tf.concat([tf.reshape(tf.cast(s[name], tf.float32), [batch, size])
                          for (name, _), size in zip(self.fields, self.sizes)], axis=1)

    def start(self, batch_size):
        """`state` float32 `[batch_size, state_size]` of new streams."""
        batch_size = tf.reshape(tf.cast(batch_size, tf.int32), [])
        check = tf.debugging.assert_non_negative(
            batch_size, message="batch_size must be at least 0")
        with tf.control_dependencies([check]):
            s = {name: tf.zeros(_dims(batch_size, shape)) for name, shape in self.fields}
        s["fingerprint"] = tf.fill([batch_size], self.fingerprint)
        s["prev"] = tf.fill([batch_size], float(self.blank))
        return self._pack(s)

    def check_state(self, state, rows=None):
        """Graph assertions that `state` is this model's (and, with `rows`,
        has that many streams); returns the checks."""
        shape = tf.shape(state)
        ok_rank = tf.equal(tf.rank(state), 2)
        width = tf.reduce_prod(shape[1:2])
        checks = [tf.debugging.Assert(
            tf.logical_and(ok_rank, tf.equal(width, self.state_size)),
            [f"state must be float32 [batch, {self.state_size}] from this model's "
             "stream_start; got shape", shape])]
        with tf.control_dependencies(checks):
            first = tf.reshape(state, [-1, self.state_size])[:, :2]
        checks.append(tf.debugging.Assert(
            tf.reduce_all(tf.equal(first[:, 0], self.fingerprint)),
            ["state is not from this model: start the streams with this export's "
             "stream_start"]))
        checks.append(tf.debugging.Assert(
            tf.reduce_all(tf.equal(first[:, 1], 0.0)),
            ["the stream is finished: start a new one with stream_start"]))
        if rows is not None:
            checks.append(tf.debugging.Assert(
                tf.equal(shape[0], rows),
                ["the chunk has", rows, "rows but the state holds", shape[0], "streams"]))
        return checks

    # -------------------------------------------------------------- feed
    def _carry(self, s):
        return {k: tf.cast(s[k], tf.int32)
                for k in ("chars", "starts", "ends", "count", "prev", "final")}

    def _encode(self, s, waveform):
        """Runs the new samples through the model; returns the new state
        (without the CTC part) and the new frames' labels."""
        fe = self.fe
        batch = tf.shape(waveform)[0]
        # Streams advance together: one pending count and one frame count.
        pending_count, mel_frames = _common(s["pending_count"]), _common(s["mel_frames"])
        buf = tf.concat([s["pending"][:, :pending_count], waveform], axis=1)
        total = tf.shape(buf)[1]
        k = tf.maximum(0, (total - fe.n_fft) // fe.hop_length + 1)
        # One frame of zeros beyond, so the STFT always has a frame to make.
        padded = tf.pad(buf, [[0, 0], [0, fe.n_fft]])
        mel = fe.log_mel(padded)[:, :k]
        left = buf[:, k * fe.hop_length:]
        pending = tf.pad(left, [[0, 0], [0, fe.n_fft - tf.shape(left)[1]]])
        pending = tf.reshape(pending, [batch, fe.n_fft])

        x = self.normalize(mel)
        # Convolution 1 (stride 2 in time): its outputs end on even frames.
        ctx = tf.concat([tf.cast(s["mel_context"], x.dtype), x], axis=1)
        phase = mel_frames % 2
        n_out = (mel_frames + k - 1) // 2 - (mel_frames + 1) // 2 + 1
        y = tf.pad(ctx[:, phase:], [[0, 0], [0, 3], [1, 1]])[..., None]
        y = self.conv1(y)[:, :n_out]
        # Convolution 2 (stride 1 in time).
        ctx2 = tf.concat([tf.cast(s["conv_context"], y.dtype), y], axis=1)
        z = tf.pad(ctx2, [[0, 0], [0, 1], [1, 1], [0, 0]])
        z = self.conv2(z)[:, :n_out]
        z = tf.reshape(z, [batch, n_out, z.shape[2] * z.shape[3]])

        rnn_state = tf.cast(s["rnn"], z.dtype)
        lstm = self.model.cell_type == "lstm"
        per = 2 if lstm else 1

        def run():
            x, states = z, []
            for i, rnn in enumerate(self.encoder.rnn_layers):
                init = [rnn_state[:, i * per + j] for j in range(per)]
                out = rnn(x, initial_state=init, training=False)
                y, new = out[0], list(out[1:])
                if (self.encoder.residual and x.shape[-1] == y.shape[-1]):
                    y = y + x
                if self.encoder.layer_norm:
                    y = self.encoder.norm_layers[i](y)
                states += new
                x = y
            labels, context = self._logits(x, look)
            return labels, tf.stack(states, 1), context

        def idle():
            return tf.zeros([batch, 0], tf.int32), rnn_state, look

        out_before = (mel_frames + 1) // 2
        look = tf.cast(s["lookahead_context"], z.dtype) if self.lookahead else z[:, :0]
        labels, rnn_state, look = tf.cond(n_out > 0, run, idle)
        # The first `lookahead` outputs of a stream are the zeros it starts
        # with (frames before the first): not frames of the clip.
        drop = tf.clip_by_value(self.lookahead - out_before, 0, tf.shape(labels)[1])
        labels = labels[:, drop:]
        new = dict(s)
        if self.lookahead:
            new["lookahead_context"] = look
        new.update({
            "pending_count": tf.fill([batch], tf.cast(total - k * fe.hop_length, tf.float32)),
            "pending": pending,
            "mel_frames": s["mel_frames"] + tf.cast(k, tf.float32),
            "mel_context": ctx[:, -CAUSAL_CONTEXT:],
            "conv_context": ctx2[:, -CAUSAL_CONTEXT:],
            "rnn": rnn_state,
        })
        return new, labels, tf.fill([batch], out_before - self.lookahead + drop)

    def _logits(self, x, context):
        """Recurrent outputs `x` `[batch, n, units]` after the held-back
        `context` `[batch, lookahead, units]` -> the greedy labels of the
        frames that now have their look-ahead (the context's and all but the
        last `lookahead` of `x`), and the new context."""
        if not self.lookahead:
            return tf.argmax(self.head(x), axis=-1, output_type=tf.int32), context
        frames = tf.concat([context, x], axis=1)
        y = frames[:, :tf.shape(x)[1]] + self.lookahead_conv(frames)
        labels = tf.argmax(self.head(y), axis=-1, output_type=tf.int32)
        return labels, frames[:, -self.lookahead:]

    def seconds(self, frames):
        """Output frame index -> seconds: the start of the audio of its
        newest STFT frame (each output frame advances two hops)."""
        return tf.cast(frames, tf.float32) * (2.0 * self.fe.hop_length / self.rate)

    def _word_times(self, spans):
        """`[.., 2]` first/last output frames -> `[.., 2]` seconds: the
        start of the first frame's newest STFT window and the end of the
        last frame's (-1 for padding)."""
        start = self.seconds(spans[..., 0])
        end = self.seconds(spans[..., 1]) + self.fe.n_fft / self.rate
        times = tf.stack([start, end], -1)
        return tf.where(spans >= 0, times, -1.0)

    def _text(self, carry):
        held = tf.range(tf.shape(carry["chars"])[1])[None] < carry["count"][:, None]
        return decoding.ids_to_text(tf.where(held, carry["chars"], -1), self.alphabet)

    def feed(self, waveform, state):
        """`waveform` float32 `[batch, n]` (any `n`, 0 included: a no-op),
        `state` -> `{"text", "state", "final_words", "final_word_times",
        "final_word_count"}`: the transcript so far, the new state, and the
        words that became final in this chunk (a word is final once the
        space after it is emitted) with their times in seconds."""
        shape = tf.shape(waveform)
        ok = tf.equal(tf.rank(waveform), 2)
        checks = [tf.debugging.Assert(ok, [
            "waveform must be float32 [batch, samples]; got shape", shape])]
        with tf.control_dependencies(checks):
            waveform = tf.reshape(waveform, tf.stack([-1, shape[-1]]))
        checks = self.check_state(state, tf.shape(waveform)[0]) + [
            tf.debugging.assert_all_finite(waveform,
                                           "waveform contains NaN or infinite samples")]
        with tf.control_dependencies(checks):
            s = self._unpack(tf.identity(state))
        s, labels, offset = self._encode(s, tf.identity(waveform))
        carry = decoding.ctc_greedy_append(labels, tf.ones_like(labels, tf.bool),
                                           self._carry(s), self.blank, offset)
        # Words before the last space are final.
        positions = tf.range(self.max_chars)[None]
        space = list(self.alphabet).index(" ")
        spaces = (carry["chars"] == space) & (positions < carry["count"][:, None])
        boundary = tf.reduce_max(tf.where(spaces, positions, -1), axis=1)
        boundary = tf.maximum(boundary, carry["final"])
        words, spans, count = decoding.ctc_words(carry, self.alphabet, carry["final"],
                                                 boundary)
        carry["final"] = boundary
        s.update(carry)
        return {"text": self._text(carry), "state": self._pack(s),
                "final_words": words, "final_word_times": self._word_times(spans),
                "final_word_count": count}

    def finish(self, state):
        """`state` -> `{"text", "words", "word_times", "word_count",
        "final_words", "final_word_times", "final_word_count", "state"}`:
        the final transcript, every word the state holds with its times,
        the words not reported final before, and the state marked finished
        (feeding it again is refused). The samples short of a full STFT
        frame are dropped, as `transcribe` drops them; the frames held back
        for their look-ahead get zeros after them, as `transcribe` pads."""
        with tf.control_dependencies(self.check_state(state)):
            s = self._unpack(tf.identity(state))
        carry = self._carry(s)
        if self.lookahead:
            out_total = (_common(s["mel_frames"]) + 1) // 2
            context = tf.cast(s["lookahead_context"], self.lookahead_conv.compute_dtype)
            labels, _ = self._logits(tf.zeros_like(context), context)
            # A stream shorter than the look-ahead holds some start zeros.
            drop = tf.clip_by_value(self.lookahead - out_total, 0, self.lookahead)
            labels = labels[:, drop:]
            batch = tf.shape(labels)[0]
            carry = decoding.ctc_greedy_append(
                labels, tf.ones_like(labels, tf.bool), carry, self.blank,
                tf.fill([batch], out_total - self.lookahead + drop))
            s.update(carry)
        words, spans, count = decoding.ctc_words(carry, self.alphabet)
        last, last_spans, last_count = decoding.ctc_words(carry, self.alphabet,
                                                          carry["final"], carry["count"])
        s["final"] = s["count"]
        s["finished"] = tf.ones_like(s["finished"])
        return {"text": self._text(carry), "words": words,
                "word_times": self._word_times(spans), "word_count": count,
                "final_words": last, "final_word_times": self._word_times(last_spans),
                "final_word_count": last_count, "state": self._pack(s)}

    def align(self, logits, lengths):
        """Offline: logits `[batch, frames, classes]` and output frames ->
        `{"text", "words", "word_times", "word_count"}` of the greedy path
        (the same words and times a stream of the clip ends with)."""
        labels = tf.argmax(logits, axis=-1, output_type=tf.int32)
        frames = tf.shape(labels)[1]
        live = tf.range(frames)[None] < lengths[:, None]
        batch = tf.shape(labels)[0]
        carry = decoding.ctc_empty_carry(batch, tf.maximum(frames, 1), self.blank)
        carry = decoding.ctc_greedy_append(labels, live, carry, self.blank,
                                           tf.zeros([batch], tf.int32))
        words, spans, count = decoding.ctc_words(carry, self.alphabet)
        return {"text": self._text(carry), "words": words,
                "word_times": self._word_times(spans), "word_count": count}


def _common(per_stream):
    """The one int32 value of a per-stream count (streams advance together;
    0 for no streams)."""
    return tf.cast(tf.reduce_max(tf.concat([per_stream, [0.0]], 0)), tf.int32)


def _dims(batch, shape):
    """int32 `[batch, *shape]`."""
    return tf.concat([tf.reshape(tf.cast(batch, tf.int32), [1]),
                      tf.constant(shape, tf.int32, shape=[len(shape)])], 0)
