#!/usr/bin/env bash
# Copy the CRDs into the two install trees that cannot reference crds/ (a kustomization loads files only
# from its own directory; a Helm chart is packaged on its own). tests/unit/test_crd_copies.py fails when
# the copies differ; run this after `ecr-operator crd > crds/ecrrepository.yaml` and
# `ecr-operator crd --kind EcrRegistry > crds/ecrregistry.yaml`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cp crds/ecrrepository.yaml deploy/crds/ecrrepository.yaml
cp crds/ecrrepository.yaml charts/ecr-operator/crds/ecrrepository.yaml
cp crds/ecrregistry.yaml deploy/crds/ecrregistry.yaml
cp crds/ecrregistry.yaml charts/ecr-operator/crds/ecrregistry.yaml
cp deploy/crds/kopf-peerings.yaml charts/ecr-operator/crds/kopf-peerings.yaml
# The alert rules: the chart carries deploy/monitoring/prometheusrule.yaml's spec as a file (no templating).
python3 - <<'PY'
import yaml
rule = yaml.safe_load(open("deploy/monitoring/prometheusrule.yaml"))
with open("charts/ecr-operator/files/alert-groups.yaml", "w") as out:
    out.write("# A copy of deploy/monitoring/prometheusrule.yaml's spec (hack/sync-crds.sh); tests keep them equal.\n")
    yaml.safe_dump(rule["spec"], out, sort_keys=False, width=120)
PY
