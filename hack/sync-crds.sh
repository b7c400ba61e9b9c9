#!/usr/bin/env bash
# Copy the CRDs into the two install trees that cannot reference crds/ (a kustomization loads files only
# from its own directory; a Helm chart is packaged on its own). tests/unit/test_crd_copies.py fails when
# the copies differ; run this after `ecr-operator crd > crds/ecrrepository.yaml`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cp crds/ecrrepository.yaml deploy/crds/ecrrepository.yaml
cp crds/ecrrepository.yaml charts/ecr-operator/crds/ecrrepository.yaml
cp deploy/crds/kopf-peerings.yaml charts/ecr-operator/crds/kopf-peerings.yaml
