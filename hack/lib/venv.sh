# Sourced by hack/*.sh: make ./.venv with the project installed (editable) with the given extra.
# Re-installs only when pyproject.toml changed since the last install.
ensure_venv() {
    local extra="$1" python="${PYTHON:-python3}" stamp
    if [[ ! -x .venv/bin/python ]]; then
        echo "[setup] creating .venv with $("${python}" --version)" >&2
        "${python}" -m venv .venv
    fi
    stamp=".venv/.installed-${extra}-$(sha256sum pyproject.toml | cut -c1-16)"
    if [[ ! -f "${stamp}" ]]; then
        echo "[setup] installing ecr-operator[${extra}] and its dependencies into .venv" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".[${extra}]"
        touch "${stamp}"
    fi
}
