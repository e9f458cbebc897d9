"""`SentencePipeline`: what the two text pipelines (`Translator`,
`SentenceClassifier`) share on top of `pipelines.pipeline.Pipeline`.

Sentences go in as strings: SentencePiece tokenizers run by tensorflow-text
inside the traced inference graph and the export (`serve(text string
[batch])`), so the export needs only `tensorflow` and `tensorflow_text`. A
subclass names its tokenizers (`_tokenizers`), builds its graph on
`_token_ids` and its outputs (`_expected`); this base owns renewing the
tokenizers' resources, the traced functions, batching, and the export's
signature, sample and tracked objects.

Example:

>>> import tensorflow as tf
>>> from pipelines.tokenizers import SubwordTokenizer
>>> tok = SubwordTokenizer.train(["a cat", "a dog"] * 50, vocab_size=270)
>>> ids, lengths = SentencePipeline._token_ids(tok, tf.constant(["a cat", ""]), 8)
>>> ids.shape[0], lengths.numpy().tolist()[1]
(2, 0)
"""

import numpy as np
import tensorflow as tf

from pipelines.pipeline import Pipeline
from pipelines.tokenizers import PAD_ID
from pipelines.validation import check_sentences


class SentencePipeline(Pipeline):
    """Base of the text pipelines: sentences in, tokenised in the graph.

    Args:
        config, **overrides: as `pipelines.pipeline.Pipeline`.
    """

    export_imports = ("tensorflow_text",)

    def _tokenizers(self):
        """The pipeline's `SubwordTokenizer`s (the ones its graph uses)."""
        raise NotImplementedError

    def _create_resources(self):
        # Create the tokenizers' resources eagerly: one first made while
        # tracing would belong to that graph, and eager tokenising (in
        # `explain`, `plot_attention`) could no longer use it.
        for tokenizer in self._tokenizers():
            tokenizer.tf_tokenizer  # noqa: B018

    def _renew_resources(self):
        # `tf.random.set_seed` deletes the tokenizers' resources (see
        # SubwordTokenizer.reset); the next use creates them again.
        for tokenizer in self._tokenizers():
            tokenizer.reset()
        return True

    @staticmethod
    def _token_ids(tokenizer, text, max_tokens):
        """`text string [batch]` -> `(ids int32 [batch, <= max_tokens]`, the
        first `max_tokens` subword ids padded with `PAD_ID`, at least one
        column, so that a batch of empty strings still runs; `token counts
        int32 [batch]` before truncation)`. Graph-safe."""
        ids = tokenizer.tokenize(text)
        full_lengths = tf.cast(ids.row_lengths(), tf.int32)
        ids = ids[:, :max_tokens].to_tensor(default_value=PAD_ID)
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])
        return ids, full_lengths

    def _traced(self, infer):
        """`infer(text string [batch])` as a `tf.function`."""
        self._create_resources()
        return tf.function(infer, input_signature=[tf.TensorSpec([None], tf.string)])

    def _in_batches(self, key, make, sentences, batch_size):
        """Runs the cached traced function `key` (`make()` traces it) on
        `sentences`, `batch_size` at a time; yields each batch's outputs as
        numpy arrays."""
        for start in range(0, len(sentences), batch_size):
            batch = tf.constant(sentences[start:start + batch_size], tf.string)
            yield [out.numpy() for out in self._call_function(key, make, batch)]

    # ---------------------------------------------------------------- export
    def _text_endpoint(self, serve):
        """The export's endpoints: `serve(text string [batch])`."""
        self._create_resources()

        def checked(text):
            # Any shape binds; a wrong one is one line from here, not
            # TensorFlow's "Binding inputs" error.
            check = tf.debugging.Assert(tf.equal(tf.rank(text), 1), [
                "text must be string [batch] (a 1-D tensor of sentences); got shape",
                tf.shape(text)])
            with tf.control_dependencies([check]):
                return serve(tf.reshape(text, [-1]))

        return {"serve": (checked, [tf.TensorSpec(None, tf.string, name="text")])}

    def _export_sample(self, sample, **options):
        sample = check_sentences(sample, "sample")
        # Unicode arrays: they travel to the fresh process through .npz.
        return {"text": np.array(sample, dtype=str)}, self._expected(sample, **options)

    def _expected(self, sentences, **options):
        """What `serve` must answer for `sentences`: `{output: array}` from
        the in-memory pipeline."""
        raise NotImplementedError

    def _text_metadata(self, notes, **more):
        """`metadata.json`'s description of the `text` input (with `notes`
        on truncation and empty sentences), `more`, and what it needs."""
        return {"inputs": {"text": {"dtype": "string", "shape": [None], "notes": notes}},
                **more, "requires": ["tensorflow", *self.export_imports]}

    def _tracked(self):
        return [self.model, *(t.tf_tokenizer for t in self._tokenizers())]
