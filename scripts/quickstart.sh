#!/usr/bin/env bash
# Quickstart: install into .venv (created or reused), then train the default
# forecasting model on ETTh1, evaluate it, export a SavedModel, and print
# where everything went. Extra arguments go to `pipelines train forecasting`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PIPELINES_DATA_DIR="${PIPELINES_DATA_DIR:-$(cd .. && pwd)/shared/data}"
exec .venv/bin/pipelines train forecasting "$@"
