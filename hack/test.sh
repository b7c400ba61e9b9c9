#!/usr/bin/env bash
# The test command: installs what it needs (Python packages into .venv, the Go-built control plane into
# ~/.cache/ecr-operator), runs the linters and the whole suite (unit, AWS parts on moto, end-to-end on a real
# kube-apiserver + etcd). Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -k lifecycle`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source hack/lib/venv.sh
ensure_venv dev

echo "[test] ruff + mypy" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

echo "[test] pytest" >&2
exec .venv/bin/pytest -ra "$@"
