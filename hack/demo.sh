#!/usr/bin/env bash
# The local demo: a real kube-apiserver + etcd (built from Go on first use), moto as AWS, the operator, and
# examples/my-application.yaml converged. No cloud account. Arguments go to `ecr-operator-dev demo`
# (e.g. --exit-after-ready, --manifest examples/cross-account.yaml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source hack/lib/venv.sh
ensure_venv ""
exec .venv/bin/ecr-operator-dev demo "$@"
