"""The EcrRepository's CRD description: names, printer columns and the rule on metadata.name."""

from __future__ import annotations

from ecr_operator.core.crd import Column, CrdDescription, Names
from ecr_operator.repository.spec import KIND, PLURAL, SHORT_NAMES, SINGULAR, EcrRepositorySpec, EcrRepositoryStatus

# metadata.name becomes the repository name when spec.repositoryName is empty: it must satisfy ECR's rules
# too (Kubernetes allows "a", "a--b" or "a.-b", ECR does not). Only a rule at the root can see metadata.
DEFAULT_NAME_RULE = {
    "rule": "!has(self.spec) || has(self.spec.repositoryName) || (size(self.metadata.name) >= 2"
    " && self.metadata.name.matches('^[a-z0-9]+(?:[._-][a-z0-9]+)*$'))",
    "message": "metadata.name is the repository name when spec.repositoryName is not set, so it must follow "
    "ECR's naming rules (at least 2 characters, no consecutive separators); set spec.repositoryName otherwise",
}

NAMES = Names(KIND, PLURAL, SINGULAR, tuple(SHORT_NAMES), categories=("aws", "ecr"))

CRD = CrdDescription(
    NAMES,
    "Namespaced",
    EcrRepositorySpec,
    EcrRepositoryStatus,
    "An Amazon ECR repository with its KMS key, lifecycle policy, cross-account pull policy and tags, managed by "
    "ecr-operator.",
    columns=(Column("URI", "string", ".status.repositoryUri"),),
    details=(
        Column("Images", "integer", ".status.images.count"),
        Column("Size", "integer", ".status.images.totalSizeBytes"),
        Column("Critical", "integer", ".status.scan.findingSeverityCounts.CRITICAL"),
        Column("High", "integer", ".status.scan.findingSeverityCounts.HIGH"),
    ),
    root_rules=(DEFAULT_NAME_RULE,),
    # spec.encryption always exists after defaulting: its CEL transition rules need oldSelf to exist.
    defaulted=frozenset({"encryption"}),
)
