"""Language-model pretraining of the classifier's recurrent encoder (the
first step of ULMFiT, Howard and Ruder, 2018), for a classifier that holds
up outside the domain of its few labels.

`BidirectionalLanguageModel` is the classifier's embedding and
bidirectional `RecurrentEncoder` (the same layers, so the weights copy one
to one) with two softmax heads: the forward half of each step's output
predicts the next subword, the backward half the previous one (as ELMo's
biLM). One bidirectional layer sees no other token than its own at a step
in either half, so nothing leaks; a stack of them would (layer 2's forward
reads layer 1's backward), which is why pretraining needs
`model.num_layers: 1`.

`pretrain(config, run_dir)` learns the SentencePiece tokenizer on the
unlabeled corpus (`pretrain.corpus`: text files, one sentence per line,
folders of them, or one column of a TSV), trains the language model there
(resumable, as any run), and writes, last, `pretrained.json`, which marks
the folder finished: the tokenizer, `encoder.weights.h5` (the embedding and
encoder weights) and what they were made from. A finished folder is reused
by any config with the same encoder and tokenizer settings and corpus, so
one pretraining serves every label set; a folder made otherwise is an error
naming the field, never silently retrained over.

Example:

>>> lm = BidirectionalLanguageModel(50, embedding_dim=8, units=4)
>>> logits = lm(np.array([[5, 6, 7, 0]], "int32"))
>>> tuple(logits.shape), logits.dtype.name
((1, 4, 2, 50), 'float32')
"""

import dataclasses
import glob
import json
import logging
import os
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from pipelines import precision, training
from pipelines.blocks import FunctionalModel, RecurrentEncoder
from pipelines.config import ConfigError
from pipelines.data import data_dir as default_data_dir, padded_batches, sha256_of
from pipelines.files import atomic_write_text, dumps_json, read_json, utf8_lines
from pipelines.tokenizers import PAD_ID, SubwordTokenizer
from pipelines.validation import check_argument, check_positive_ints
from text.classification.model import _combine, _member_encode, _member_head, _token_masks

log = logging.getLogger(__name__)

PRETRAINED_FILE = "pretrained.json"
WEIGHTS_FILE = "encoder.weights.h5"
TOKENIZER_FILE = "tokenizer.model"
#: Length buckets of the language-model batches (quantiles of the corpus).
BUCKET_QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.95)


# --------------------------------------------------------------- the corpus
@dataclasses.dataclass(frozen=True)
class CorpusEntry:
    """One source of unlabeled text: a file (or every `*.txt` file under a
    folder), one sentence per line, or with `column` set, that column of a
    TSV file."""

    path: str
    column: int = None

    @classmethod
    def parse(cls, entry, where):
        """A config item (a path, or `{path: ..., column: N}`) -> entry."""
        if isinstance(entry, str) and entry.strip():
            return cls(entry)
        if isinstance(entry, dict) and set(entry) <= {"path", "column"} and isinstance(
                entry.get("path"), str) and entry["path"].strip():
            column = entry.get("column")
            if column is not None and (isinstance(column, bool) or not isinstance(column, int)
                                       or column < 0):
                raise ConfigError(f"Config field '{where}.column' must be an integer >= 0; "
                                  f"got {column!r}.")
            return cls(entry["path"], column)
        raise ConfigError(f"Config field '{where}' must be a path or a mapping "
                          f"{{path: ..., column: N}}; got {entry!r}.")

    def files(self, data_dir=None):
        """The files this entry reads: a relative path is looked up in the
        data directory first, then in the working directory."""
        candidates = [self.path] if os.path.isabs(self.path) else [
            os.path.join(default_data_dir(data_dir), self.path), os.path.abspath(self.path)]
        for path in candidates:
            if os.path.isdir(path):
                found = sorted(glob.glob(os.path.join(path, "**", "*.txt"), recursive=True))
                if not found:
                    raise FileNotFoundError(f"pretrain.corpus: the folder {path} has no .txt "
                                            "files.")
                return found
            if os.path.isfile(path):
                return [path]
        raise FileNotFoundError(f"pretrain.corpus: no file or folder {self.path!r} (looked "
                                f"in {' and '.join(candidates)}).")

    def sentences(self, data_dir=None):
        """Yields the entry's non-empty sentences."""
        for path in self.files(data_dir):
            for number, line in utf8_lines(path):
                if self.column is None:
                    text = line
                else:
                    fields = line.split("\t")
                    if not line.strip():
                        continue
                    if len(fields) <= self.column:
                        raise ValueError(f"{path}, line {number}: pretrain.corpus asks for "
                                         f"column {self.column}, the line has {len(fields)} "
                                         "column(s).")
                    text = fields[self.column]
                text = text.strip()
                if text:
                    yield text


def corpus_entries(items):
    return [CorpusEntry.parse(item, f"pretrain.corpus[{i}]") for i, item in enumerate(items)]


def read_corpus(items, data_dir=None, max_sentences=None, seed=0):
    """The distinct sentences of the corpus (first occurrence order), or a
    seeded sample of `max_sentences` of them."""
    seen = {}
    for entry in corpus_entries(items):
        for sentence in entry.sentences(data_dir):
            seen.setdefault(sentence, None)
    sentences = list(seen)
    if not sentences:
        raise ValueError("pretrain.corpus holds no sentences.")
    if max_sentences and len(sentences) > max_sentences:
        pick = np.sort(np.random.default_rng(seed).permutation(len(sentences))[:max_sentences])
        sentences = [sentences[i] for i in pick]
    return sentences


def corpus_signature(items, data_dir=None):
    """What the corpus is, for reuse checks: each file's name, size and
    SHA-256 (not its folder, so a moved data directory still matches)."""
    out = []
    for entry in corpus_entries(items):
        for path in entry.files(data_dir):
            out.append({"file": os.path.basename(path), "column": entry.column,
                        "bytes": os.path.getsize(path), "sha256": sha256_of(path)})
    return out


# ------------------------------------------------------------------ the model
def language_model_loss(tokens, logits, pad_id=PAD_ID):
    """The bidirectional language model's loss: the mean cross-entropy of
    every real next subword (`logits[..., 0, :]`) and previous subword
    (`logits[..., 1, :]`) of `tokens [batch, steps]`, padding left out."""
    tokens = ops.cast(tokens, "int32")
    logits = ops.cast(logits, "float32")
    pad = ops.full_like(tokens[:, :1], pad_id)
    after = ops.concatenate([tokens[:, 1:], pad], axis=1)
    before = ops.concatenate([pad, tokens[:, :-1]], axis=1)
    targets = ops.stack([after, before], axis=2)
    real = ops.cast(ops.not_equal(targets, pad_id), "float32")
    # Padding targets read id 0's logit and are masked out of the mean.
    ce = ops.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    return ops.sum(ce * real) / ops.maximum(ops.sum(real), 1.0)


@keras.saving.register_keras_serializable(package="text")
class BidirectionalLanguageModel(FunctionalModel):
    """Subword ids in, next- and previous-subword logits out: the
    classifier's embedding and one bidirectional recurrent layer, with a
    forward head on the forward half of each step and a backward head on the
    backward half.

    Input: int32 `tokens [batch, steps]` padded with `pad_id`. Output:
    float32 logits `[batch, steps, 2, vocab_size]`: `[..., 0, :]` scores the
    token after each step, `[..., 1, :]` the token before it. Its loss
    (`compute_loss`, with `y` the tokens themselves) is the mean
    cross-entropy over every real next and previous token.

    Args:
        vocab_size: subword vocabulary size.
        embedding_dim, units, cell_type: as the classifier's (see
            `RecurrentClassifier`); the `embedding` and `encoder` layers are
            built as one classifier member's, so their weights transfer.
        dropout: dropout of whole token vectors at the input, and of the
            encoder's output.
        pad_id: the padding id.
        dtype: the dtype policy of every layer but the float32 heads.

    Example:

    >>> lm = BidirectionalLanguageModel(30, embedding_dim=8, units=4)
    >>> tokens = np.array([[5, 6, 7, 0]], "int32")
    >>> bool(lm.compute_loss(y=tokens, y_pred=lm(tokens)) > 0)
    True
    """

    def __init__(self, vocab_size, embedding_dim=64, units=32, cell_type="gru", dropout=0.0,
                 pad_id=PAD_ID, dtype=None, **kwargs):
        check_positive_ints(vocab_size=vocab_size, embedding_dim=embedding_dim, units=units)
        check_argument(cell_type in ("gru", "lstm"), "cell_type", cell_type,
                       "must be 'gru' or 'lstm'")
        check_argument(0.0 <= dropout < 1.0, "dropout", dropout, "must be in [0, 1)")
        with precision.dtype_scope(dtype):
            # === Layers ===
            embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
            token_dropout = keras.layers.Dropout(dropout, noise_shape=(None, None, 1),
                                                 name="token_dropout")
            # As a classifier member's encoder (residual where widths match).
            encoder = RecurrentEncoder(units, num_layers=1, cell_type=cell_type,
                                       bidirectional=True, residual=True, dropout=dropout,
                                       return_sequences=True, name="encoder")
            forward_head = keras.layers.Dense(vocab_size, dtype=precision.HEAD_DTYPE,
                                              name="forward_head")
            backward_head = keras.layers.Dense(vocab_size, dtype=precision.HEAD_DTYPE,
                                               name="backward_head")

            # === Functional model ===
            tokens = keras.Input((None,), dtype="int32", name="tokens")
            mask = ops.not_equal(tokens, pad_id)
            x = token_dropout(embedding(tokens))
            seq = encoder(x, mask=mask)
            logits = ops.stack([forward_head(seq[..., :units]),
                                backward_head(seq[..., units:])], axis=2)
            super().__init__(inputs=tokens, outputs=logits, **kwargs)

        # === Config ===
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell_type = cell_type
        self.dropout = dropout
        self.pad_id = pad_id

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = language_model_loss(y, y_pred, self.pad_id)
        if self.losses:
            total = total + ops.sum(ops.stack([ops.cast(l, "float32") for l in self.losses]))
        return total

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim, "units": self.units,
                "cell_type": self.cell_type, "dropout": self.dropout, "pad_id": self.pad_id}


class ClassifierWithLanguageModel(keras.Model):
    """Fine-tuning with the language model kept on (SiATL, Chronopoulou et
    al., 2019): a training-only wrapper of a `RecurrentClassifier` whose loss
    is the classifier's plus `lm_weight` times the bidirectional language
    model's loss of each member's own encoder outputs on the same batch,
    read by the pretrained forward and backward heads. The second loss keeps
    the encoder a language model of the text it fine-tunes on while the few
    labels move it, a regulariser that, unlike L2-SP, pulls toward what the
    encoder does rather than toward its old weights.

    It outputs the classifier's probabilities (the compiled loss and metrics
    read them); the language-model loss is added in training only, so the
    validation loss that picks the best epoch is the classifier's alone.
    The classifier's layers are shared, so training the wrapper trains the
    classifier; only the classifier is saved and exported.

    Args:
        classifier: a built `RecurrentClassifier` whose pooling reads every
            step ("attention" or "concat"), with one bidirectional layer.
        lm_weight: the language-model loss's weight (> 0).
        heads: per member, the `(forward, backward)` head weights to start
            from (`[kernel, bias]` lists, from the pretrained language
            model); None: freshly initialised.

    Example:

    >>> from text.classification.model import RecurrentClassifier
    >>> clf = RecurrentClassifier(40, 2, embedding_dim=8, units=4)
    >>> trainer = ClassifierWithLanguageModel(clf, 0.5)
    >>> tokens = np.array([[5, 6, 7, 0]], "int32")
    >>> tuple(trainer(tokens).shape), len(trainer.losses)
    ((1, 2), 0)
    >>> _ = trainer(tokens, training=True); len(trainer.losses)
    1
    """

    def __init__(self, classifier, lm_weight, heads=None, **kwargs):
        super().__init__(**kwargs)
        check_argument(classifier.pooling != "last" and classifier.num_layers == 1,
                       "classifier", f"pooling={classifier.pooling!r}, "
                       f"num_layers={classifier.num_layers}",
                       "must pool every step ('attention' or 'concat') over one layer")
        check_argument(lm_weight > 0, "lm_weight", lm_weight, "must be positive")
        check_argument(heads is None or len(heads) == classifier.members, "heads",
                       None if heads is None else len(heads),
                       f"must hold one (forward, backward) pair per member "
                       f"({classifier.members})")
        self.classifier = classifier
        self.lm_weight = float(lm_weight)
        self.heads = []
        for k in range(classifier.members):
            sfx = "" if classifier.members == 1 else f"_{k}"
            self.heads.append(tuple(
                keras.layers.Dense(classifier.vocab_size, dtype=precision.HEAD_DTYPE,
                                   name=f"{side}_head{sfx}")
                for side in ("forward", "backward")))
        units = classifier.units
        for pair in self.heads:
            for dense in pair:
                dense.build((None, None, units))
        if heads is not None:
            for pair, weights in zip(self.heads, heads):
                for dense, w in zip(pair, weights):
                    dense.set_weights(w)
        # Every part is built: the wrapper is too (checkpoints need its
        # variables before the first batch).
        self.built = True

    @property
    def _members(self):
        return self.classifier._members

    def call(self, tokens, training=None):
        c = self.classifier
        mask, has_tokens = _token_masks(tokens, c.pad_id)
        log_probs, weights, lm_losses = [], [], []
        for parts, (forward, backward) in zip(c._members, self.heads):
            encoded = _member_encode(parts, tokens, mask, training=training)
            lp, w = _member_head(parts, encoded, mask, has_tokens, training)
            log_probs.append(lp)
            weights.append(w)
            if training:
                logits = ops.stack([forward(encoded[..., :c.units]),
                                    backward(encoded[..., c.units:])], axis=2)
                lm_losses.append(language_model_loss(tokens, logits, c.pad_id))
        if training:
            self.add_loss(self.lm_weight * ops.mean(ops.stack(lm_losses)))
        return _combine(log_probs, weights)[0]


# ------------------------------------------------------------- the pretrained
def settings(config, data_dir=None):
    """What a pretraining is made from: the encoder's and tokenizer's
    settings, the corpus and the language-model training; two configs with
    the same settings share a pretraining."""
    m, t, p = config.model, config.tokenizer, config.pretrain
    return {
        "model.embedding_dim": m.embedding_dim, "model.units": m.units,
        "model.cell_type": m.cell_type, "tokenizer.vocab_size": t.vocab_size,
        "tokenizer.lowercase": t.lowercase, "tokenizer.max_tokens": t.max_tokens,
        "pretrain.corpus": corpus_signature(p.corpus, data_dir),
        "pretrain.max_sentences": p.max_sentences, "pretrain.dropout": p.dropout,
        "pretrain.epochs": p.epochs, "pretrain.batch_size": p.batch_size,
        "pretrain.learning_rate": p.learning_rate, "pretrain.val_fraction": p.val_fraction,
        "train.seed": config.train.seed,
    }


class PretrainedEncoder:
    """A finished pretraining folder: its tokenizer, the embedding and
    encoder weights, and `info` (its settings and scores).

    Args:
        path: the folder `pretrain` wrote (with `pretrained.json`).
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        info = read_json(os.path.join(self.path, PRETRAINED_FILE))
        if info is None:
            raise FileNotFoundError(f"{self.path} holds no finished pretraining "
                                    f"({PRETRAINED_FILE} is missing).")
        self.info = info
        self.tokenizer = SubwordTokenizer.load(
            os.path.join(self.path, TOKENIZER_FILE),
            lowercase=info["settings"]["tokenizer.lowercase"])

    def language_model(self):
        """The pretrained `BidirectionalLanguageModel` (weights loaded)."""
        s = self.info["settings"]
        lm = BidirectionalLanguageModel(
            self.tokenizer.vocab_size, embedding_dim=s["model.embedding_dim"],
            units=s["model.units"], cell_type=s["model.cell_type"],
            dropout=s["pretrain.dropout"])
        lm.load_weights(os.path.join(self.path, WEIGHTS_FILE))
        return lm

    def copy_into(self, embedding, encoder, lm=None):
        """Sets a classifier member's `embedding` and `encoder` layers to the
        pretrained weights."""
        lm = lm or self.language_model()
        for target, name in ((embedding, "embedding"), (encoder, "encoder")):
            source = lm.get_layer(name).get_weights()
            shapes = [w.shape for w in target.get_weights()]
            if shapes != [w.shape for w in source]:
                raise ValueError(f"The pretrained {name} in {self.path} has weights "
                                 f"{[w.shape for w in source]}; this classifier's has "
                                 f"{shapes}.")
            target.set_weights(source)


def _check_reusable(path, wanted, section="settings"):
    """Raises one ValueError naming the first of `wanted` that the finished
    folder `path` (its `pretrained.json`'s `section`: the pretraining's
    `settings`, or an `adaptation`) was made otherwise."""
    have = read_json(os.path.join(path, PRETRAINED_FILE)).get(section) or {}
    for key, value in wanted.items():
        if have.get(key) == value:
            continue
        if key == "pretrain.corpus":
            shown = "a different corpus"
        elif key == "adapted_from":
            shown = "another pretraining"
        else:
            shown = f"{key}={have.get(key)!r} (this config: {value!r})"
        if section == "settings":
            raise ValueError(f"pretrain.run_dir={path} holds a pretraining made with {shown}; "
                             "set pretrain.run_dir to another folder, or remove that one to "
                             "pretrain again.")
        raise ValueError(f"{path} holds a language model adapted with {shown}; remove it to "
                         "adapt again.")


def _datasets(sentences, tokenizer, p, max_tokens, seed):
    """Train and validation batches of the tokenised corpus, by length."""
    ids = tokenizer.tokenize(tf.constant(sentences, tf.string))[:, :max_tokens]
    lengths = ids.row_lengths().numpy()
    keep = np.flatnonzero(lengths >= 2)  # a one-token sentence predicts nothing
    order = np.random.default_rng(seed).permutation(keep)
    n_val = max(1, int(len(order) * p.val_fraction))
    boundaries = sorted(set(int(b) + 1 for b in np.quantile(lengths[keep], BUCKET_QUANTILES)))

    def batches(rows, shuffle):
        ds = tf.data.Dataset.from_tensor_slices(tf.gather(ids, np.sort(rows)))
        if shuffle:
            ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda r: {"tokens": tf.reshape(r, [-1])})
        ds = padded_batches(ds, p.batch_size, lambda e: tf.shape(e["tokens"])[0], boundaries)
        return ds.map(lambda b: (b["tokens"], b["tokens"])).prefetch(tf.data.AUTOTUNE)

    return batches(order[n_val:], True), batches(order[:n_val], False), len(order) - n_val


def pretrain(config, run_dir, data_dir=None):
    """Pretrains the encoder of `config` (a `ClassificationConfig` with
    `pretrain.corpus` set) in `run_dir`, or reuses the finished pretraining
    there.

    Returns:
        The `PretrainedEncoder`.

    Raises:
        ValueError: when `run_dir` holds a pretraining made with other
            settings (naming the first that differs).
    """
    p = config.pretrain
    if not p.corpus:
        raise ValueError("pretrain needs unlabeled text: set pretrain.corpus.")
    run_dir = os.path.abspath(os.fspath(run_dir))
    wanted = settings(config, data_dir)
    if os.path.exists(os.path.join(run_dir, PRETRAINED_FILE)):
        _check_reusable(run_dir, wanted)
        log.info("Reusing the finished pretraining in %s.", run_dir)
        return PretrainedEncoder(run_dir)

    start = time.time()
    t, m = config.tokenizer, config.model
    sentences = read_corpus(p.corpus, data_dir, p.max_sentences, seed=config.train.seed)
    log.info("Pretraining on %d distinct sentences of pretrain.corpus.", len(sentences))
    training.seed_everything(config.train.seed)
    tokenizer = SubwordTokenizer.train(sentences, t.vocab_size, lowercase=t.lowercase,
                                       seed=config.train.seed,
                                       max_sentences=t.sample_sentences)
    with precision.policy_scope(config.train.precision):
        lm = BidirectionalLanguageModel(tokenizer.vocab_size, embedding_dim=m.embedding_dim,
                                        units=m.units, cell_type=m.cell_type,
                                        dropout=p.dropout)
    history, n_train = _train_language_model(
        lm, sentences, tokenizer, config, os.path.join(run_dir, "lm"), {"pretrain": wanted},
        p.epochs, p.learning_rate)
    info = {"settings": wanted, "sentences": len(sentences), "train_sentences": n_train,
            **_scores(history), "seconds": time.time() - start}
    _write_finished(run_dir, tokenizer, lm, info)
    log.info("Pretrained the encoder in %.1f min (validation perplexity %.1f): %s",
             info["seconds"] / 60, info["val_perplexity"] or float("nan"), run_dir)
    return PretrainedEncoder(run_dir)


def adapt(pretrained, sentences, config, run_dir):
    """ULMFiT's second step: the pretrained language model trained on for
    `pretrain.adapt_epochs` more epochs on the task's own (training)
    sentences, so the encoder knows their words before the labels are
    used; in `run_dir` (finished and reused as `pretrain` is).

    Returns:
        A `PretrainedEncoder` of the adapted weights (the same tokenizer).
    """
    p = config.pretrain
    run_dir = os.path.abspath(os.fspath(run_dir))
    wanted = {"adapted_from": pretrained.info["settings"], "sentences": len(sentences),
              "pretrain.adapt_epochs": p.adapt_epochs,
              "pretrain.adapt_learning_rate": p.adapt_learning_rate}
    if os.path.exists(os.path.join(run_dir, PRETRAINED_FILE)):
        _check_reusable(run_dir, wanted, "adaptation")
        return PretrainedEncoder(run_dir)
    start = time.time()
    lm = pretrained.language_model()
    history, n_train = _train_language_model(
        lm, sentences, pretrained.tokenizer, config, os.path.join(run_dir, "lm"),
        {"adapt": wanted}, p.adapt_epochs, p.adapt_learning_rate)
    info = {**pretrained.info, "adaptation": wanted, "adapted_sentences": n_train,
            "adapted": _scores(history), "adapt_seconds": time.time() - start}
    _write_finished(run_dir, pretrained.tokenizer, lm, info)
    log.info("Adapted the language model to %d task sentences in %.1f min (validation "
             "perplexity %.1f).", n_train, info["adapt_seconds"] / 60,
             info["adapted"]["val_perplexity"] or float("nan"))
    return PretrainedEncoder(run_dir)


def _train_language_model(lm, sentences, tokenizer, config, run_path, record, epochs,
                          learning_rate):
    """Trains `lm` on `sentences` in a resumable run; `(history, train count)`."""
    p, t = config.pretrain, config.tokenizer
    train_ds, val_ds, n_train = _datasets(sentences, tokenizer, p, t.max_tokens,
                                          config.train.seed)
    lm_train = dataclasses.replace(config.train, epochs=epochs, batch_size=p.batch_size,
                                   learning_rate=learning_rate, weight_decay=0.0,
                                   patience=p.patience, lr_decay=p.lr_decay)
    with precision.policy_scope(config.train.precision):
        lm.compile(optimizer=training.make_optimizer(lm_train))
        lm.optimizer.build(lm.trainable_variables)
    with training.run_directory(run_path, "lm") as run:
        run.prepare(record)
        return training.fit(lm, train_ds, val_ds, lm_train, run), n_train


def _scores(history):
    val_loss = min((r["val_loss"] for r in history if "val_loss" in r), default=None)
    return {"epochs": len(history), "val_loss": val_loss,
            "val_perplexity": None if val_loss is None else float(np.exp(val_loss))}


def _write_finished(run_dir, tokenizer, lm, info):
    # The marker last, each file renamed into place whole: a kill leaves a
    # folder without `pretrained.json`, which the next call finishes (the
    # run in lm/ resumes, or knows it has finished).
    for name, write in ((TOKENIZER_FILE, tokenizer.save),
                        (WEIGHTS_FILE, lm.save_weights)):
        tmp = os.path.join(run_dir, f".tmp-{os.getpid()}-{name}")
        write(tmp)
        os.replace(tmp, os.path.join(run_dir, name))
    atomic_write_text(os.path.join(run_dir, PRETRAINED_FILE), dumps_json(info))


def summary(info):
    """What a classifier records of its pretraining: the corpus files, the
    sentence counts, the language model's validation perplexity (after the
    adaptation, when there was one)."""
    adapted = info.get("adapted")
    return {"corpus": [c["file"] for c in info["settings"]["pretrain.corpus"]],
            "sentences": info["sentences"], "epochs": info["epochs"],
            "val_perplexity": info["val_perplexity"],
            "adapted_sentences": info.get("adapted_sentences"),
            "adapted_val_perplexity": adapted["val_perplexity"] if adapted else None}


def describe(info):
    """One line about a pretraining (for logs and the bench)."""
    return json.dumps({k: info[k] for k in ("sentences", "epochs", "val_perplexity",
                                            "seconds") if k in info})
