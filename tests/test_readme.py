"""The README's commands work as printed.

Every shell command in the README's ```bash blocks (but the install, test and
benchmark scripts) runs, in order, exactly as printed, from a fresh working
copy laid out like the project (`main/` beside `shared/`), with nothing in
the environment but what the README's own set-up lines (`export ...`)
establish: no `--data-dir` is added and `PIPELINES_DATA_DIR` is removed.
The one change: a config that trains for minutes is swapped for its domain's
tiny config (under the same file name and run name), so the whole README
runs in a few minutes. A command that exits non-zero fails the test with
its output.

The first `pipelines ...` line and the first `python -m <domain>.train ...`
line run through bash, as a new process (the console script and the module
entry point are what they check); the toolkit's later lines run the same
`pipelines.cli.main` with the same argv, environment and working directory
in this process (`harness.run_cli`), because a new interpreter importing
TensorFlow for each line was most of this test's time. Lines with shell
syntax (`&&`, redirections, quotes that bash must expand) always go to bash.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from tests import harness

README = os.path.join(harness.ROOT, "README.md")
DOMAINS = ("forecasting", "speech", "text", "vision_caption")
# The tiny config that stands in for each config that trains for minutes.
TINY = {
    "forecasting/configs/etth1.yaml": "forecasting/configs/tiny.yaml",
    "speech/configs/fsdd.yaml": "speech/configs/tiny.yaml",
    "speech/configs/fsdd_streaming.yaml": "speech/configs/streaming_tiny.yaml",
    "text/configs/spa_eng.yaml": "text/configs/tiny.yaml",
    "text/configs/sentiment.yaml": "text/configs/sentiment_tiny.yaml",
    "text/configs/sentiment_pretrained.yaml": "text/configs/sentiment_pretrained_tiny.yaml",
    "vision_caption/configs/scenes.yaml": "vision_caption/configs/tiny.yaml",
    "vision_caption/configs/coco_mini.yaml": "vision_caption/configs/tiny.yaml",
}
# Lines that are not the toolkit's commands: installing, the test suite and
# the benchmarks (each documented and run on its own).
SKIP = re.compile(r"^(bash scripts/|source \.venv/|\S*PIPELINES_DATA_DIR=\S+ \S*python bench/|"
                  r"\S*python bench/|\S*PIPELINES_DATA_DIR=\S+ \S*python -m pytest)")


def readme_commands(text):
    """The README's shell lines, in order, comments removed."""
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#") and not SKIP.match(line):
                lines.append(line)
    return lines


# The toolkit's own lines: `pipelines ARGS` and `python -m <domain>.train ARGS`
# (no shell syntax beyond quoting).
TOOLKIT = re.compile(r"^(pipelines|python -m (\w+)\.train)\s")
SHELL = re.compile(r"[&|;<>$`*?]")


def toolkit_argv(line):
    """`(argv, domain)` of a toolkit line for `pipelines.cli.main`, or None
    for a line bash must run (shell syntax outside quotes)."""
    match = TOOLKIT.match(line)
    if not match:
        return None
    words = shlex.split(line)
    # Shell syntax outside quotes: the words shlex leaves with it unquoted.
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", line)
    if SHELL.search(unquoted):
        return None
    if words[0] == "pipelines":
        return words[1:], None
    return words[3:], match.group(2)


def _workspace(tmp_path):
    """`tmp/main` (configs of the project, long ones swapped for tiny ones
    under their own name) beside `tmp/shared` (the real data)."""
    main = tmp_path / "main"
    for domain in DOMAINS:
        shutil.copytree(os.path.join(harness.ROOT, domain, "configs"),
                        main / domain / "configs")
    for long, tiny in TINY.items():
        with open(os.path.join(harness.ROOT, long)) as f:
            name = yaml.safe_load(f)["name"]
        with open(os.path.join(harness.ROOT, tiny)) as f:
            config = yaml.safe_load(f)
        config["name"] = name
        (main / long).write_text(yaml.safe_dump(config, sort_keys=False))
    shared = os.path.join(os.path.dirname(harness.ROOT), "shared")
    os.symlink(shared, tmp_path / "shared")
    return main


def test_toolkit_lines_are_told_from_shell_lines():
    assert toolkit_argv("pipelines train speech --config a.yaml") == (
        ["train", "speech", "--config", "a.yaml"], None)
    assert toolkit_argv("python -m text.train --config t.yaml --set a=1") == (
        ["--config", "t.yaml", "--set", "a=1"], "text")
    assert toolkit_argv("pipelines predict speech --input 'clips/*.wav'") == (
        ["predict", "speech", "--input", "clips/*.wav"], None)
    assert toolkit_argv("pipelines predict speech --input clips/*.wav") is None
    assert toolkit_argv("pipelines predict text --input s.txt > out.tsv") is None
    assert toolkit_argv("mkdir -p clips && cp a b") is None


def test_the_commands_are_found():
    commands = readme_commands(open(README, encoding="utf-8").read())
    assert any(re.match(r"pipelines train +forecasting", c) for c in commands)
    assert any(c.startswith("export PIPELINES_DATA_DIR=") for c in commands)
    for domain in DOMAINS:
        assert any(f" {domain}" in c or f"{domain}.train" in c for c in commands), domain


@pytest.mark.skipif(not os.path.isdir(os.path.join(os.path.dirname(harness.ROOT), "shared",
                                                   "data")),
                    reason="no ../shared/data beside the project")
def test_every_readme_command_runs_as_printed(tmp_path):
    main = _workspace(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PIPELINES_DATA_DIR"}
    # `pipelines` and `python` are the ones of this environment (a user has
    # activated the .venv the Quickstart made).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    ran, fresh = [], set()
    for line in readme_commands(open(README, encoding="utf-8").read()):
        if line.startswith("export "):
            # The README's set-up: the variables it exports, as bash would.
            out = subprocess.run(["bash", "-c", f"{line} && env -0"], cwd=main, env=env,
                                 capture_output=True, text=True, check=True).stdout
            env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
            continue
        parsed = toolkit_argv(line)
        # The entry point a toolkit line goes through: the console script
        # (no domain) or `python -m <domain>.train`.
        entry = parsed and ("pipelines" if parsed[1] is None else "module")
        if entry and entry in fresh:
            result = harness.run_cli(parsed[0], parsed[1], env, cwd=str(main))
        else:
            if entry:
                fresh.add(entry)
            result = subprocess.run(["bash", "-c", line], cwd=main, env=env,
                                    capture_output=True, text=True, timeout=900)
        ran.append(shlex.split(line)[:3])
        assert result.returncode == 0, (
            f"README command failed (exit {result.returncode}): {line}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    assert len(ran) >= 8
