#!/usr/bin/env bash
# Installs the package with its test and beam extras into .venv and runs the README's
# test command. Extra arguments go to pytest (tests/conftest.py points the data
# directory at ../shared/data unless PIPELINES_DATA_DIR is set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,beam
exec .venv/bin/python -m pytest "$@"
