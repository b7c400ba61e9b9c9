# Sourced by hack/*.sh: make ./.venv with the operator (editable, with the given extra: "" for none) and the
# development harness dev/ (ecr-operator-dev: control plane, moto, proxy, demo) installed, every
# dependency at the version pinned in constraints.txt (refresh it with hack/lock.sh).
# Re-installs only when pyproject.toml or constraints.txt changed since the last install.
ensure_venv() {
    local extra="$1" python="${PYTHON:-python3}" stamp
    if [[ ! -x .venv/bin/python ]]; then
        echo "[setup] creating .venv with $("${python}" --version)" >&2
        "${python}" -m venv .venv
    fi
    stamp=".venv/.installed-${extra:-none}-$(cat pyproject.toml dev/pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
    if [[ ! -f "${stamp}" ]]; then
        echo "[setup] installing ecr-operator${extra:+[${extra}]}, ecr-operator-dev and their dependencies (constraints.txt) into .venv" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -c constraints.txt -e ".${extra:+[${extra}]}" -e ./dev
        touch "${stamp}"
    fi
}
