"""`SentenceClassifier`: the user-facing sentence-classification pipeline,
sentence in, label out.

A SentencePiece tokenizer learned on the training split and run by
tensorflow-text in the graph, around the network (`RecurrentClassifier`,
`text.classification.model`): `fit` (one network, or a small ensemble of
networks trained one after another and averaged), `evaluate` (accuracy,
macro F1 and the confusion matrix, from scikit-learn), `predict`,
`explain`/`plot` (which words the model leaned on), `save`/`load` and
`export` (a SavedModel: `serve(text) -> {label, probabilities}`).

Example:

>>> from text.classification import SentenceClassifier, data     # doctest: +SKIP
>>> split = data.split_labelled(data.sentiment(skip_bad=True))   # doctest: +SKIP
>>> clf = SentenceClassifier().fit(split.train, split.val)        # doctest: +SKIP
>>> clf.evaluate(split.test)["accuracy"]                          # doctest: +SKIP
0.82
>>> clf.predict(["Great phone, works perfectly."]).labels         # doctest: +SKIP
['positive']

From shards written by `pipelines prepare text` (or `text.prepare`):

>>> clf = SentenceClassifier(shards="runs/sentiment_shards").fit()  # doctest: +SKIP
"""

import collections
import logging
import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from pipelines import distribute, files, precision, shards as shards_lib, training
from pipelines.config import check
from pipelines.data import padded_batches
from pipelines.pipeline import Pipeline
from pipelines.tokenizers import PAD_ID, SubwordTokenizer, normalize
from pipelines.validation import check_sentences
from text import shards as text_shards
from text.classification import pretrain as pretrain_lib, shards as classification_shards
from text.classification.config import ClassificationConfig
from text.classification.data import check_examples, split_labelled
from text.classification.model import RecurrentClassifier
from text.classification.ngrams import NgramModel
from text.pipeline import SentencePipeline

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.model"
NGRAMS_FILE = "ngrams.npz"
# SentencePiece marks the start of a word with this character.
WORD_START = "\u2581"
#: Quantiles of the lengths at the bucket boundaries (in memory and from
#: shards).
BUCKET_QUANTILES = (0.25, 0.5, 0.75)

Predictions = collections.namedtuple("Predictions", ["labels", "probabilities"])
Predictions.__doc__ = """What `SentenceClassifier.predict` returns: `labels` (a list
of str) and `probabilities` (float32 `[n, classes]`, columns in the order of
`SentenceClassifier.labels`). Unpacks as `labels, probabilities = ...`."""


class AnchorRegularizer(keras.regularizers.Regularizer):
    """`strength * sum((w - anchor)**2)`: pulls fine-tuned weights toward
    the pretrained ones (L2-SP, Li et al., 2018) rather than toward zero.
    Set on the variables for training only (`_initialize`): a variable's
    regularizer is not part of any layer config, so it is never serialised."""

    def __init__(self, strength, anchor):
        self.strength = float(strength)
        self.anchor = tf.constant(anchor)

    def __call__(self, w):
        return self.strength * tf.reduce_sum(tf.square(w - tf.cast(self.anchor, w.dtype)))


class SentenceClassifier(SentencePipeline):
    """Sentence in, label out: a SentencePiece subword tokenizer (run in the
    graph, see `text.pipeline.SentencePipeline`) + a
    bidirectional recurrent encoder with attention (or last-state) pooling
    and a softmax over the labels seen in training.

    Labels are strings (any names, any number of classes, at least two);
    `labels` lists them in sorted order, the order of the probability
    columns.

    Behaviour on odd inputs (the same in `predict` and in the export): an
    empty or whitespace-only sentence has no tokens and gets the model's
    prior (the head's answer to an all-zero sentence vector; `predict` logs a
    warning); characters the vocabulary lacks (any script, emoji) are
    tokenised as UTF-8 bytes, never unknown; a sentence longer than
    `tokenizer.max_tokens` subword tokens is classified from its first
    `max_tokens` tokens (`predict` logs a warning). In training and
    evaluation, empty sentences and (in `evaluate`) labels not seen in
    training are errors naming the example.

    Args:
        config: a `ClassificationConfig` (defaults: UCI sentiment sentences,
            amazon + imdb).
        **overrides: fields of its sections (`SentenceClassifier(members=1,
            epochs=5)`; see `pipelines.pipeline.Pipeline`).

    Example:

    >>> clf = SentenceClassifier(members=1, epochs=2)
    >>> clf.config.model.pooling, clf.config.model.members, clf.config.train.epochs
    ('attention', 1, 2)
    """

    config_class = ClassificationConfig
    state_file = "classifier.json"
    export_name = "classification"
    shard_domain = classification_shards.DOMAIN
    #: The `SubwordTokenizer` and the label names (sorted: the order of the
    #: probability columns), set by `fit` or `load`.
    tokenizer = labels = None
    #: The `pretrain.PretrainedEncoder` that `fit` starts from (with
    #: `pretrain.corpus` set), else None.
    _pretrained = None
    #: The pretrained (adapted) language model the network was initialised
    #: from, while `fit` runs.
    _lm = None
    #: What the encoder was pretrained on (`pretrain.summary`; saved with
    #: the classifier and in the export's metadata), or None.
    pretraining = None
    #: The bag of n-grams mixed into the answer (`ngrams.NgramModel`, with
    #: `model.ngram_weight > 0`; set by `fit` or `load`), else None.
    ngrams = None

    # ------------------------------------------------------------------ data
    def _encode(self, sentences):
        """Sentences -> (ragged ids truncated to `max_tokens`, token counts
        before truncation, how many were truncated)."""
        ids = self.tokenizer.tokenize(tf.constant(sentences, tf.string))
        lengths = ids.row_lengths().numpy()
        max_tokens = self.config.tokenizer.max_tokens
        return ids[:, :max_tokens], lengths, int((lengths > max_tokens).sum())

    def _label_ids(self, labels, what):
        index = {name: i for i, name in enumerate(self.labels)}
        for i, label in enumerate(labels):
            if label not in index:
                raise ValueError(
                    f"{what}[{i}]: label {label!r} was not seen in training; the model "
                    f"knows {self.labels}.")
        return np.array([index[label] for label in labels], "int32")

    def _dataset(self, examples, training_mode, what):
        """Batches of `examples` (a list, or a `pipelines.shards.Split`
        streamed from its shards), bucketed by length."""
        if isinstance(examples, shards_lib.Split):
            return self._streamed(examples, training_mode)
        cfg = self.config
        sentences, labels = check_examples(examples, what)
        label_ids = self._label_ids(labels, what)
        ids, lengths, truncated = self._encode(sentences)
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise ValueError(f"{what}[{empty[0]}]: empty sentence {sentences[empty[0]]!r} "
                             f"({len(empty)} empty in all); remove it from the data.")
        if truncated:
            log.info("%s: %d sentences longer than tokenizer.max_tokens=%d were truncated.",
                     what, truncated, cfg.tokenizer.max_tokens)
        n_classes = len(self.labels)
        alpha = cfg.tokenizer.sampling_alpha if training_mode else 0.0
        ds = tf.data.Dataset.from_tensor_slices({
            "tokens": ids, "text": tf.constant(sentences, tf.string),
            "label": tf.one_hot(label_ids, n_classes)})
        if training_mode:
            ds = ds.shuffle(len(sentences), seed=cfg.train.seed, reshuffle_each_iteration=True)
        clipped = np.minimum(lengths, cfg.tokenizer.max_tokens)
        boundaries = sorted(set(int(b) + 1 for b in np.quantile(clipped, BUCKET_QUANTILES)))
        if alpha:
            # Subword regularisation: a fresh segmentation of the same text,
            # sampled from the same unigram model, every epoch.
            sampler = tf_text.SentencepieceTokenizer(
                model=self.tokenizer.model_proto, out_type=tf.int32, nbest_size=-1,
                alpha=alpha)
            lowercase, max_tokens = self.tokenizer.lowercase, cfg.tokenizer.max_tokens

            def tokens_of(e):
                return sampler.tokenize(normalize(e["text"], lowercase))[:max_tokens]
        else:
            # Rows of a ragged tensor come out ragged; padded batching wants dense.
            def tokens_of(e):
                return tf.reshape(e["tokens"], [-1])

        ds = ds.map(lambda e: {"tokens": tokens_of(e), "label": e["label"]})
        ds = padded_batches(ds, cfg.train.batch_size, lambda e: tf.shape(e["tokens"])[0],
                            boundaries)
        return ds.map(lambda b: (b["tokens"], b["label"])).prefetch(tf.data.AUTOTUNE)

    def _streamed(self, split, training_mode):
        """Batches of a shard `Split`: its records (the bounded shuffle in
        training) tokenised in the `tf.data` map (segmentations sampled with
        `tokenizer.sampling_alpha` in training), bucketed by their length in
        characters at the boundaries of the split's length histogram, padded
        and prefetched; no Python per example."""
        t = self.config.tokenizer
        alpha = t.sampling_alpha if training_mode else 0.0

        drops = self._drops("training sentences" if training_mode else "validation sentences",
                            "no subword tokens")

        def parse(records):
            return classification_shards.parse(records, self.tokenizer, self.labels,
                                               t.max_tokens, alpha, drops)

        ds = self._stream(split, parse, training_mode)
        ds = padded_batches(ds, self.config.train.batch_size, lambda e: e["length"],
                            split.boundaries(BUCKET_QUANTILES))
        return ds.map(lambda b: (b["tokens"], b["label"])).prefetch(tf.data.AUTOTUNE)

    def _build_model(self):
        m = self.config.model
        return RecurrentClassifier(
            self.tokenizer.vocab_size, len(self.labels), embedding_dim=m.embedding_dim,
            units=m.units, num_layers=m.num_layers, cell_type=m.cell_type, pooling=m.pooling,
            embedding_dropout=m.embedding_dropout, dropout=m.dropout, members=m.members,
            pad_id=PAD_ID,
        )

    def _initialize(self, model):
        # Fine-tuning starts from the pretrained embedding and encoder.
        self._lm = None
        if self._pretrained is not None:
            lm = self._lm = self._pretrained.language_model()
            strength = self.config.pretrain.anchor
            for parts in model._members:
                self._pretrained.copy_into(parts[0], parts[2], lm)
                if strength:
                    for layer in (parts[0], parts[2]):
                        for v in layer.trainable_variables:
                            v.regularizer = AnchorRegularizer(strength, v.numpy())

    def _trained_model(self):
        # SiATL: the language model's heads stay on during fine-tuning.
        weight = self.config.pretrain.lm_weight
        if self._lm is None or not weight:
            return self.model
        heads = [tuple(self._lm.get_layer(f"{side}_head").get_weights()
                       for side in ("forward", "backward"))] * self.model.members
        return pretrain_lib.ClassifierWithLanguageModel(self.model, weight, heads=heads)

    def _rate_groups(self, model):
        """Top to bottom: the new layers (pooling, head), the encoders, the
        embeddings (of every member)."""
        encoders = [v for parts in model._members for v in parts[2].trainable_variables]
        embeddings = [v for parts in model._members for v in parts[0].trainable_variables]
        lower = {id(v) for v in encoders + embeddings}
        new = [v for v in model.trainable_variables if id(v) not in lower]
        return [new, encoders, embeddings]

    def _optimizer(self, model):
        if self._pretrained is None:
            return super()._optimizer(model)
        return training.make_optimizer(self.config.train, groups=self._rate_groups(model))

    def _callbacks(self):
        if self._pretrained is None:
            return ()
        p = self.config.pretrain
        return (training.LayerRates(p.discriminative, p.unfreeze_epochs,
                                    multipliers=[1.0, 1.0, p.embedding_rate]),)

    def _compile_args(self):
        smoothing = self.config.model.label_smoothing
        return {"loss": keras.losses.CategoricalCrossentropy(label_smoothing=smoothing),
                "metrics": [keras.metrics.CategoricalAccuracy(name="accuracy")]}

    # ------------------------------------------------------------------- fit
    def fit(self, train=None, val=None, run_dir=None):
        """Learns the label set and the tokenizer on `train`, and trains.

        With `pretrain.corpus` set, first pretrains the encoder as a language
        model (or reuses the finished pretraining in `pretrain.run_dir`),
        adapts it to the training sentences (`pretrain.adapt_epochs`), and
        fine-tunes from it with its tokenizer (see
        `text.classification.pretrain`).

        With `model.ngram_weight > 0`, then fits the n-gram model
        (`ngrams.NgramModel`) on the same training split, C chosen on the
        same validation split; it reads whole sentences (the network reads
        the first `tokenizer.max_tokens` subwords).

        With `model.members > 1`, trains that many networks one after another
        (seeds `train.seed + k`; run directories `<run_dir>/members/<k>/`,
        each resumable) and averages them in one model; `history` rows then
        carry a `member` column.

        Args:
            train: `(sentence, label)` pairs (at least two distinct labels),
                a `pipelines.shards.Split` of shards written by `pipelines
                prepare text` with a classification config, or None for the
                shards of `data.shards` (an ensemble too: every member
                streams them).
            val: validation pairs, for early stopping and the best epoch
                (default: a seeded, stratified `data.val_fraction` of `train`;
                for shards, their "val" split).
            run_dir: run directory (checkpoints, history, resume); a
                temporary one if None.

        Returns:
            self.
        """
        self.ngrams = None
        if not self.config.model.ngram_weight:
            return self._fit_encoder_and_networks(train, val, run_dir)
        if train is None or isinstance(train, shards_lib.Split):
            raise ValueError("model.ngram_weight > 0 needs in-memory (sentence, label) "
                             "examples: the n-gram model is fitted in memory.")
        train, val = self._split(train, val)
        self._fit_encoder_and_networks(train, val, run_dir)
        self.ngrams = NgramModel.fit(train, val, labels=self.labels,
                                     blocks=self.config.model.ngram_blocks(),
                                     seed=self.config.train.seed)
        self._forget_functions()
        return self

    def _fit_encoder_and_networks(self, train, val, run_dir):
        if self.config.pretrain.corpus:
            # The pretraining first (or the finished one reused), in its own
            # folder: `pretrain.run_dir`, or `pretrain/` in the run directory.
            with training.run_directory(run_dir, "sentenceclassifier") as run:
                p = self.config.pretrain
                folder = p.run_dir or os.path.join(run.path, "pretrain")
                self._pretrained = pretrain_lib.pretrain(self.config, folder)
                if p.adapt_epochs:
                    if train is None:
                        raise ValueError("SentenceClassifier.fit with pretrain.adapt_epochs "
                                         "needs the training examples: pass them.")
                    # On the training sentences only: the validation split
                    # that picks the epoch is held out of it too.
                    train, val = self._split(train, val)
                    self._pretrained = pretrain_lib.adapt(
                        self._pretrained, [s for s, _ in train], self.config,
                        os.path.join(run.path, "lm_adapted"))
                self._fit_networks(train, val, run.path)
                self.pretraining = pretrain_lib.summary(self._pretrained.info)
                return self
        self.pretraining = None
        return self._fit_networks(train, val, run_dir)

    def _fit_networks(self, train, val, run_dir):
        if self.config.model.members > 1:
            return self._fit_members(train, val, run_dir)
        try:
            return super().fit(train, val, run_dir=run_dir)
        finally:
            self._lm = None  # needed only to initialise the network

    def _split(self, train, val):
        cfg = self.config
        train = list(train)
        if val is None:
            parts = split_labelled(train, val_fraction=cfg.data.val_fraction,
                                   test_fraction=0.0, seed=cfg.data.seed)
            train, val = parts.train, parts.val
        train = list(zip(*check_examples(train, "train")))
        val = list(zip(*check_examples(list(val), "val")))
        if not train or not val:
            raise ValueError("fit needs non-empty training and validation examples; got "
                             f"{len(train)} and {len(val)}.")
        classes = sorted({label for _, label in train})
        if len(classes) < 2:
            raise ValueError("A classifier needs at least two labels; the training data "
                             f"has only {classes[0]!r} ({len(train)} sentences).")
        return train, val

    def _learn(self, train, labels=None, tokenizer=None):
        # An ensemble's members are given the labels and the tokenizer the
        # ensemble learned (see `_fit_members`); a fine-tuned classifier
        # reads with its pretraining's tokenizer.
        t, seed = self.config.tokenizer, self.config.train.seed
        if tokenizer is None and self._pretrained is not None:
            tokenizer = self._pretrained.tokenizer
            tokenizer.reset()  # its resource died with `fit`'s seeding
        if isinstance(train, shards_lib.Split):
            self.labels = labels or classification_shards.labels(train, t.sample_sentences)
            if len(self.labels) < 2:
                raise ValueError(f"A classifier needs at least two labels; the training split "
                                 f"of data.shards={train.shards.folder} has only "
                                 f"{self.labels}.")
            # Streamed into sentencepiece's trainer, which keeps a seeded
            # sample of `tokenizer.sample_sentences`: the corpus is never
            # held in memory.
            self.tokenizer = tokenizer or SubwordTokenizer.train_streamed(
                text_shards.texts(train, "sentence"), t.vocab_size, lowercase=t.lowercase,
                seed=seed, max_sentences=t.sample_sentences)
            return
        self.labels = labels or sorted({label for _, label in train})
        self.tokenizer = tokenizer or SubwordTokenizer.train(
            [s for s, _ in train], t.vocab_size, lowercase=t.lowercase, seed=seed,
            max_sentences=t.sample_sentences)

    def _shard_splits_of(self, train, val):
        """`(train, val)` for an ensemble, as the base `fit` takes them: the
        shards of `data.shards` (train None) or of a `Split`, checked, their
        "val" split by default; or in-memory examples, split."""
        if train is None:
            train, val = self._shard_splits(val)
        if not isinstance(train, shards_lib.Split):
            return self._split(train, val)
        train.shards.check(self.shard_domain, self._shard_fields())
        if val is None and train.shards.has("val"):
            val = train.shards.split("val")
        return train, val

    def _prepare(self, train, val):
        if isinstance(train, shards_lib.Split):
            return self._prepare_streamed(train, val)
        val_ds = self._dataset(val, False, "val")
        # Seeded again after the tokenizer and the validation data, so the
        # data order and the initialisation depend on `train.seed` alone:
        # an ensemble member (seed + k), given its tokenizer, gets exactly
        # what a network trained on its own with that seed gets.
        training.seed_everything(self.config.train.seed)
        train_ds = self._dataset(train, True, "train")
        return train_ds, val_ds

    def _prepare_streamed(self, train, val):
        if not val:
            raise ValueError(f"data.shards={train.shards.folder} has no 'val' split and no "
                             "validation examples were given: pass val=..., or prepare the "
                             "shards again with data.val_fraction > 0.")
        # Seeded as in memory (see `_prepare`): building streams draws no
        # random numbers, so the initialisation is the in-memory one.
        training.seed_everything(self.config.train.seed)
        # The streams' map functions capture the tokenizer's resource, which
        # that seeding deletes (see SubwordTokenizer.reset): a fresh one,
        # before they are traced.
        self._renew_resources()
        return self._dataset(train, True, "train"), self._dataset(val, False, "val")

    def _fit_members(self, train, val, run_dir):
        """The ensemble: labels and tokenizer learned once (with `train.seed`),
        then network k trained by the base `fit` as a one-network classifier
        with seed `train.seed + k` in `<run_dir>/members/<k>/`, and the
        networks averaged in one `RecurrentClassifier(members=K)`. From
        shards, the labels and the tokenizer are learned once from the
        stream, and every member streams the same shards."""
        cfg = self.config
        train, val = self._shard_splits_of(train, val)
        training.seed_everything(cfg.train.seed)
        self._learn(train)
        networks, history = [], []
        with training.run_directory(run_dir, "sentenceclassifier") as run:
            run.prepare(cfg.to_dict())
            for k in range(cfg.model.members):
                # Its own initialisation, dropout and data order (seed + k),
                # its own run directory (a killed run resumes inside the
                # member it was training), early stopping and best epoch.
                # (`seed` names train.seed: overrides try model, then train.)
                member = type(self)(cfg, members=1, seed=cfg.train.seed + k)
                member._pretrained = self._pretrained
                # The base `fit` of one network, given what the ensemble
                # learned (so its `_learn` learns nothing).
                Pipeline.fit(member, train, val, run_dir=os.path.join(run.path, "members", str(k)),
                             labels=self.labels, tokenizer=self.tokenizer)
                networks.append(member.model)
                history += [dict(row, member=k) for row in member.history]
            files.write_table(run.history, history)
        strategy = distribute.get_strategy(cfg.train.strategy)
        with strategy.scope(), precision.policy_scope(cfg.train.precision):
            self.model = self._build_model()
        self.model.copy_members(networks)
        self.history = history
        self._forget_functions()
        return self

    # ------------------------------------------------------------- inference
    def _graph(self):
        """The graph-only path `text [batch] -> (label [batch], probabilities
        [batch, classes], token counts before truncation)`, shared by
        `predict` and the export so both give the same answers."""
        tokenizer, model, ngrams = self.tokenizer, self.model, self.ngrams
        max_tokens = self.config.tokenizer.max_tokens
        weight = self.config.model.ngram_weight
        names = tf.constant(self.labels, tf.string)

        def infer(text):
            tokens, full_lengths = self._token_ids(tokenizer, text, max_tokens)
            probabilities = tf.cast(model(tokens, training=False), tf.float32)
            if ngrams is not None and weight:
                # A weighted geometric mean of the two answers, renormalised.
                mixed = ((1.0 - weight) * tf.math.log(tf.maximum(probabilities, 1e-30))
                         + weight * ngrams.log_probabilities(text))
                probabilities = tf.nn.softmax(mixed, axis=-1)
            label = tf.gather(names, tf.argmax(probabilities, axis=-1, output_type=tf.int32))
            return label, probabilities, full_lengths

        return infer

    def _tokenizers(self):
        return [self.tokenizer]

    def set_ngram_weight(self, weight):
        """Changes the n-gram model's share of the answer
        (`model.ngram_weight`) without refitting: 0 answers with the network
        alone; above 0 needs a classifier fitted with n-grams. Saved and
        exported as set."""
        check(0 <= weight < 1, "model.ngram_weight", weight, "must be in [0, 1)")
        if weight and self.ngrams is None:
            raise ValueError(f"set_ngram_weight({weight}): this classifier has no n-gram "
                             "model; fit it with model.ngram_weight > 0.")
        self.config.model.ngram_weight = weight
        self._forget_functions()
        return self

    def predict(self, sentences, batch_size=64):
        """Classifies a list of sentences.

        Args:
            sentences: a list of str.
            batch_size: sentences classified together.

        Returns:
            `Predictions(labels, probabilities)`: a list of label names and a
            float32 array `[n, len(self.labels)]`.
        """
        self._require_fitted()
        sentences = check_sentences(sentences)
        labels, probabilities = [], []
        truncated = empty = 0
        max_tokens = self.config.tokenizer.max_tokens
        for label, probs, lengths in self._in_batches(
                "predict", lambda: self._traced(self._graph()), sentences, batch_size):
            labels.extend(s.decode("utf-8") for s in label)
            probabilities.append(probs)
            truncated += int((lengths > max_tokens).sum())
            empty += int((lengths == 0).sum())
        if truncated:
            log.warning("%d sentence(s) longer than tokenizer.max_tokens=%d subword tokens "
                        "were classified from their first %d tokens.", truncated, max_tokens,
                        max_tokens)
        if empty:
            log.warning("%d empty sentence(s) have no tokens; they get the model's prior.",
                        empty)
        probabilities = (np.concatenate(probabilities) if probabilities
                         else np.zeros((0, len(self.labels)), "float32"))
        return Predictions(labels, probabilities)

    def evaluate(self, examples, batch_size=64):
        """Scores `(sentence, label)` pairs with scikit-learn.

        Returns:
            A dict: `accuracy`, `macro_f1`, `per_label_f1` (by label),
            `confusion_matrix` (rows: true label, columns: predicted, both in
            the order of `labels`), `labels` and `examples`.

        Raises:
            ValueError: for a label not seen in training or an empty sentence
                (naming the example).
        """
        from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

        self._require_fitted()
        sentences, truth = check_examples(list(examples), "examples")
        if not sentences:
            raise ValueError("evaluate needs at least one (sentence, label) example.")
        self._label_ids(truth, "examples")
        for i, s in enumerate(sentences):
            if not s.strip():
                raise ValueError(f"examples[{i}]: empty sentence {s!r}; remove it from the "
                                 "evaluation data.")
        predicted = self.predict(sentences, batch_size=batch_size).labels
        f1 = f1_score(truth, predicted, labels=self.labels, average=None, zero_division=0)
        return {
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, labels=self.labels,
                                       average="macro", zero_division=0)),
            "per_label_f1": {name: float(v) for name, v in zip(self.labels, f1)},
            "confusion_matrix": confusion_matrix(truth, predicted,
                                                 labels=self.labels).tolist(),
            "labels": list(self.labels),
            "examples": len(sentences),
        }

    # --------------------------------------------------------- explanations
    def explain(self, sentence, method=None):
        """Which words the model leaned on for `sentence`.

        Args:
            sentence: a str.
            method: "attention" (the attention-pooling weights; needs
                `model.pooling: attention`) or "gradient" (|gradient x input|
                of the predicted class's probability per token). Default:
                attention when the model has it, else gradient.

        Returns:
            A dict: `label`, `probability`, `method`, and `words`, a list of
            `(word, weight)` in sentence order, the weights of a word's
            subword pieces summed (they sum to 1; empty for an empty
            sentence). Only the words the model read are listed: the first
            `tokenizer.max_tokens` subword tokens.
        """
        self._require_fitted()
        if not isinstance(sentence, str):
            raise TypeError(f"`sentence` must be a str; got {type(sentence).__name__}.")
        method = method or ("attention" if self.model.pooling == "attention" else "gradient")
        if method not in ("attention", "gradient"):
            raise ValueError(f"method must be 'attention' or 'gradient'; got {method!r}.")
        prediction = self.predict([sentence])
        label = prediction.labels[0]
        ids, _, _ = self._encode([sentence])
        tokens = ids.to_tensor(default_value=PAD_ID)
        words = []
        if tokens.shape[1]:
            if method == "attention":
                weights = self.model.pooling_weights(tokens)
            else:
                weights = self.model.gradient_weights(tokens, [self.labels.index(label)])
            weights = weights.numpy()[0]
            ids = tokens.numpy()[0]
            pieces = [p.decode("utf-8") for p in self.tokenizer.id_to_piece(ids).numpy()]
            groups = []
            for piece, token, weight in zip(pieces, ids, weights):
                if piece.startswith(WORD_START) or not groups:
                    groups.append(([], 0.0))
                groups[-1][0].append(int(token))
                groups[-1] = (groups[-1][0], groups[-1][1] + float(weight))
            texts = self.tokenizer.detokenize(
                tf.ragged.constant([g for g, _ in groups], tf.int32)).numpy()
            words = [(t.decode("utf-8").strip() or "·", w) for t, (_, w) in zip(texts, groups)]
        return {"label": label,
                "probability": float(prediction.probabilities[0, self.labels.index(label)]),
                "method": method, "words": words}

    def plot(self, sentence, method=None, max_chars_per_line=60):
        """Draws `sentence` with each word's background shaded by how much
        the model leaned on it (see `explain`), titled with the prediction.

        Returns:
            The matplotlib Figure.
        """
        plt = self._pyplot()
        info = self.explain(sentence, method)
        words = info["words"]
        top = max([w for _, w in words] or [1.0]) or 1.0
        cmap = plt.get_cmap("Reds")
        # Lay the words out on lines of `max_chars_per_line` characters.
        lines, x = [[]], 0
        for word, weight in words:
            if x and x + len(word) > max_chars_per_line:
                lines.append([])
                x = 0
            lines[-1].append((x, word, weight))
            x += len(word) + 1
        fig, ax = plt.subplots(figsize=(0.13 * max_chars_per_line + 1, 0.45 * len(lines) + 1))
        for row, line in enumerate(lines):
            for x, word, weight in line:
                shade = 0.85 * weight / top
                ax.text(x, -row, word, family="monospace", fontsize=11, va="center",
                        color="white" if shade > 0.6 else "black",
                        bbox={"facecolor": cmap(shade), "edgecolor": "none",
                              "boxstyle": "round,pad=0.2"})
        ax.set_xlim(-1, max_chars_per_line + 1)
        ax.set_ylim(-len(lines) + 0.4, 0.6)
        ax.axis("off")
        ax.set_title(f"{info['label']} ({info['probability']:.2f}); shading: "
                     f"{info['method']} weight", fontsize=10)
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------- save/load
    def _state(self):
        return {"labels": self.labels, "pretraining": self.pretraining,
                "ngrams": None if self.ngrams is None else self.ngrams.summary()}

    def _restore(self, state, path):
        self.labels = list(state["labels"])
        self.pretraining = state.get("pretraining")
        self.tokenizer = SubwordTokenizer.load(os.path.join(path, TOKENIZER_FILE),
                                               lowercase=self.config.tokenizer.lowercase)
        self.ngrams = None
        if state.get("ngrams") is not None:
            self.ngrams = NgramModel.load(os.path.join(path, NGRAMS_FILE))

    def _files(self):
        files = {TOKENIZER_FILE: self.tokenizer.save}
        if self.ngrams is not None:
            files[NGRAMS_FILE] = self.ngrams.save
        return files

    # ---------------------------------------------------------------- export
    def export(self, path, sample=None):
        """Writes a SavedModel whose `serve(text string [batch])` returns
        `{"label": string [batch], "probabilities": float32 [batch, classes]}`
        (columns in the order of `metadata.json`'s `labels`): normalisation,
        tokenisation, the network and the label lookup all in the graph (it
        needs only `tensorflow` and `tensorflow_text`). `sample` (a list of
        sentences) is classified in memory and by the reloaded export in a
        fresh process; both must agree."""
        return super().export(path, sample=sample)

    def _endpoints(self):
        infer = self._graph()

        def serve(text):
            label, probabilities, _ = infer(text)
            return {"label": label, "probabilities": probabilities}

        return self._text_endpoint(serve)

    def _expected(self, sentences):
        prediction = self.predict(sentences, batch_size=max(1, len(sentences)))
        return {"label": np.array(prediction.labels, dtype=str),
                "probabilities": prediction.probabilities}

    def _export_metadata(self):
        return self._text_metadata(
            f"UTF-8 sentences; only the first {self.config.tokenizer.max_tokens} subword "
            "tokens are read; an empty sentence gets the model's prior",
            labels=list(self.labels), pretraining=self.pretraining,
            ngrams=None if self.ngrams is None else dict(
                self.ngrams.summary(), weight=self.config.model.ngram_weight),
            outputs={"label": {"dtype": "string", "shape": [None]},
                     "probabilities": {"dtype": "float32", "shape": [None, len(self.labels)],
                                       "columns": list(self.labels)}})
