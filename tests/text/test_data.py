"""The shared TSV readers (pairs, labelled sentences), Tatoeba and its leak-free
splits."""

import logging

import pytest

from pipelines.data import Splits
from text import data
from text.translation import data as translation_data


def test_read_pairs_columns_and_extra_columns(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("Hi.\tHola.\tCC-BY 2.0 (France) Attribution\n\nGo.\tVe.\n", encoding="utf-8")
    assert data.read_pairs(path) == [("Hi.", "Hola."), ("Go.", "Ve.")]
    assert data.read_pairs(path, columns=(1, 0)) == [("Hola.", "Hi."), ("Ve.", "Go.")]


@pytest.mark.parametrize("read, first, line, problem", [
    (data.read_pairs, "Hi.\tHola.", "no tab here",
     "expected at least 2 tab-separated columns, got 1"),
    (data.read_labelled, "Good.\t1", "a\tb\tc",
     "expected 2 tab-separated columns (sentence, label), got 3"),
    (data.read_labelled, "Good.\t1", "no label here",
     "expected 2 tab-separated columns (sentence, label), got 1"),
    (data.read_labelled, "Good.\t1", "  \t1", "empty sentence"),
    (data.read_labelled, "Good.\t1", "Good.\t ", "empty label"),
])
def test_malformed_line_is_one_clear_error(tmp_path, read, first, line, problem):
    path = tmp_path / "p.tsv"
    path.write_text(f"{first}\n{line}\n", encoding="utf-8")
    with pytest.raises(data.MalformedLineError) as err:
        read(path)
    assert str(err.value) == (
        f"{path}, line 2: {problem}: {line!r}. "
        "Pass skip_bad=True (config data.skip_bad: true) to skip such lines.")


def test_malformed_lines_skipped_and_logged(tmp_path, caplog):
    path = tmp_path / "p.tsv"
    path.write_text("Hi.\tHola.\nbad\n\t Vacío\nGo.\tVe.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        pairs = data.read_pairs(path, skip_bad=True)
    assert pairs == [("Hi.", "Hola."), ("Go.", "Ve.")]
    assert "skipped 2 malformed lines (first: line 2)" in caplog.text


def test_split_has_no_sentence_in_two_splits():
    pairs = [(f"s{i}", f"t{i}") for i in range(200)]
    # Linked pairs: one source with several targets, one target with several sources.
    pairs += [("s1", "t-extra"), ("s-extra", "t1"), ("s5", "t6"), ("s5", "t6")]
    split = translation_data.split_pairs(pairs, val_fraction=0.1, test_fraction=0.2, seed=1)
    assert isinstance(split, Splits)
    assert sum(len(v) for _, v in split.items()) == 203  # one duplicate dropped
    for side in (0, 1):
        seen = {}
        for name, part in split.items():
            for pair in part:
                assert seen.setdefault(pair[side], name) == name
    assert 35 <= len(split["test"]) <= 45 and 15 <= len(split["val"]) <= 25
    assert split == translation_data.split_pairs(pairs, val_fraction=0.1, test_fraction=0.2, seed=1)


def test_tatoeba_both_directions(data_dir):
    spa_eng = translation_data.tatoeba("spa", "eng", data_dir=data_dir, max_pairs=3)
    eng_spa = translation_data.tatoeba("eng", "spa", data_dir=data_dir, max_pairs=3)
    assert spa_eng[0] == ("Ve.", "Go.") and eng_spa[0] == ("Go.", "Ve.")
    with pytest.raises(ValueError, match=r"source='fra' is not a language of 'spa_eng'"):
        translation_data.tatoeba("fra", "eng", data_dir=data_dir)


def test_spa_eng_has_a_public_address():
    url = translation_data.SPA_ENG.url
    assert url.startswith("http") and url.endswith(".zip")


@pytest.mark.parametrize("read", [data.read_pairs, data.read_labelled, data.read_lines])
def test_a_file_that_is_not_utf8_names_file_line_and_byte(tmp_path, read):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("Go.\t1\nCafé.\t0\n".encode("latin-1"))
    with pytest.raises(ValueError) as e:
        read(str(path))
    assert str(e.value) == (f"{path}, line 2: not UTF-8 text (byte 0xe9 at column 4); convert "
                            "the file to UTF-8 (for example: iconv -f latin1 -t utf-8).")
