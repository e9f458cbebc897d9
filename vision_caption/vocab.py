"""A word-level caption vocabulary run in graph ops (tensorflow-text).

Captions are normalised (`normalize_captions`: NFKC, case folding, every run
of characters that is not a letter, a digit or an apostrophe becomes one
space), split on whitespace by `tensorflow_text.WhitespaceTokenizer`, and
mapped to ids by a `tf.lookup.StaticHashTable`. All of it runs in `tf.data`,
eagerly and inside an exported SavedModel; the word list is saved with the
pipeline and embedded in every export.

Ids: 0 padding, 1 BOS, 2 EOS, 3 unknown word, then the words (most frequent
first), the same special ids as `pipelines.tokenizers`. Captions are small
closed-class text (COCO's usual vocabulary is about 10,000 words), so whole
words are the usual unit: every generated token is a word a person can read.

Example:

>>> vocab = WordVocabulary.build(["A red circle.", "a blue circle"])
>>> vocab.words
['a', 'circle', 'blue', 'red']
>>> ids = vocab.tokenize(tf.constant(["A RED square!"]))
>>> ids.to_list()
[[4, 7, 3]]
>>> vocab.detokenize([[4, 7, 5, 2, 0]]).numpy()
array([b'a red circle'], dtype=object)
"""

import collections

import tensorflow as tf
import tensorflow_text as tf_text

from pipelines.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, normalize

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)


def normalize_captions(texts):
    """`string [...]` -> normalised `string [...]`, in graph ops.

    Example:

    >>> normalize_captions(tf.constant(["  A man's black-and-white DOG."])).numpy()
    array([b"a man's black and white dog"], dtype=object)
    """
    texts = normalize(tf.convert_to_tensor(texts, tf.string), lowercase=True)
    texts = tf.strings.regex_replace(texts, r"[^\p{L}\p{N}']+", " ")
    return tf.strings.strip(texts)


def normalize_caption_list(texts):
    """Python strings -> normalised Python strings (the graph op, eagerly)."""
    texts = list(texts)
    if not texts:
        return []
    return [t.decode("utf-8") for t in normalize_captions(tf.constant(texts)).numpy()]


def count_words(texts, counts=None):
    """Adds the normalised words of `texts` (a string tensor, any shape) to
    `counts` (a `collections.Counter`, new if None) and returns it: the
    counting of `WordVocabulary.build`, in graph ops but for the update, so
    a stream of caption batches is counted without holding the captions.

    Example:

    >>> count_words(tf.constant(["A cat.", "a dog"]))["a"]
    2
    """
    counts = collections.Counter() if counts is None else counts
    texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
    # The normalised text holds single ASCII spaces only: whitespace tokens
    # are the words `str.split` gives.
    words = tf_text.WhitespaceTokenizer().tokenize(normalize_captions(texts)).flat_values
    unique, _, n = tf.unique_with_counts(words)
    counts.update({w.decode("utf-8"): int(c) for w, c in zip(unique.numpy(), n.numpy())})
    return counts


class WordVocabulary(tf.Module):
    """Words <-> ids for captions, in graph ops.

    Args:
        words: the vocabulary without the special tokens (distinct, non-empty,
            no whitespace), most frequent first.

    Example:

    >>> WordVocabulary(["a", "cat"]).size
    6
    """

    def __init__(self, words, name="caption_vocabulary"):
        super().__init__(name=name)
        words = list(words)
        for i, w in enumerate(words):
            if not isinstance(w, str) or not w or w != w.strip() or " " in w:
                raise ValueError(
                    f"Argument `words` must hold non-empty words without spaces; got "
                    f"words[{i}]={w!r}.")
            if w in SPECIAL_TOKENS:
                raise ValueError(f"Argument `words` must not hold the special token {w!r}.")
        if len(set(words)) != len(words):
            dupes = sorted(w for w, n in collections.Counter(words).items() if n > 1)
            raise ValueError(f"Argument `words` has duplicates: {dupes[:5]}.")
        # Tuples: a tf.Module would wrap lists into trackable ListWrappers.
        self._words = tuple(words)
        self._tokens = tuple(SPECIAL_TOKENS) + self._words
        self._tokenizer = tf_text.WhitespaceTokenizer()
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self._tokens), tf.range(len(self._tokens), dtype=tf.int32)),
            default_value=UNK_ID)
        self.strings = tf.Variable(self._tokens, trainable=False, dtype=tf.string,
                                   name="tokens")

    @classmethod
    def build(cls, captions, min_count=1, max_words=None):
        """Learns the vocabulary from training captions.

        Args:
            captions: an iterable of str.
            min_count: words seen fewer times become the unknown word.
            max_words: keep at most this many words (the most frequent).
        """
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"Argument `min_count` must be an integer >= 1; got {min_count!r}.")
        counts = collections.Counter()
        for caption in normalize_caption_list(captions):
            counts.update(caption.split())
        return cls.from_counts(counts, min_count=min_count, max_words=max_words)

    @classmethod
    def from_counts(cls, counts, min_count=1, max_words=None):
        """The vocabulary of word counts (`{normalised word: count}`, e.g.
        from `count_words`): what `build` learns from the captions counted.

        Args:
            counts: a mapping of words to how often they occur.
            min_count: words seen fewer times become the unknown word.
            max_words: keep at most this many words (the most frequent).

        Example:

        >>> WordVocabulary.from_counts({"a": 3, "cat": 1, "dog": 2}, min_count=2).words
        ['a', 'dog']
        """
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"Argument `min_count` must be an integer >= 1; got {min_count!r}.")
        # Ties broken alphabetically, so a vocabulary is reproducible.
        ranked = sorted((w for w, n in counts.items() if n >= min_count and
                         w not in SPECIAL_TOKENS), key=lambda w: (-counts[w], w))
        if max_words is not None:
            ranked = ranked[:max_words]
        if not ranked:
            raise ValueError("Cannot build a caption vocabulary: no word is frequent enough "
                             f"(min_count={min_count}) in {sum(counts.values())} words.")
        return cls(ranked)

    @property
    def words(self):
        """The words, without the special tokens (a list of str)."""
        return list(self._words)

    @property
    def tokens(self):
        """Every token by id: the special tokens, then the words."""
        return list(self._tokens)

    @property
    def size(self):
        return len(self._tokens)

    def tokenize(self, texts):
        """`string [batch]` -> ragged int32 `[batch, (words)]` (no BOS/EOS)."""
        words = self._tokenizer.tokenize(normalize_captions(texts))
        return tf.ragged.map_flat_values(self.table.lookup, words)

    def detokenize(self, ids):
        """int `[batch, steps]` (dense, padded) -> `string [batch]`: the words
        before the first EOS, special and unknown ids dropped."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        before_eos = tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32), axis=1) == 0
        keep = tf.logical_and(before_eos, ids > UNK_ID)
        words = tf.gather(self.strings, tf.ragged.boolean_mask(ids, keep))
        return tf.strings.reduce_join(words, axis=-1, separator=" ")

    def id_to_word(self, ids):
        return tf.gather(self.strings, tf.convert_to_tensor(ids, tf.int32))
