#!/usr/bin/env bash
# The benchmark command: installs what it needs (.venv with the operator and its harness dev/, the Go-built control plane),
# starts its own kube-apiserver + etcd, moto, a counting AWS proxy and the operator, and measures latency,
# throughput, AWS calls per operation, memory, drift correction and a restart pass (and, with --only fleet, fleet
# scale). Arguments go to `python -m bench`
# (e.g. --n 1000, --runs 5, --only calls,drift, --name mine). Results: bench/results/<name>.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source hack/lib/venv.sh
ensure_venv ""
exec .venv/bin/python -m bench "$@"
