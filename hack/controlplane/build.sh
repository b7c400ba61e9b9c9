#!/usr/bin/env bash
# Build the local end-to-end control plane (kube-apiserver, kube-controller-manager, kubectl, etcd) from the
# pinned Go wrapper modules next to this script, into a per-version cache outside the repository:
#
#   ${ECR_OPERATOR_CACHE:-$HOME/.cache/ecr-operator}/controlplane/k8s-<ver>_etcd-<ver>/bin/
#
# The versions come from the go.mod files (the single source of truth). When all binaries are
# already in the cache, nothing is built and `go` is not needed. Progress goes to stderr; the
# last line on stdout is the bin directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
apiserver_mod="${here}/kube-apiserver"
etcd_mod="${here}/etcd"

log() { printf '[controlplane] %s\n' "$*" >&2; }
die() { printf '[controlplane] error: %s\n' "$*" >&2; exit 1; }

# The version a go.mod requires a module at (first `require` match, block or single line).
required_version() {
    local gomod="$1" module="$2" version
    version="$(awk -v m="${module}" '
        $1 == "require" && $2 == m { print $3; exit }
        $1 == m && $2 ~ /^v[0-9]/ { print $2; exit }
    ' "${gomod}")"
    [[ -n "${version}" ]] || die "cannot find the ${module} version in ${gomod}"
    printf '%s' "${version}"
}

k8s_version="$(required_version "${apiserver_mod}/go.mod" k8s.io/kubernetes)"
etcd_version="$(required_version "${etcd_mod}/go.mod" go.etcd.io/etcd/server/v3)"

cache_root="${ECR_OPERATOR_CACHE:-${HOME}/.cache/ecr-operator}"
out_dir="${cache_root}/controlplane/k8s-${k8s_version}_etcd-${etcd_version}"
bin_dir="${out_dir}/bin"
binaries=(kube-apiserver kube-controller-manager kubectl etcd)

all_present() {
    local b
    for b in "${binaries[@]}"; do
        [[ -x "${bin_dir}/${b}" ]] || return 1
    done
}

if all_present; then
    log "using cached kube-apiserver ${k8s_version} / etcd ${etcd_version} in ${bin_dir}"
    printf '%s\n' "${bin_dir}"
    exit 0
fi

command -v go >/dev/null 2>&1 || die "'go' was not found on PATH. Building the local control plane \
(kube-apiserver ${k8s_version}, etcd ${etcd_version}) needs a Go toolchain (>= 1.26, see \
https://go.dev/dl/), or put prebuilt binaries named ${binaries[*]} into ${bin_dir}."

mkdir -p "${bin_dir}"

# Serialise concurrent builds of the same version (parallel test sessions, several terminals).
if command -v flock >/dev/null 2>&1; then
    exec 9>"${out_dir}/.build.lock"
    if ! flock -n 9; then
        log "another build of ${out_dir} is running; waiting for it"
        flock 9
    fi
    if all_present; then
        log "using kube-apiserver ${k8s_version} / etcd ${etcd_version} built concurrently in ${bin_dir}"
        printf '%s\n' "${bin_dir}"
        exit 0
    fi
fi

export CGO_ENABLED=0
build_date="$(date -u +'%Y-%m-%dT%H:%M:%SZ')"

# "v1.34.4" -> major "1", minor "34" (what `hack/lib/version.sh` upstream stamps in). The module
# proxy does not record the release commit, so gitCommit is left empty rather than "$Format:%H$".
k8s_semver="${k8s_version#v}"
k8s_major="${k8s_semver%%.*}"
k8s_minor="${k8s_semver#*.}"
k8s_minor="${k8s_minor%%.*}"

k8s_ldflags=(-s -w)
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=(
        -X "${pkg}.gitVersion=${k8s_version}"
        -X "${pkg}.gitMajor=${k8s_major}"
        -X "${pkg}.gitMinor=${k8s_minor}"
        -X "${pkg}.gitTreeState=clean"
        -X "${pkg}.gitCommit="
        -X "${pkg}.buildDate=${build_date}"
    )
done

# Build into a temporary name and rename, so an interrupted build never looks complete.
build() {
    local name="$1" module_dir="$2" package="$3" ldflags="$4" note="$5" started
    if [[ -x "${bin_dir}/${name}" ]]; then
        log "${name} already built"
        return
    fi
    log "building ${name} ${note}…"
    started="${SECONDS}"
    (
        cd "${module_dir}"
        go build -trimpath -ldflags "${ldflags}" -o "${bin_dir}/.${name}.tmp" "${package}"
    ) || die "building ${name} failed (module ${module_dir})"
    mv -f "${bin_dir}/.${name}.tmp" "${bin_dir}/${name}"
    log "built ${name} in $((SECONDS - started))s"
}

build etcd "${etcd_mod}" . "-s -w" "${etcd_version} (takes a minute on first build)"
build kube-apiserver "${apiserver_mod}" . "${k8s_ldflags[*]}" "${k8s_version} (first build takes several minutes)"
build kubectl "${apiserver_mod}" ./cmd/kubectl "${k8s_ldflags[*]}" "${k8s_version} (reuses most of the kube-apiserver build)"
build kube-controller-manager "${apiserver_mod}" ./cmd/kube-controller-manager "${k8s_ldflags[*]}" \
    "${k8s_version} (reuses the kube-apiserver build; a few minutes more)"

log "control plane binaries are in ${bin_dir}"
printf '%s\n' "${bin_dir}"
