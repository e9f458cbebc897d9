"""`Translator`: the user-facing translation pipeline, sentence in, sentence out.

Example:

>>> from text import Translator, data                        # doctest: +SKIP
>>> splits = data.split_pairs(data.tatoeba("spa", "eng"))    # doctest: +SKIP
>>> tr = Translator().fit(splits["train"], splits["val"])    # doctest: +SKIP
>>> tr.evaluate(splits["test"])                              # doctest: +SKIP
>>> tr.translate(["¿Dónde está la biblioteca?"])             # doctest: +SKIP
['Where is the library?']
"""

import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from pipelines import distribute, export as export_lib, precision, training
from pipelines.data import padded_batches
from pipelines.losses import MaskedSparseCrossEntropy
from pipelines.tokenizers import BOS_ID, EOS_ID, PAD_ID, SubwordTokenizer
from text.config import TranslationConfig
from text.model import Seq2SeqTranslator

log = logging.getLogger(__name__)

STATE_FILE = "translator.json"
SOURCE_TOKENIZER = "source.model"
TARGET_TOKENIZER = "target.model"


def _check_sentences(sentences, what="sentences"):
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"`{what}` must be a list of strings, not one string; wrap it in [...].")
    sentences = list(sentences)
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"{what}[{i}] must be a str; got {type(s).__name__}: {s!r}.")
    return sentences


class Translator:
    """Source sentence in, target sentence out: subword tokenizers + a
    bidirectional recurrent encoder and an attentive recurrent decoder,
    decoded greedily or with beam search in graph ops.

    Behaviour on odd inputs (the same in `translate` and in the export): an
    empty or whitespace-only sentence translates to `""`; characters the
    vocabulary lacks (any script, emoji) are tokenised as UTF-8 bytes, never
    unknown; a sentence longer than `tokenizer.max_source_tokens` subword
    tokens is truncated to that many (`translate` logs a warning).

    Args:
        config: a `TranslationConfig` (defaults: Tatoeba spa->eng).

    Example:

    >>> Translator().config.data.source
    'spa'
    """

    def __init__(self, config=None):
        self.config = config or TranslationConfig()
        self.source_tokenizer = None
        self.target_tokenizer = None
        self.model = None
        self.history = []
        self._infer = {}

    # ------------------------------------------------------------ tokenizers
    def _fit_tokenizers(self, train):
        t = self.config.tokenizer
        seed = self.config.train.seed
        self.source_tokenizer = SubwordTokenizer.train(
            [s for s, _ in train], t.source_vocab, lowercase=t.lowercase_source, seed=seed)
        self.target_tokenizer = SubwordTokenizer.train(
            [s for _, s in train], t.target_vocab, lowercase=t.lowercase_target, seed=seed)

    def _encode_pairs(self, pairs, where):
        """Tokenises pairs; drops (and logs) those too long or empty."""
        t = self.config.tokenizer
        src = self.source_tokenizer.tokenize(tf.constant([s for s, _ in pairs]))
        tgt = self.target_tokenizer.tokenize(tf.constant([s for _, s in pairs]))
        src_len, tgt_len = src.row_lengths().numpy(), tgt.row_lengths().numpy()
        keep = ((src_len >= 1) & (src_len <= t.max_source_tokens)
                & (tgt_len >= 1) & (tgt_len <= t.max_target_tokens - 1))
        dropped = int((~keep).sum())
        if dropped:
            log.warning("%s: dropped %d of %d pairs that are empty or longer than "
                        "tokenizer.max_source_tokens=%d / max_target_tokens=%d.", where,
                        dropped, len(pairs), t.max_source_tokens, t.max_target_tokens)
        if not keep.any():
            raise ValueError(f"{where}: no usable sentence pairs (all empty or too long).")
        keep_t = tf.constant(keep)
        return tf.ragged.boolean_mask(src, keep_t), tf.ragged.boolean_mask(tgt, keep_t)

    def _dataset(self, pairs, training_mode, where):
        src, tgt = self._encode_pairs(pairs, where)
        cfg = self.config
        n = int(src.nrows())
        ds = tf.data.Dataset.from_tensor_slices({"source": src, "target": tgt})
        if training_mode:
            ds = ds.shuffle(n, seed=cfg.train.seed, reshuffle_each_iteration=True)

        def to_example(e):
            bos = tf.constant([BOS_ID], tf.int32)
            eos = tf.constant([EOS_ID], tf.int32)
            return {"source": e["source"],
                    "target_in": tf.concat([bos, e["target"]], 0),
                    "target_out": tf.concat([e["target"], eos], 0)}

        ds = ds.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
        lengths = np.maximum(src.row_lengths().numpy(), tgt.row_lengths().numpy() + 1)
        boundaries = sorted(set(int(b) for b in np.quantile(lengths, np.linspace(0.1, 0.9, 9))))
        ds = padded_batches(
            ds, cfg.train.batch_size,
            lambda e: tf.maximum(tf.shape(e["source"])[0], tf.shape(e["target_in"])[0]),
            boundaries)
        ds = ds.map(lambda b: ({"source": b["source"], "target_in": b["target_in"]},
                               b["target_out"]))
        return ds.prefetch(tf.data.AUTOTUNE)

    def _build_model(self):
        m = self.config.model
        return Seq2SeqTranslator(
            self.source_tokenizer.vocab_size, self.target_tokenizer.vocab_size,
            embedding_dim=m.embedding_dim, units=m.units, encoder_layers=m.encoder_layers,
            cell_type=m.cell_type, attention=m.attention, dropout=m.dropout,
            pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        )

    # ------------------------------------------------------------------- fit
    def fit(self, train, val=None, run_dir=None):
        """Learns the tokenizers on `train` (unless already set) and trains.

        Args:
            train: `(source, target)` sentence pairs.
            val: validation pairs (default: a seeded `data.val_fraction` of
                `train`, split so that no sentence is in both).
            run_dir: run directory (checkpoints, history, resume); a
                temporary one if None.

        Returns:
            self.
        """
        from text.data import split_pairs

        cfg = self.config
        train = [(str(a), str(b)) for a, b in train]
        if val is None:
            parts = split_pairs(train, val_fraction=cfg.data.val_fraction, test_fraction=0.0,
                                seed=cfg.data.seed)
            train, val = parts["train"], parts["val"]
        if not train or not val:
            raise ValueError("fit needs non-empty training and validation pairs.")
        training.seed_everything(cfg.train.seed)
        if self.source_tokenizer is None or self.target_tokenizer is None:
            self._fit_tokenizers(train)
        train_ds = self._dataset(train, True, "training pairs")
        val_ds = self._dataset(list(val), False, "validation pairs")
        strategy = distribute.get_strategy(cfg.train.strategy)
        if cfg.train.strategy != "default":
            train_ds = distribute.shard_options(train_ds)
            val_ds = distribute.shard_options(val_ds)
        with strategy.scope(), precision.policy_scope(cfg.train.precision):
            self.model = self._build_model()
            self.model.compile(
                optimizer=training.make_optimizer(cfg.train),
                loss=MaskedSparseCrossEntropy(pad_id=PAD_ID,
                                              label_smoothing=cfg.model.label_smoothing),
            )
            self.model.optimizer.build(self.model.trainable_variables)
        temp = None
        if run_dir is None:
            run_dir = temp = tempfile.mkdtemp(prefix="translation-")
        run = training.RunDir(run_dir)
        run.prepare(cfg.to_dict())
        try:
            self.history = training.fit(self.model, train_ds, val_ds, cfg.train, run)
        finally:
            if temp:
                shutil.rmtree(temp, ignore_errors=True)
        self._infer = {}
        return self

    def _require_fitted(self):
        if self.model is None:
            raise RuntimeError("This Translator is not fitted yet: call fit() or load().")

    # ------------------------------------------------------------- inference
    def _graph(self, beam_width):
        """The graph-only path `text [batch] -> (translation [batch], source
        token counts before truncation)`, shared by `translate` and the
        export so both give the same translations."""
        src_tok, tgt_tok, model = self.source_tokenizer, self.target_tokenizer, self.model
        t, m = self.config.tokenizer, self.config.model
        max_src, max_tgt = t.max_source_tokens, t.max_target_tokens
        beam, alpha = int(beam_width), m.length_penalty

        def infer(text):
            ids = src_tok.tokenize(text)
            full_lengths = tf.cast(ids.row_lengths(), tf.int32)
            ids = ids[:, :max_src]
            # At least one column, so that a batch of empty strings still
            # runs (each row fully masked); empty rows are answered "" below.
            source = ids.to_tensor(default_value=PAD_ID)
            source = tf.pad(source, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(source)[1])]])
            out, _ = model.generate(source, max_length=max_tgt, beam_width=beam,
                                    length_penalty=alpha)
            translation = tgt_tok.detokenize(out)
            translation = tf.where(full_lengths > 0, translation, tf.constant(""))
            return translation, full_lengths

        return infer

    def _infer_fn(self, beam_width):
        if beam_width not in self._infer:
            self._infer[beam_width] = tf.function(
                self._graph(beam_width),
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        return self._infer[beam_width]

    def translate(self, sentences, beam_width=None, batch_size=64):
        """Translates a list of sentences.

        Args:
            sentences: a list of str.
            beam_width: 1 for greedy decoding, more for beam search (default:
                the config's `model.beam_width`).
            batch_size: sentences decoded together.

        Returns:
            A list of translations (str), in order.
        """
        self._require_fitted()
        sentences = _check_sentences(sentences)
        fn = self._infer_fn(int(beam_width or self.config.model.beam_width))
        out, truncated = [], 0
        max_src = self.config.tokenizer.max_source_tokens
        for start in range(0, len(sentences), batch_size):
            batch = tf.constant(sentences[start:start + batch_size], tf.string)
            try:
                texts, lengths = fn(batch)
            except tf.errors.NotFoundError:
                # The traced graph captured tokenizer resources that
                # `tf.random.set_seed` deleted (see SubwordTokenizer.reset).
                self.source_tokenizer.reset()
                self.target_tokenizer.reset()
                self._infer = {}
                fn = self._infer_fn(int(beam_width or self.config.model.beam_width))
                texts, lengths = fn(batch)
            out.extend(s.decode("utf-8") for s in texts.numpy())
            truncated += int((lengths.numpy() > max_src).sum())
        if truncated:
            log.warning("%d sentence(s) longer than tokenizer.max_source_tokens=%d subword "
                        "tokens were truncated.", truncated, max_src)
        return out

    def evaluate(self, pairs, beam_width=None, batch_size=64):
        """sacreBLEU (13a tokenisation, cased) and chrF of greedy and beam
        decoding against the references in `pairs`."""
        import sacrebleu

        self._require_fitted()
        pairs = list(pairs)
        sources = [s for s, _ in pairs]
        refs = [r for _, r in pairs]
        beam = int(beam_width or self.config.model.beam_width)
        result = {}
        for name, width in (("greedy", 1), ("beam", beam)):
            hyps = self.translate(sources, beam_width=width, batch_size=batch_size)
            result[f"bleu_{name}"] = round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
            result[f"chrf_{name}"] = round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2)
        result["beam_width"] = beam
        result["sentences"] = len(pairs)
        return result

    # ------------------------------------------------------------------ plot
    def plot_attention(self, sentence, beam_width=None):
        """Draws the decoder's attention over the source subwords for the
        translation of `sentence`. Returns the matplotlib Figure."""
        import matplotlib

        if not os.environ.get("DISPLAY"):
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        self._require_fitted()
        translation = self.translate([sentence], beam_width=beam_width)[0]
        src = self.source_tokenizer.tokenize(tf.constant([sentence]))
        src = src[:, :self.config.tokenizer.max_source_tokens].to_tensor(default_value=PAD_ID)
        tgt = self.target_tokenizer.tokenize(tf.constant([translation])).to_tensor()
        target_in = tf.concat([[[BOS_ID]], tgt], axis=1)
        weights = self.model.attention_weights(src, target_in)[0].numpy()
        # Row i is the attention while emitting output token i (the last
        # row emits EOS).
        src_pieces = [p.decode("utf-8") for p in self.source_tokenizer.id_to_piece(src[0]).numpy()]
        tgt_pieces = [p.decode("utf-8") for p in self.target_tokenizer.id_to_piece(tgt[0]).numpy()]
        tgt_pieces.append("</s>")
        fig, ax = plt.subplots(figsize=(1 + 0.45 * len(src_pieces), 1 + 0.4 * len(tgt_pieces)))
        ax.imshow(weights, cmap="viridis", vmin=0, aspect="auto")
        ax.set_xticks(range(len(src_pieces)))
        ax.set_xticklabels(src_pieces, rotation=60, ha="right")
        ax.set_yticks(range(len(tgt_pieces)))
        ax.set_yticklabels(tgt_pieces)
        ax.set_xlabel("source")
        ax.set_ylabel("translation")
        ax.set_title(f"{sentence} → {translation}", fontsize=9)
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------- save/load
    def save(self, path):
        """Saves model, tokenizers and config to the directory `path`
        (atomically)."""
        self._require_fitted()
        return export_lib.save_pipeline(
            path, self.model, STATE_FILE, {"config": self.config.to_dict()},
            files={SOURCE_TOKENIZER: self.source_tokenizer.save,
                   TARGET_TOKENIZER: self.target_tokenizer.save})

    @classmethod
    def load(cls, path):
        path = os.fspath(path)
        state = export_lib.read_state(path, STATE_FILE, "Translator")
        self = cls(TranslationConfig.from_dict(state["config"]))
        t = self.config.tokenizer
        self.source_tokenizer = SubwordTokenizer.load(os.path.join(path, SOURCE_TOKENIZER),
                                                      lowercase=t.lowercase_source)
        self.target_tokenizer = SubwordTokenizer.load(os.path.join(path, TARGET_TOKENIZER),
                                                      lowercase=t.lowercase_target)
        self.model = export_lib.load_pipeline_model(path, self.config.train.precision)
        return self

    # ---------------------------------------------------------------- export
    def export(self, path, sample=None, beam_width=None):
        """Writes a SavedModel whose `serve(text string [batch])` returns
        `{"translation": string [batch]}`: normalisation, tokenisation,
        encoder, beam search and detokenisation all in the graph (it needs
        only `tensorflow` and `tensorflow_text` to run). `sample` (a list of
        sentences) is translated in memory and by the reloaded export in a
        fresh process; both must agree."""
        self._require_fitted()
        beam = int(beam_width or self.config.model.beam_width)
        infer = self._graph(beam)

        def serve(text):
            return {"translation": infer(text)[0]}

        expected = inputs = None
        if sample is not None:
            sample = _check_sentences(sample, "sample")
            # Unicode arrays: they travel to the fresh process through .npz.
            inputs = {"text": np.array(sample, dtype=str)}
            expected = {"translation": np.array(self.translate(sample, beam, len(sample)),
                                                dtype=str)}
        t = self.config.tokenizer
        metadata = {
            "pipeline": "translation",
            "source_language": self.config.data.source,
            "target_language": self.config.data.target,
            "config": self.config.to_dict(),
            "inputs": {"text": {"dtype": "string", "shape": [None],
                                "notes": f"UTF-8 sentences; longer than {t.max_source_tokens} "
                                         "subword tokens are truncated; empty gives \"\""}},
            "outputs": {"translation": {"dtype": "string", "shape": [None]}},
            "beam_width": beam,
            "requires": ["tensorflow", "tensorflow_text"],
        }
        return export_lib.export_saved_model(
            path,
            endpoints={"serve": (serve, [tf.TensorSpec([None], tf.string, name="text")])},
            track=[self.model, self.source_tokenizer.tf_tokenizer,
                   self.target_tokenizer.tf_tokenizer],
            metadata=metadata,
            sample=inputs,
            expected=expected,
            imports=("tensorflow_text",),
        )
