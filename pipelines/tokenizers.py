"""Subword tokenisation shared by the text pipelines (translation, sentence
classification, captioning), in graph ops.

`SubwordTokenizer` learns a SentencePiece unigram model from training text
(with the `sentencepiece` trainer: `train` from a list in memory,
`train_streamed` from a `tf.data` stream of a corpus too large to hold, of
which the trainer keeps a bounded seeded sample) and runs it with
`tensorflow_text.SentencepieceTokenizer`, so the same tokenisation runs in
`tf.data`, eagerly and inside an exported SavedModel. Text is first put through
`normalize` (tensorflow-text NFKC normalisation, optional case folding,
whitespace clean-up), in the graph as well. Byte fallback means no input is
ever out of vocabulary: an unknown character or script becomes UTF-8 byte
tokens, and detokenisation turns them back into the same characters.

The learned model is a few hundred kilobytes of bytes (`model_proto`); it is
stored with a saved pipeline (`save`/`load`) and embedded in every export.
"""

import hashlib
import io
import logging
import os
import re

import tensorflow as tf
import tensorflow_text as tf_text

log = logging.getLogger(__name__)

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIAL_IDS = (PAD_ID, BOS_ID, EOS_ID, UNK_ID)


def normalize(texts, lowercase=False):
    """NFKC normalisation, optional Unicode case folding, and whitespace
    collapsed and stripped: `string [...] -> string [...]`, in graph ops.

    Example:

    >>> normalize(tf.constant(["  Ｈola\\tMUNDO  "]), lowercase=True).numpy()
    array([b'hola mundo'], dtype=object)
    """
    texts = tf_text.normalize_utf8(texts, "NFKC")
    if lowercase:
        texts = tf_text.case_fold_utf8(texts)
    texts = tf.strings.regex_replace(texts, r"\s+", " ")
    return tf.strings.strip(texts)


def _check_vocab_size(vocab_size):
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 260:
        # 4 specials + 256 byte pieces are always in the vocabulary.
        raise ValueError(
            f"Argument `vocab_size` must be an integer >= 260 (4 special ids "
            f"and 256 byte pieces); got vocab_size={vocab_size!r}.")


class SubwordTokenizer:
    """A SentencePiece subword vocabulary run by tensorflow-text.

    Ids: 0 padding, 1 BOS, 2 EOS, 3 unknown (never produced: byte fallback),
    then the learned pieces.

    Args:
        model_proto: the serialised SentencePiece model (bytes), as made by
            `SubwordTokenizer.train` and stored by `save`.
        lowercase: case-fold text before tokenising (the normalisation is
            part of the tokenizer, so training and serving agree).

    Example:

    >>> tok = SubwordTokenizer.train(["the cat sat", "the dog ran"] * 20,
    ...                              vocab_size=300)
    >>> ids = tok.tokenize(tf.constant(["The cat ran"]))
    >>> tok.detokenize(ids).numpy()
    array([b'The cat ran'], dtype=object)
    """

    def __init__(self, model_proto, lowercase=False):
        if not isinstance(model_proto, (bytes, bytearray)) or not model_proto:
            raise ValueError(
                "Argument `model_proto` must be the non-empty bytes of a "
                f"SentencePiece model; got {type(model_proto).__name__}.")
        self.model_proto = bytes(model_proto)
        self.lowercase = bool(lowercase)
        self._tf = None

    # ------------------------------------------------------------- training
    @classmethod
    def train(cls, texts, vocab_size=8000, lowercase=False, character_coverage=0.9995,
              seed=0, max_sentences=1_000_000):
        """Learns a unigram SentencePiece vocabulary from `texts`.

        Args:
            texts: training sentences (an iterable of str), normalised here
                with `normalize` exactly as at tokenisation time.
            vocab_size: target vocabulary size, special ids included; shrunk
                to what the text supports when the text is small.
            lowercase: case-fold before learning and tokenising.
            character_coverage: share of characters covered by pieces; the
                rarest fall back to bytes.
            seed: sentencepiece's random seed (sentence sampling).
            max_sentences: at most this many sentences are used (a seeded
                sample; see `train_streamed` for text too large to hold).
        """
        texts = [t for t in texts]
        if not texts:
            raise ValueError("Cannot train a tokenizer on no text.")
        _check_vocab_size(vocab_size)
        normalised = [
            s.decode("utf-8")
            for s in normalize(tf.constant(texts), lowercase).numpy()
        ]
        normalised = [s for s in normalised if s]
        if not normalised:
            raise ValueError("Cannot train a tokenizer: every text is empty.")
        distinct_chars = len(set("".join(normalised)))
        return cls._train_sentencepiece(lambda: iter(normalised), lambda: distinct_chars,
                                        vocab_size, lowercase, character_coverage, seed,
                                        max_sentences)

    @classmethod
    def train_streamed(cls, texts, vocab_size=8000, lowercase=False,
                       character_coverage=0.9995, seed=0, max_sentences=1_000_000):
        """Learns a unigram SentencePiece vocabulary from a stream of text
        too large to hold: `texts` is read batch by batch, normalised in
        graph ops (as `train` and tokenisation do), and fed to
        SentencePiece's trainer, which keeps a seeded uniform sample of at
        most `max_sentences` sentences (its reservoir sampling,
        `input_sentence_size` + `shuffle_input_sentence`): memory is bounded
        by the sample, not by the corpus. A corpus no larger than the sample
        gives the same vocabulary `train` learns from the same sentences.

        Args:
            texts: a `tf.data.Dataset` of `string [batch]` (or of scalar
                strings), iterated once per training attempt (again when a
                small corpus makes the vocabulary shrink).
            vocab_size, lowercase, character_coverage, seed: as `train`.
            max_sentences: the sample size, in sentences.

        Example:

        >>> ds = tf.data.Dataset.from_tensor_slices(["the cat sat", "the dog ran"] * 20)
        >>> tok = SubwordTokenizer.train_streamed(ds.batch(8), vocab_size=300)
        >>> tok.detokenize(tok.tokenize(tf.constant(["the cat ran"]))).numpy()
        array([b'the cat ran'], dtype=object)
        """
        if not isinstance(texts, tf.data.Dataset):
            raise TypeError("Argument `texts` of train_streamed must be a tf.data.Dataset of "
                            f"strings; got {type(texts).__name__}.")
        _check_vocab_size(vocab_size)
        if texts.element_spec.shape.rank == 0:
            texts = texts.batch(1024)
        normalised = texts.map(lambda t: normalize(t, lowercase),
                               num_parallel_calls=tf.data.AUTOTUNE)
        chars, counts = set(), [0]

        def sentences():
            # Python per sentence only here: sentencepiece's trainer takes a
            # Python iterator. The set of characters seen is small (a
            # script's alphabet), whatever the corpus size.
            counts[0] = 0
            for batch in normalised.as_numpy_iterator():
                for raw in batch:
                    if raw:
                        sentence = raw.decode("utf-8")
                        chars.update(sentence)
                        counts[0] += 1
                        yield sentence

        try:
            return cls._train_sentencepiece(sentences, lambda: len(chars), vocab_size,
                                            lowercase, character_coverage, seed,
                                            max_sentences)
        except RuntimeError:
            if not counts[0]:
                raise ValueError("Cannot train a tokenizer: every text is empty.") from None
            raise

    @classmethod
    def _train_sentencepiece(cls, sentences, distinct_chars, vocab_size, lowercase,
                             character_coverage, seed, max_sentences):
        """The sentencepiece trainer on `sentences()` (normalised text, an
        iterator made afresh for each attempt), shrinking the vocabulary
        when the text cannot support `vocab_size` (`distinct_chars()`: the
        characters of the text, known once it has been read)."""
        import sentencepiece as spm

        # Sentence sampling is seeded, so a vocabulary is reproducible.
        spm.set_random_generator_seed(seed)
        size = vocab_size
        while True:
            buffer = io.BytesIO()
            try:
                spm.SentencePieceTrainer.train(
                    sentence_iterator=sentences(), model_writer=buffer,
                    vocab_size=size, model_type="unigram",
                    character_coverage=character_coverage, byte_fallback=True,
                    pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
                    # The text is already normalised (NFKC) by `normalize`,
                    # in graph ops shared with serving.
                    normalization_rule_name="identity", remove_extra_whitespaces=False,
                    # A seeded reservoir sample of at most `max_sentences`:
                    # the trainer never holds more, however long the input.
                    input_sentence_size=max_sentences, shuffle_input_sentence=True,
                    num_threads=os.cpu_count() or 1,
                    minloglevel=2,
                )
                break
            except RuntimeError as err:
                # Small corpora cannot support a big vocabulary; sentencepiece
                # says so ("Vocabulary size too high"), and we shrink.
                floor = 260 + distinct_chars()
                if "Vocabulary size too high" not in str(err) or size <= floor:
                    raise
                # It names the largest size the text supports ("Please set
                # it to a value <= N"): take that, keeping the pieces that
                # are whole words, rather than a blind cut down to bytes.
                most = re.search(r"<= (\d+)", str(err))
                size = (max(floor, int(most.group(1))) if most and int(most.group(1)) < size
                        else max(floor, int(size * 0.7)))
        if size != vocab_size:
            log.warning("Tokenizer vocabulary shrunk from %d to %d to fit the text.",
                        vocab_size, size)
        return cls(buffer.getvalue(), lowercase=lowercase)

    # ------------------------------------------------------------ tokenising
    @property
    def tf_tokenizer(self):
        """The `tensorflow_text.SentencepieceTokenizer` (a trackable resource
        to pass to `ExportArchive.track`)."""
        if self._tf is None:
            # Created eagerly even when first used inside a `tf.function`:
            # a resource made in a function graph dies with that graph, and
            # a later eager call (or another trace) could not reach it.
            # The op's kernel keeps the model in TensorFlow's resource
            # manager under its node name, and a reloaded SavedModel builds
            # every tokenizer from a same-named node: two tokenizers (source
            # and target) would then share one model. A name from the model's
            # hash keeps distinct models apart.
            name = "sentencepiece_" + hashlib.sha1(self.model_proto).hexdigest()[:16]
            with tf.init_scope():
                self._tf = tf_text.SentencepieceTokenizer(model=self.model_proto,
                                                          out_type=tf.int32, name=name)
                self._tf.vocab_size()  # creates the resource now
        return self._tf

    @property
    def vocab_size(self):
        return int(self._eager_retry(lambda: self.tf_tokenizer.vocab_size()))

    def reset(self):
        """Drops the tensorflow-text tokenizer so the next use recreates it.

        Its SentencePiece model lives in a resource owned by the op kernel,
        and `tf.random.set_seed` (so `keras.utils.set_random_seed`) clears
        the eager kernel cache, deleting it; eager callers recover with this.
        """
        self._tf = None

    def _eager_retry(self, fn):
        try:
            return fn()
        except tf.errors.NotFoundError:
            if not tf.executing_eagerly():
                raise
            self.reset()
            return fn()

    def tokenize(self, texts):
        """`string [batch]` -> ragged int32 `[batch, (tokens)]` (no BOS/EOS)."""
        texts = tf.convert_to_tensor(texts, tf.string)
        return self._eager_retry(
            lambda: self.tf_tokenizer.tokenize(normalize(texts, self.lowercase)))

    def detokenize(self, ids):
        """Ids (ragged, or dense padded with `PAD_ID`) -> `string [batch]`.

        Special ids (padding, BOS, EOS) are dropped; everything after the
        first EOS of a row is ignored.
        """
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids, tf.int32)
            # Keep tokens before the first EOS.
            before_eos = tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32), axis=1) == 0
            ids = tf.ragged.boolean_mask(ids, before_eos)
        ids = tf.ragged.boolean_mask(ids, ids > UNK_ID)
        return self._eager_retry(lambda: self.tf_tokenizer.detokenize(ids))

    def id_to_piece(self, ids):
        return self._eager_retry(lambda: self.tf_tokenizer.id_to_string(ids))

    # ---------------------------------------------------------- persistence
    def save(self, path):
        """Writes the SentencePiece model to `path` (a `.model` file)."""
        with open(path, "wb") as f:
            f.write(self.model_proto)

    @classmethod
    def load(cls, path, lowercase=False):
        if not os.path.exists(path):
            raise FileNotFoundError(f"No tokenizer model at {path}.")
        with open(path, "rb") as f:
            return cls(f.read(), lowercase=lowercase)
