"""Batch prediction of a forecasting export on Beam: one forecast per CSV
window, as `serve` gives it alone; a window with a missing value, an
infinite one or too few rows is an error record naming the file."""

import json

import numpy as np
import pandas as pd
import pytest

from forecasting.pipeline import Forecaster
from forecasting.task import TASK
from pipelines import export as export_lib
from tests import harness

pytest.importorskip("apache_beam")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast")
    t = np.arange(300, dtype="float32")
    series = np.stack([10 + 3 * np.sin(2 * np.pi * t / 12), -5 + np.cos(2 * np.pi * t / 12)], 1)
    f = Forecaster(lookback=24, horizon=12, segment_length=12, units=8, epochs=1,
                   batch_size=32, verbose=0, tensorboard=False)
    f.fit(series[:250], columns=["a", "b"], run_dir=folder / "run")
    return f.export(folder / "export"), series, f


def test_forecasting_export_on_beam(export, tmp_path):
    path, series, forecaster = export
    inputs = tmp_path / "windows"
    inputs.mkdir()
    for i in range(5):
        pd.DataFrame(series[i * 30:i * 30 + 30], columns=["a", "b"]).to_csv(
            inputs / f"w{i}.csv", index=False)
    pd.DataFrame(series[:10], columns=["a", "b"]).to_csv(inputs / "short.csv", index=False)
    gap = pd.DataFrame(series[:30], columns=["a", "b"])
    gap.iloc[28, 1] = np.nan
    gap.to_csv(inputs / "gap.csv", index=False)
    inf = pd.DataFrame(series[:30], columns=["a", "b"])
    inf.iloc[20, 0] = np.inf
    inf.to_csv(inputs / "inf.csv", index=False)
    errors = {str(inputs / "short.csv"): r"short.csv: 10 rows; the model needs the last 24",
              str(inputs / "gap.csv"): r"gap.csv: missing value in column 'b' at data row 29",
              str(inputs / "inf.csv"): r"inf.csv: an infinite value in row 21 of the window"}
    summary, results = harness.run_batch_test(TASK, path, str(inputs), errors, tmp_path)
    assert summary["inputs"] == 8 and not summary["bucketing"] and summary["padding_share"] == 0
    record = results[str(inputs / "w1.csv")]
    assert record["columns"] == ["a", "b"]
    np.testing.assert_allclose(record["forecast"], forecaster.predict(series[30:60]), atol=1e-4)


def test_an_export_of_another_domain_is_refused(export, tmp_path):
    from speech.task import TASK as SPEECH

    path = export[0]
    with pytest.raises(ValueError, match=f"{path} is an export of 'forecasting', not of the "
                                         "speech domain \\('speech'\\)"):
        SPEECH.batch_predict(path, str(tmp_path), tmp_path / "out.jsonl")
    assert export_lib.read_metadata(path)["pipeline"] == "forecasting"


def test_cli_engine_beam(export, tmp_path, capsys):
    from pipelines import cli

    path, series, _ = export
    inputs = tmp_path / "windows"
    inputs.mkdir()
    pd.DataFrame(series[:30], columns=["a", "b"]).to_csv(inputs / "ok.csv", index=False)
    (inputs / "empty.csv").write_text("")
    out = tmp_path / "forecasts.jsonl"
    argv = ["predict", "forecasting", "--engine", "beam", "--export-dir", str(path),
            "--input", str(inputs / "*.csv"), "--output", str(out), "--batch-size", "4",
            *harness.BEAM_IN_PROCESS]
    # An error record: exit status 3 (as `--skip-bad`), 0 with --allow-skipped.
    assert cli.main(argv) == cli.SKIPPED_STATUS
    summary = json.loads(capsys.readouterr().out)
    assert (summary["inputs"], summary["results"], summary["errors"]) == (2, 1, 1)
    assert summary["errors_file"] == str(tmp_path / "forecasts.errors.jsonl")
    (error,) = [json.loads(line) for line in open(summary["errors_file"])]
    assert error == {"input": str(inputs / "empty.csv"),
                     "error": f"{inputs / 'empty.csv'}: the CSV file is empty (no header and "
                              "no rows)."}
    assert cli.main(argv + ["--allow-skipped"]) == 0
    capsys.readouterr()
    # What is refused, in one line each.
    no_output = [a for a in argv if a not in ("--output", str(out))]
    assert cli.main(no_output) == 2
    assert "error: --engine beam needs --output PATH" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["predict", "forecasting", "--input", "x.csv", "--direct_num_workers=1"])
    assert "unrecognized arguments: --direct_num_workers=1" in capsys.readouterr().err
    assert cli.main(["predict", "forecasting", "--engine", "beam", "--input", "x.csv",
                     "--output", str(out)]) == 2
    assert "--engine beam needs --export-dir DIR" in capsys.readouterr().err
    assert cli.main(argv[:6] + ["--input", str(tmp_path / "nothing*.csv"), "--output",
                                str(out)]) == 2
    assert "matches it as a glob" in capsys.readouterr().err
