#!/usr/bin/env bash
# Build promql-check (main.go: PromQL expressions on stdin, one JSON string a line -> "ok" or the parser's error)
# from the pinned Go module next to this script (go.mod / go.sum pin github.com/prometheus/prometheus), into a
# per-version cache outside the repository:
#
#   ${ECR_OPERATOR_CACHE:-$HOME/.cache/ecr-operator}/promql/<prometheus version>-<main.go hash>/promql-check
#
# It lints the alert expressions of deploy/base/prometheusrule.yaml with Prometheus's own parser (the part of
# promtool that matters here, at a fraction of promtool's build). The last line on stdout is the binary's path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[promql] %s\n' "$*" >&2; }
die() { printf '[promql] error: %s\n' "$*" >&2; exit 1; }

version="$(awk -v m=github.com/prometheus/prometheus '
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v[0-9]/ { print $2; exit }
' "${here}/go.mod")"
[[ -n "${version}" ]] || die "cannot find the github.com/prometheus/prometheus version in ${here}/go.mod"
source_hash="$(sha256sum "${here}/main.go" | cut -c1-12)"
out_dir="${ECR_OPERATOR_CACHE:-${HOME}/.cache/ecr-operator}/promql/${version}-${source_hash}"
binary="${out_dir}/promql-check"

if [[ ! -x "${binary}" ]]; then
    command -v go >/dev/null 2>&1 || die "'go' was not found on PATH (>= 1.26 is needed to build promql-check)"
    mkdir -p "${out_dir}"
    log "building promql-check against prometheus ${version}…"
    (cd "${here}" && GOFLAGS=-mod=readonly go build -trimpath -o "${binary}.tmp" .) || die "go build failed"
    mv "${binary}.tmp" "${binary}"
fi
printf '%s\n' "${binary}"
