"""`Translator`: the user-facing translation pipeline, sentence in, sentence out.

Example:

>>> from text.translation import Translator, data            # doctest: +SKIP
>>> splits = data.split_pairs(data.tatoeba("spa", "eng"))    # doctest: +SKIP
>>> tr = Translator().fit(splits.train, splits.val)          # doctest: +SKIP
>>> tr.evaluate(splits.test)                                 # doctest: +SKIP
>>> tr.translate(["¿Dónde está la biblioteca?"])             # doctest: +SKIP
['Where is the library?']

From shards written by `pipelines prepare text` (or `text.prepare`):

>>> tr = Translator(shards="runs/spa_eng_shards").fit()      # doctest: +SKIP
"""

import logging
import os

import numpy as np
import tensorflow as tf

from pipelines import shards as shards_lib
from pipelines.data import padded_batches
from pipelines.losses import MaskedSparseCrossEntropy
from pipelines.tokenizers import BOS_ID, EOS_ID, PAD_ID, SubwordTokenizer
from pipelines.validation import check_sentences
from text import shards as text_shards
from text.pipeline import SentencePipeline
from text.translation import shards as translation_shards
from text.translation.config import TranslationConfig
from text.translation.data import split_pairs
from text.translation.model import Seq2SeqTranslator

log = logging.getLogger(__name__)

SOURCE_TOKENIZER = "source.model"
TARGET_TOKENIZER = "target.model"
#: Quantiles of the lengths at the bucket boundaries (in memory and from
#: shards).
BUCKET_QUANTILES = tuple(np.linspace(0.1, 0.9, 9))


class Translator(SentencePipeline):
    """Source sentence in, target sentence out: subword tokenizers (run in
    the graph, see `text.pipeline.SentencePipeline`) + a
    bidirectional recurrent encoder and an attentive recurrent decoder,
    decoded greedily or with beam search in graph ops.

    Behaviour on odd inputs (the same in `translate` and in the export): an
    empty or whitespace-only sentence translates to `""`; characters the
    vocabulary lacks (any script, emoji) are tokenised as UTF-8 bytes, never
    unknown; a sentence longer than `tokenizer.max_source_tokens` subword
    tokens is truncated to that many (`translate` logs a warning).

    Args:
        config: a `TranslationConfig` (defaults: Tatoeba spa->eng).
        **overrides: fields of its sections (`Translator(units=64,
            beam_width=1, epochs=2)`; see `pipelines.pipeline.Pipeline`).

    Example:

    >>> Translator().config.data.source
    'spa'
    >>> Translator(units=64, beam_width=1).config.model.units
    64
    """

    config_class = TranslationConfig
    state_file = "translator.json"
    export_name = "translation"
    shard_domain = translation_shards.DOMAIN
    #: The source and target `SubwordTokenizer`s, set by `fit` (unless
    #: already set) or `load`.
    source_tokenizer = target_tokenizer = None

    # ------------------------------------------------------------ tokenizers
    def _learn(self, train):
        # Tokenizers already set (given, or loaded) are kept.
        if self.source_tokenizer is not None and self.target_tokenizer is not None:
            return
        t = self.config.tokenizer
        seed, sample = self.config.train.seed, t.sample_sentences
        if isinstance(train, shards_lib.Split):
            # Streamed into sentencepiece's trainer, which keeps a seeded
            # sample of `tokenizer.sample_sentences`: the corpus is never
            # held in memory.
            sides = [text_shards.texts(train, name) for name in translation_shards.FEATURES]
            train_tokenizer = SubwordTokenizer.train_streamed
        else:
            sides = [[s for s, _ in train], [s for _, s in train]]
            train_tokenizer = SubwordTokenizer.train
        self.source_tokenizer = train_tokenizer(
            sides[0], t.source_vocab, lowercase=t.lowercase_source, seed=seed,
            max_sentences=sample)
        self.target_tokenizer = train_tokenizer(
            sides[1], t.target_vocab, lowercase=t.lowercase_target, seed=seed,
            max_sentences=sample)

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
        """Batches of `pairs` (a list, or a `pipelines.shards.Split`
        streamed from its shards), bucketed by length."""
        if isinstance(pairs, shards_lib.Split):
            return self._streamed(pairs, training_mode)
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
        boundaries = sorted(set(int(b) for b in np.quantile(lengths, BUCKET_QUANTILES)))
        ds = padded_batches(
            ds, cfg.train.batch_size,
            lambda e: tf.maximum(tf.shape(e["source"])[0], tf.shape(e["target_in"])[0]),
            boundaries)
        ds = ds.map(lambda b: ({"source": b["source"], "target_in": b["target_in"]},
                               b["target_out"]))
        return ds.prefetch(tf.data.AUTOTUNE)

    def _streamed(self, split, training_mode):
        """Batches of a shard `Split`: its records (the bounded shuffle in
        training) tokenised in the `tf.data` map, bucketed by their length in
        characters at the boundaries of the split's length histogram, padded
        and prefetched; no Python per pair."""
        t = self.config.tokenizer

        drops = self._drops(
            "training pairs" if training_mode else "validation pairs",
            f"empty, or longer than tokenizer.max_source_tokens={t.max_source_tokens} / "
            f"max_target_tokens={t.max_target_tokens}")

        def parse(records):
            return translation_shards.parse(records, self.source_tokenizer,
                                            self.target_tokenizer, t.max_source_tokens,
                                            t.max_target_tokens, drops)

        ds = self._stream(split, parse, training_mode)
        ds = padded_batches(ds, self.config.train.batch_size, lambda e: e["length"],
                            split.boundaries(BUCKET_QUANTILES))
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

    def _compile_args(self):
        return {"loss": MaskedSparseCrossEntropy(
            pad_id=PAD_ID, label_smoothing=self.config.model.label_smoothing)}

    # ------------------------------------------------------------------- fit
    def fit(self, train=None, val=None, run_dir=None):
        """Learns the tokenizers on `train` (unless already set) and trains.

        Args:
            train: `(source, target)` sentence pairs, a `pipelines.shards.
                Split` of shards written by `pipelines prepare text` (with a
                translation config of the same direction), or None for the
                shards of `data.shards`.
            val: validation pairs (default: a seeded `data.val_fraction` of
                `train`, split so that no sentence is in both; for shards,
                their "val" split).
            run_dir: run directory (checkpoints, history, resume); a
                temporary one if None.

        Returns:
            self.
        """
        return super().fit(train, val, run_dir=run_dir)

    def _split(self, train, val):
        cfg = self.config
        train = [(str(a), str(b)) for a, b in train]
        if val is None:
            parts = split_pairs(train, val_fraction=cfg.data.val_fraction, test_fraction=0.0,
                                seed=cfg.data.seed)
            train, val = parts.train, parts.val
        if not train or not val:
            raise ValueError("fit needs non-empty training and validation pairs.")
        return train, list(val)

    def _shard_fields(self):
        # The records hold the pairs in one direction.
        return {"data.source": self.config.data.source, "data.target": self.config.data.target}

    def _prepare(self, train, val):
        if isinstance(train, shards_lib.Split):
            if not val:
                raise ValueError(f"data.shards={train.shards.folder} has no 'val' split and no "
                                 "validation pairs were given: pass val=..., or prepare the "
                                 "shards again with data.val_fraction > 0.")
            # The stream's map functions capture the tokenizers' resources,
            # which the seeding at the start of `fit` may have deleted (see
            # SubwordTokenizer.reset): fresh ones, before they are traced.
            self._renew_resources()
        return (self._dataset(train, True, "training pairs"),
                self._dataset(val, False, "validation pairs"))

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
            # An empty sentence is a row of padding (fully masked); it is
            # answered "" below.
            source, full_lengths = self._token_ids(src_tok, text, max_src)
            out, _ = model.generate(source, max_length=max_tgt, beam_width=beam,
                                    length_penalty=alpha)
            translation = tgt_tok.detokenize(out)
            translation = tf.where(full_lengths > 0, translation, tf.constant(""))
            return translation, full_lengths

        return infer

    def _tokenizers(self):
        return [self.source_tokenizer, self.target_tokenizer]

    def _beam(self, beam_width):
        """The beam width asked for, or the config's `model.beam_width`."""
        return int(beam_width or self.config.model.beam_width)

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
        sentences = check_sentences(sentences)
        beam = self._beam(beam_width)
        out, truncated = [], 0
        max_src = self.config.tokenizer.max_source_tokens
        for texts, lengths in self._in_batches(
                ("translate", beam), lambda: self._traced(self._graph(beam)), sentences,
                batch_size):
            out.extend(s.decode("utf-8") for s in texts)
            truncated += int((lengths > max_src).sum())
        if truncated:
            log.warning("%d sentence(s) longer than tokenizer.max_source_tokens=%d subword "
                        "tokens were truncated.", truncated, max_src)
        return out

    def predict(self, sentences, beam_width=None, batch_size=64):
        """`translate` (every pipeline answers `predict`)."""
        return self.translate(sentences, beam_width=beam_width, batch_size=batch_size)

    def evaluate(self, pairs, beam_width=None, batch_size=64):
        """sacreBLEU (13a tokenisation, cased) and chrF of greedy and beam
        decoding against the references in `pairs`."""
        import sacrebleu

        self._require_fitted()
        pairs = list(pairs)
        sources = [s for s, _ in pairs]
        refs = [r for _, r in pairs]
        beam = self._beam(beam_width)
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
        plt = self._pyplot()
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
    def _restore(self, state, path):
        t = self.config.tokenizer
        self.source_tokenizer = SubwordTokenizer.load(os.path.join(path, SOURCE_TOKENIZER),
                                                      lowercase=t.lowercase_source)
        self.target_tokenizer = SubwordTokenizer.load(os.path.join(path, TARGET_TOKENIZER),
                                                      lowercase=t.lowercase_target)

    def _files(self):
        return {SOURCE_TOKENIZER: self.source_tokenizer.save,
                TARGET_TOKENIZER: self.target_tokenizer.save}

    # ---------------------------------------------------------------- export
    def export(self, path, sample=None, beam_width=None):
        """Writes a SavedModel whose `serve(text string [batch])` returns
        `{"translation": string [batch]}`: normalisation, tokenisation,
        encoder, beam search and detokenisation all in the graph (it needs
        only `tensorflow` and `tensorflow_text` to run). `sample` (a list of
        sentences) is translated in memory and by the reloaded export in a
        fresh process; both must agree.

        Args:
            path: the export's folder.
            sample: sentences to verify the export on (None: no check).
            beam_width: the export's beam width (default: the config's).
        """
        return super().export(path, sample=sample, beam_width=beam_width)

    def _endpoints(self, beam_width=None):
        infer = self._graph(self._beam(beam_width))

        def serve(text):
            return {"translation": infer(text)[0]}

        return self._text_endpoint(serve)

    def _expected(self, sentences, beam_width=None):
        translations = self.translate(sentences, self._beam(beam_width), len(sentences))
        return {"translation": np.array(translations, dtype=str)}

    def _export_metadata(self, beam_width=None):
        t = self.config.tokenizer
        return self._text_metadata(
            f"UTF-8 sentences; longer than {t.max_source_tokens} subword tokens are "
            "truncated; empty gives \"\"",
            source_language=self.config.data.source, target_language=self.config.data.target,
            outputs={"translation": {"dtype": "string", "shape": [None]}},
            beam_width=self._beam(beam_width))
