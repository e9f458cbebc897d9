"""Tatoeba-style TSV loading and leak-free splits."""

import logging

import pytest

from text import data


def test_read_pairs_columns_and_extra_columns(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("Hi.\tHola.\tCC-BY 2.0 (France) Attribution\n\nGo.\tVe.\n", encoding="utf-8")
    assert data.read_pairs(path) == [("Hi.", "Hola."), ("Go.", "Ve.")]
    assert data.read_pairs(path, columns=(1, 0)) == [("Hola.", "Hi."), ("Ve.", "Go.")]


def test_malformed_line_is_one_clear_error(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("Hi.\tHola.\nno tab here\n", encoding="utf-8")
    with pytest.raises(data.MalformedLineError) as err:
        data.read_pairs(path)
    assert str(err.value) == (
        f"{path}, line 2: expected at least 2 tab-separated columns, got 1: 'no tab here'. "
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
    split = data.split_pairs(pairs, val_fraction=0.1, test_fraction=0.2, seed=1)
    assert sum(len(v) for v in split.values()) == 203  # one duplicate dropped
    for side in (0, 1):
        seen = {}
        for name, part in split.items():
            for pair in part:
                assert seen.setdefault(pair[side], name) == name
    assert 35 <= len(split["test"]) <= 45 and 15 <= len(split["val"]) <= 25
    assert split == data.split_pairs(pairs, val_fraction=0.1, test_fraction=0.2, seed=1)


def test_tatoeba_both_directions(data_dir):
    spa_eng = data.tatoeba("spa", "eng", data_dir=data_dir, max_pairs=3)
    eng_spa = data.tatoeba("eng", "spa", data_dir=data_dir, max_pairs=3)
    assert spa_eng[0] == ("Ve.", "Go.") and eng_spa[0] == ("Go.", "Ve.")
    with pytest.raises(ValueError, match=r"source='fra' is not a language of 'spa_eng'"):
        data.tatoeba("fra", "eng", data_dir=data_dir)


def test_spa_eng_has_a_public_address():
    assert data.SPA_ENG.url.startswith("http") and data.SPA_ENG.url.endswith(".zip")
