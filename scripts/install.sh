#!/usr/bin/env bash
# Installs the package (editable) into .venv, created or reused. An optional
# argument names an extra to install with it: `bash scripts/install.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${1:+[$1]}"
