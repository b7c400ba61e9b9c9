#!/usr/bin/env bash
# Regenerates docs/api.md from the CRDs the operator builds; tests/unit/test_api_docs.py keeps the two equal.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source hack/lib/venv.sh
ensure_venv dev
.venv/bin/ecr-operator crd --kind all --markdown > docs/api.md
