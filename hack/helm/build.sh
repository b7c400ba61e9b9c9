#!/usr/bin/env bash
# Build helm from the pinned Go wrapper module next to this script (go.mod's `tool` directive and go.sum pin
# helm.sh/helm/v3 and every dependency), into a per-version cache outside the repository:
#
#   ${ECR_OPERATOR_CACHE:-$HOME/.cache/ecr-operator}/helm/<ver>/bin/helm
#
# When the binary is already cached, nothing is built and `go` is not needed. Progress goes to stderr; the
# last line on stdout is the path of the helm binary.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[helm] %s\n' "$*" >&2; }
die() { printf '[helm] error: %s\n' "$*" >&2; exit 1; }

version="$(awk '$1 == "helm.sh/helm/v3" && $2 ~ /^v[0-9]/ { print $2; exit }' "${here}/go.mod")"
[[ -n "${version}" ]] || die "cannot find the helm.sh/helm/v3 version in ${here}/go.mod"

cache_root="${ECR_OPERATOR_CACHE:-${HOME}/.cache/ecr-operator}"
out_dir="${cache_root}/helm/${version}"
helm="${out_dir}/bin/helm"

if [[ -x "${helm}" ]]; then
    log "using cached helm ${version}"
    printf '%s\n' "${helm}"
    exit 0
fi

command -v go >/dev/null 2>&1 || die "'go' was not found on PATH. Building helm ${version} needs a Go toolchain \
(>= 1.26, see https://go.dev/dl/), or put a prebuilt helm ${version} at ${helm}."

mkdir -p "${out_dir}/bin"

# Serialise concurrent builds (parallel test sessions, several terminals).
if command -v flock >/dev/null 2>&1; then
    exec 9>"${out_dir}/.build.lock"
    if ! flock -n 9; then
        log "another build of helm ${version} is running; waiting for it"
        flock 9
    fi
    if [[ -x "${helm}" ]]; then
        log "using helm ${version} built concurrently"
        printf '%s\n' "${helm}"
        exit 0
    fi
fi

log "building helm ${version} (first build takes a few minutes)…"
started="${SECONDS}"
# internal/version is what `helm version` reports; the module proxy does not record the release commit.
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
# The Kubernetes version `helm template` and `helm lint` assume without a cluster (upstream's Makefile
# derives it from k8s.io/client-go v0.X.Y -> 1.X; without it helm claims v1.20).
client_go="$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v0\./ { print $2; exit }' "${here}/go.mod")"
[[ -n "${client_go}" ]] || die "cannot find the k8s.io/client-go version in ${here}/go.mod"
k8s_minor="$(cut -d. -f2 <<<"${client_go}")"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
done
(
    cd "${here}"
    CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${helm}.tmp" helm.sh/helm/v3/cmd/helm
) || die "building helm failed (module ${here})"
# Renamed only when complete, so an interrupted build never looks finished.
mv -f "${helm}.tmp" "${helm}"
log "built helm ${version} in $((SECONDS - started))s"
printf '%s\n' "${helm}"
