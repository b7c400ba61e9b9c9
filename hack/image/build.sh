#!/usr/bin/env bash
# Build the operator's container image on this machine, without any container registry:
#
#  1. a Python 3.11 base image from Debian packages (debootstrap bookworm minbase + python3, python3-venv,
#     ca-certificates: what python:3.11-slim has),
#     cached by a hash of its inputs (this script's base section: suite, mirror, packages);
#  2. the repository's Dockerfile on top of it: buildah bud --build-arg BASE_IMAGE=<that base>.
#
# Needs root; installs debootstrap and buildah with apt-get when they are missing. Images live in buildah's vfs
# storage under ${ECR_OPERATOR_CACHE:-~/.cache/ecr-operator}/image/containers (chroot isolation, host
# network: no user namespaces or daemon needed). Progress goes to stderr; the last line on stdout is the
# image reference (default localhost/ecr-operator:<version from pyproject.toml>, or --tag REF).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${repo}/pyproject.toml" | head -1)"
tag="localhost/ecr-operator:${version}"
[[ "${1:-}" == "--tag" ]] && tag="${2:?--tag needs a reference}"

[[ -f "${repo}/constraints.txt" ]] || die "${repo}/constraints.txt (the pinned dependency versions the Dockerfile installs) is missing"
[[ "$(id -u)" == 0 ]] || die "building images with buildah's vfs storage and chroot isolation needs root"
# A fresh machine (CI) lacks them: Debian's packages, installed once.
if ! command -v debootstrap >/dev/null 2>&1 || ! command -v buildah >/dev/null 2>&1; then
    log "installing debootstrap and buildah from Debian's packages (once)…"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap buildah; } >&2 \
        || die "could not install debootstrap and buildah with apt-get"
fi
for tool in debootstrap buildah; do
    command -v "${tool}" >/dev/null 2>&1 || die "'${tool}' is missing: apt-get install debootstrap buildah"
done

cache="${ECR_OPERATOR_CACHE:-${HOME}/.cache/ecr-operator}/image"
mkdir -p "${cache}"
bah() { buildah --root "${cache}/containers/root" --runroot "${cache}/containers/run" --storage-driver vfs "$@"; }

# Serialise concurrent builds: they share the storage and the base's rootfs directory.
exec 9>"${cache}/.build.lock"
flock -n 9 || { log "another image build is running; waiting for it"; flock 9; }

# -- 1. the base image ------------------------------------------------------------------------------------
suite=bookworm
mirror=http://deb.debian.org/debian
packages=python3,python3-venv,ca-certificates
base_hash="$(printf '%s\n' "${suite}" "${mirror}" "${packages}" "$(sed -n '/^# -- 1\./,/^# -- 2\./p' "$0")" \
    | sha256sum | cut -c1-16)"
base="localhost/ecr-operator-base:${suite}-py3-${base_hash}"

if bah inspect --type image "${base}" >/dev/null 2>&1; then
    log "using cached base image ${base}"
else
    log "building base image ${base} from Debian ${suite} packages (debootstrap, a few minutes)…"
    started="${SECONDS}"
    work="$(mktemp -d "${cache}/base.XXXXXX")"
    trap 'rm -rf "${work}"' EXIT
    debootstrap --variant=minbase --include="${packages}" "${suite}" "${work}/rootfs" "${mirror}" >"${work}/debootstrap.log" 2>&1 \
        || { tail -20 "${work}/debootstrap.log" >&2; die "debootstrap failed"; }
    # What an image does not need: package caches and lists, documentation.
    rm -rf "${work}/rootfs"/var/cache/apt/archives/*.deb "${work}/rootfs"/var/lib/apt/lists/* \
        "${work}/rootfs"/usr/share/doc/* "${work}/rootfs"/usr/share/man/* "${work}/rootfs"/usr/share/info/* \
        "${work}/rootfs"/var/log/*.log "${work}/rootfs"/var/cache/debconf/*-old
    tar -C "${work}/rootfs" --numeric-owner -cf "${work}/rootfs.tar" .
    container="$(bah from scratch)"
    bah add "${container}" "${work}/rootfs.tar" / >/dev/null
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
        --cmd python3 --label "org.opencontainers.image.description=Debian ${suite} minbase + ${packages}" "${container}"
    bah commit --quiet --rm "${container}" "${base}" >/dev/null
    rm -rf "${work}"
    trap - EXIT
    log "built base image ${base} in $((SECONDS - started))s"
fi

# -- 2. the operator image ------------------------------------------------------------------------------
# The build context's files (what .dockerignore lets in) and the base: unchanged inputs, no rebuild (buildah
# would reuse every layer, but committing them to vfs storage still takes a minute).
inputs_hash="$(cd "${repo}" && {
    printf '%s\n' "${base}"
    find Dockerfile .dockerignore pyproject.toml constraints.txt README.md operator -type f \
        ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)"
stamp="${cache}/image-${inputs_hash}"
if [[ -f "${stamp}" ]] && [[ "$(bah images --quiet --no-trunc "${tag}" 2>/dev/null)" == "$(cat "${stamp}")" ]]; then
    log "using cached ${tag} (inputs ${inputs_hash})"
    printf '%s\n' "${tag}"
    exit 0
fi

log "building ${tag} from ${repo}/Dockerfile on ${base}…"
started="${SECONDS}"
build_args=(--build-arg "BASE_IMAGE=${base}")
# pip inside the build trusts this machine's CA bundle (mounted for the build only), e.g. a proxy's CA.
ca_bundle="${PIP_CERT:-${SSL_CERT_FILE:-}}"
if [[ -n "${ca_bundle}" && -f "${ca_bundle}" ]]; then
    build_args+=(--volume "${ca_bundle}:/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt)
fi
bah bud --quiet --isolation chroot --network host --pull-never --layers --force-rm "${build_args[@]}" \
    --tag "${tag}" --file "${repo}/Dockerfile" "${repo}" >/dev/null
rm -f "${cache}"/image-*
bah images --quiet --no-trunc "${tag}" >"${stamp}"
log "built ${tag} in $((SECONDS - started))s ($(bah images --format '{{.Size}}' "${tag}" | head -1))"
printf '%s\n' "${tag}"
