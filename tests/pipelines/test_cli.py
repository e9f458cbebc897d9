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
