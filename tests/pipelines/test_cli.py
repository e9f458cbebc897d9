"""The thin CLI: which config a command uses."""

import types

from pipelines import cli


class _Task:
    name = "toy"
    default_config = "default.yaml"

    class config_class:
        @staticmethod
        def from_yaml(path, overrides):
            return types.SimpleNamespace(name="toy", path=path, overrides=overrides,
                                         to_dict=lambda: {"data": {"overrides": overrides}})


def _resolve(argv, command):
    args = cli.build_parser("toy").parse_args(argv)
    return cli.resolve(args, _Task, command)[0]


def test_run_commands_use_the_runs_own_config(tmp_path):
    (tmp_path / "config.yaml").write_text("name: toy\n")
    run = ["--run-dir", str(tmp_path)]
    assert _resolve(run, "evaluate").path == str(tmp_path / "config.yaml")
    assert _resolve(run + ["--set", "a=1"], "predict").overrides == ["a=1"]
    # An explicit --config wins; training starts from the default.
    assert _resolve(run + ["--config", "x.yaml"], "export").path == "x.yaml"
    assert _resolve(run, "train").path == "default.yaml"
    # A run directory without a config (not trained yet): the default.
    assert _resolve(["--run-dir", str(tmp_path / "new")], "evaluate").path == "default.yaml"


def test_help_lists_domains_and_each_command_its_own_options(capsys):
    import pytest

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "Domains: forecasting, speech, text, vision_caption." in text
    assert all(command in text for command in ("train", "evaluate", "export", "predict"))
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: pipelines train [-h]") and "--config" in text
    assert "--input" not in text and "--export-dir" not in text
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["predict", "--help"])
    assert "--skip-bad" in capsys.readouterr().out
    # `python -m speech.train --help`: the train command only.
    with pytest.raises(SystemExit):
        cli.build_parser("speech").parse_args(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m speech.train") and "--input" not in text
