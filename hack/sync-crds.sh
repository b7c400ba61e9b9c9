#!/usr/bin/env bash
# Copy the CRDs into the two install trees that cannot reference crds/ (a kustomization loads files only
# from its own directory; a Helm chart is packaged on its own). The copies carry the annotations that keep
# the API through any uninstall (docs/install.md, "Uninstall"): Argo CD neither prunes nor deletes them, Flux
# does not prune them, Helm keeps them. tests/unit/test_crd_copies.py fails when a copy is not its source
# plus these annotations; run this after `ecr-operator crd > crds/ecrrepository.yaml` and
# `ecr-operator crd --kind EcrRegistry > crds/ecrregistry.yaml`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 - <<'PY'
from pathlib import Path

KEEP = (
    "  annotations:\n"
    "    argocd.argoproj.io/sync-options: Prune=false,Delete=false\n"
    "    helm.sh/resource-policy: keep\n"
    "    kustomize.toolkit.fluxcd.io/prune: disabled\n"
)
for name in ("ecrrepository.yaml", "ecrregistry.yaml"):
    source = Path("crds", name).read_text()
    assert source.count("\nmetadata:\n") == 1, f"crds/{name}: expected one CRD"
    kept = source.replace("\nmetadata:\n", "\nmetadata:\n" + KEEP)
    for tree in ("deploy/crds", "charts/ecr-operator/crds"):
        Path(tree, name).write_text(kept)
PY
cp deploy/kopf-peering/kopf-peerings.yaml charts/ecr-operator/crds/kopf-peerings.yaml
# The alert rules: the chart carries deploy/monitoring/prometheusrule.yaml's spec as a file (no templating).
python3 - <<'PY'
import yaml
rule = yaml.safe_load(open("deploy/monitoring/prometheusrule.yaml"))
with open("charts/ecr-operator/files/alert-groups.yaml", "w") as out:
    out.write("# A copy of deploy/monitoring/prometheusrule.yaml's spec (hack/sync-crds.sh); tests keep them equal.\n")
    yaml.safe_dump(rule["spec"], out, sort_keys=False, width=120)
PY
