"""The recurrent seq2seq translation model, built from the shared blocks.

Example:

>>> m = Seq2SeqTranslator(20, 30, embedding_dim=8, units=8, dtype="mixed_bfloat16")
>>> m.get_config()["dtype"]["config"]["name"]
'mixed_bfloat16'
"""

import keras
import tensorflow as tf
from keras import ops

from pipelines import decoding, precision
from pipelines.blocks import AttentiveDecoder, FunctionalModel, RecurrentEncoder
from pipelines.validation import check_positive_ints


@keras.saving.register_keras_serializable(package="text")
class Seq2SeqTranslator(FunctionalModel):
    """Bidirectional recurrent encoder + attentive recurrent decoder.

    Inputs (dict): `source` int32 `[batch, source_len]` and `target_in` int32
    `[batch, target_len]` (the target shifted right, BOS first), both padded
    with `pad_id`. Output: float32 logits `[batch, target_len, target_vocab]`
    (teacher forcing). `generate` decodes with greedy or beam search from the
    same weights, in graph-safe ops.

    Args:
        source_vocab, target_vocab: vocabulary sizes.
        embedding_dim: token embedding width (both sides).
        units: encoder width per direction; the decoder has `2 * units`.
        encoder_layers: bidirectional recurrent layers in the encoder.
        cell_type: "lstm" or "gru".
        attention: "additive" or "multiplicative".
        dropout: dropout between encoder layers and before the output head.
        pad_id, bos_id, eos_id: special ids of the target vocabulary.
        dtype: the dtype policy of every layer (None: the policy in force);
            saved in the config, so a reload keeps it.

    Example:

    >>> import numpy as np
    >>> m = Seq2SeqTranslator(20, 30, embedding_dim=8, units=8)
    >>> tuple(m({"source": np.ones((2, 5), "int32"),
    ...          "target_in": np.ones((2, 4), "int32")}).shape)
    (2, 4, 30)
    >>> tuple(m.generate(np.ones((2, 5), "int32"), max_length=6, beam_width=2)[0].shape)
    (2, 6)
    """

    def __init__(self, source_vocab, target_vocab, embedding_dim=256, units=256,
                 encoder_layers=2, cell_type="lstm", attention="multiplicative",
                 dropout=0.2, pad_id=0, bos_id=1, eos_id=2, dtype=None, **kwargs):
        check_positive_ints(source_vocab=source_vocab, target_vocab=target_vocab,
                            embedding_dim=embedding_dim, units=units,
                            encoder_layers=encoder_layers)

        # Every layer (and the model) takes the policy `dtype`; it is in
        # get_config, so a reload rebuilds the same policy.
        with precision.dtype_scope(dtype):
            # === Layers ===
            source_embedding = keras.layers.Embedding(source_vocab, embedding_dim,
                                                      name="source_embedding")
            encoder = RecurrentEncoder(units, num_layers=encoder_layers, cell_type=cell_type,
                                       bidirectional=True, residual=True, dropout=dropout,
                                       return_state=True, name="encoder")
            n_states = 2 if cell_type == "lstm" else 1
            bridges = [keras.layers.Dense(2 * units, activation="tanh", name=f"bridge_{i}")
                       for i in range(n_states)]
            decoder = AttentiveDecoder(target_vocab, embedding_dim=embedding_dim,
                                       units=2 * units, cell_type=cell_type,
                                       attention=attention, dropout=dropout, name="decoder")

            # === Functional model ===
            source = keras.Input((None,), dtype="int32", name="source")
            target_in = keras.Input((None,), dtype="int32", name="target_in")
            source_mask = ops.not_equal(source, pad_id)
            memory, states = encoder(source_embedding(source), mask=source_mask)
            initial = [bridge(s) for bridge, s in zip(bridges, states)]
            logits = decoder(target_in, memory, memory_mask=source_mask, initial_state=initial)
            super().__init__(inputs={"source": source, "target_in": target_in},
                             outputs=logits, **kwargs)

        # === Config ===
        self.source_vocab = source_vocab
        self.target_vocab = target_vocab
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.cell_type = cell_type
        self.attention = attention
        self.dropout = dropout
        self.pad_id = pad_id
        self.bos_id = bos_id
        self.eos_id = eos_id
        self._parts = (source_embedding, encoder, bridges, decoder)

    def encode(self, source):
        """`source [b, s]` -> `(memory, memory_mask, initial decoder state)`."""
        source_embedding, encoder, bridges, _ = self._parts
        mask = ops.not_equal(source, self.pad_id)
        memory, states = encoder(source_embedding(source), mask=mask, training=False)
        return memory, mask, [bridge(s) for bridge, s in zip(bridges, states)]

    def generate(self, source, max_length, beam_width=4, length_penalty=0.6,
                 return_attention=False):
        """Greedy (`beam_width=1`) or beam-search decoding, graph-safe.

        Returns `(ids int32 [batch, max_length], lengths int32 [batch])`,
        EOS included, padded with `pad_id`.
        """
        decoder = self._parts[3]
        source = tf.convert_to_tensor(source, tf.int32)
        memory, mask, state = self.encode(source)
        k = int(beam_width)
        memory_k = decoding.tile_beams(memory, k)
        mask_k = decoding.tile_beams(mask, k)
        keys_k = decoder.attention_keys(memory_k)  # projected once, not every step

        def step(tokens, s):
            logits, s, _ = decoder.step(tokens, s, memory_k, memory_mask=mask_k, keys=keys_k)
            return logits, s

        return decoding.beam_search(
            step, [decoding.tile_beams(s, k) for s in state], tf.shape(source)[0],
            self.bos_id, self.eos_id, max_length, beam_width=k,
            length_penalty=length_penalty, pad_id=self.pad_id,
        )

    def attention_weights(self, source, target_in):
        """Teacher-forced attention `[b, target_len, source_len]` (for plots)."""
        decoder = self._parts[3]
        memory, mask, state = self.encode(source)
        _, weights = decoder(target_in, memory, memory_mask=mask, initial_state=state,
                             return_attention=True)
        return weights

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocab": self.source_vocab, "target_vocab": self.target_vocab,
            "embedding_dim": self.embedding_dim, "units": self.units,
            "encoder_layers": self.encoder_layers, "cell_type": self.cell_type,
            "attention": self.attention, "dropout": self.dropout,
            "pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id,
        }
