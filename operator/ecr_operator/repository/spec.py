"""The EcrRepository API: pydantic models of the spec, the single source of truth.

The CRD's OpenAPI schema is generated from these models (``crd.py``, ``core/crd.py``); CEL rules that need the
old object (immutability) or span several fields live next to the model they guard, in
``json_schema_extra["x-kubernetes-validations"]``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from ecr_operator.core.api import GROUP
from ecr_operator.core.ecr_policy import RESERVED_SIDS
from ecr_operator.core.model import REGION_PATTERN, ApiModel, CommonStatus, cel_rules
from ecr_operator.core.repository_settings import KMS_KEY_ARN_PATTERN as KMS_KEY_ARN_PATTERN
from ecr_operator.core.repository_settings import CrossAccountPull as CrossAccountPull
from ecr_operator.core.repository_settings import ImageTagMutabilityExclusionFilter as ImageTagMutabilityExclusionFilter
from ecr_operator.core.repository_settings import Lifecycle as Lifecycle

KIND = "EcrRepository"
PLURAL = "ecrrepositories"
SINGULAR = "ecrrepository"
SHORT_NAMES = ["ecr", "ecrrepo"]

# ECR's own name rule (2-256 characters, lowercase, optional namespaces separated by '/').
REPOSITORY_NAME_PATTERN = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
CONFIG_MAP_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

AWS_MAX_TAGS = 50
"""AWS's limit of tags per ECR repository and per KMS key."""
OWNERSHIP_TAG_COUNT = 3
"""The tags the operator adds to every resource it creates (``render.OWNER_TAG_KEYS``)."""
MAX_USER_TAGS = AWS_MAX_TAGS - OWNERSHIP_TAG_COUNT
TAG_LIMIT = (
    f"may hold at most {MAX_USER_TAGS} tags: AWS allows {AWS_MAX_TAGS} per repository and KMS key, and the "
    f"operator adds its {OWNERSHIP_TAG_COUNT} ownership tags (ecr.platform.dev/cluster, namespace, name)"
)

ADOPT_ANNOTATION = f"{GROUP}/adopt"
"""On an EcrRepository: take over an existing repository nobody owns (where the platform allows adoption)."""
ALLOW_ADOPTION_ANNOTATION = f"{GROUP}/allow-adoption"
"""On a Namespace, set by cluster admins: "true" lets its resources adopt (operator setting annotated-namespaces)."""
REPOSITORY_PREFIXES_ANNOTATION = f"{GROUP}/repository-prefixes"
"""On a Namespace: comma-separated repositoryName prefixes its resources may use (policy namespace-prefix)."""


def _within_the_tag_limit(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_USER_TAGS:
        raise ValueError(f"has {len(tags)} tags; it {TAG_LIMIT}")
    return tags


class Encryption(ApiModel):
    """How the repository is encrypted at rest. ECR cannot re-encrypt a repository, so type and key are immutable."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "(has(self.type) ? self.type : 'KMS') == (has(oldSelf.type) ? oldSelf.type : 'KMS')",
                "message": "spec.encryption.type is immutable: ECR cannot re-encrypt an existing repository",
                "fieldPath": ".type",
            },
            {
                "rule": "(has(self.kmsKeyArn) ? self.kmsKeyArn : '')"
                " == (has(oldSelf.kmsKeyArn) ? oldSelf.kmsKeyArn : '')",
                "message": "spec.encryption.kmsKeyArn is immutable: ECR cannot re-encrypt an existing repository",
                "fieldPath": ".kmsKeyArn",
            },
            {
                "rule": "!has(self.kmsKeyArn) || !has(self.type) || self.type == 'KMS'",
                "message": "spec.encryption.kmsKeyArn is only allowed with type KMS",
                "fieldPath": ".kmsKeyArn",
            },
        )
    )

    type: Literal["KMS", "AES256"] = Field(
        "KMS", description="KMS (a customer-managed key) or AES256 (an AWS-owned key)."
    )
    kms_key_arn: str | None = Field(
        None,
        pattern=KMS_KEY_ARN_PATTERN,
        max_length=2048,
        description="Use this existing KMS key instead of creating one. The operator never modifies or deletes it.",
    )
    enable_key_rotation: bool = Field(True, description="Yearly automatic rotation of the key the operator creates.")
    deletion_window_in_days: int = Field(
        30,
        ge=7,
        le=30,
        description="Pending-deletion window (7-30 days) used when the operator deletes the key it created.",
    )


def _any_json(alias: str, description: str) -> Any:
    """An optional statement element that may hold any JSON: the CRD keeps it as given (CEL cannot see into it)."""
    return Field(
        None, alias=alias, description=description, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )


class PolicyStatement(ApiModel):
    """An IAM statement as IAM writes it (Sid, Effect, Principal, Action, ...); the operator's own Sids are reserved."""

    # Principal, Action and the rest may hold any JSON, so CEL cannot see them: their shape is the operator's to
    # check (core/ecr_policy.statement_problems, InvalidSpec naming the statement).
    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "!has(self.Sid) || !(self.Sid in " + str(list(RESERVED_SIDS)) + ")",
                "message": "spec.repositoryPolicy.statements[].Sid may not be "
                + ", ".join(RESERVED_SIDS)
                + ": those are the operator's own statements (spec.crossAccountPull)",
                "fieldPath": ".Sid",
            },
        )
    )

    sid: str | None = Field(
        None,
        alias="Sid",
        pattern=r"^[A-Za-z0-9]*$",
        max_length=128,
        description="The statement's id.",
    )
    effect: Literal["Allow", "Deny"] = Field(alias="Effect", description="Allow or Deny.")
    principal: Any = _any_json(
        "Principal", "'*' or an object of AWS, Service, Federated or CanonicalUser principals (a string or a list)."
    )
    not_principal: Any = _any_json("NotPrincipal", "Principals the statement does not apply to (instead of Principal).")
    action: Any = _any_json("Action", "An action (ecr:BatchGetImage, ecr:*, ...) or a list of them.")
    not_action: Any = _any_json("NotAction", "Actions the statement does not cover (instead of Action).")
    resource: Any = _any_json("Resource", "Usually left out: a repository policy applies to its repository.")
    not_resource: Any = _any_json("NotResource", "Usually left out.")
    condition: dict[str, Any] | None = _any_json("Condition", "IAM conditions: {operator: {key: value or list}}.")

    def document(self) -> dict[str, Any]:
        """The statement as IAM JSON (the keys that were given)."""
        dumped: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True)
        return dumped


class RepositoryPolicy(ApiModel):
    """Extra statements merged with the operator's own pull statements (e.g. Lambda's service principal pulling)."""

    statements: list[PolicyStatement] = Field(
        min_length=1,
        max_length=100,
        description="IAM statements; the whole policy must stay within ECR's 10240 characters.",
    )


class Export(ApiModel):
    """Publish the repository's identifiers for workloads in a ConfigMap of this namespace."""

    config_map_name: str = Field(
        min_length=1,
        max_length=253,
        pattern=CONFIG_MAP_NAME_PATTERN,
        description="The ConfigMap (in this namespace) that receives repositoryUri, repositoryArn, registryId, "
        "region and kmsKeyArn. The operator creates it owned by this resource (garbage-collected with it) and "
        "never overwrites a ConfigMap it does not own.",
    )


EXCLUSION_MUTABILITIES = ("MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION")
"""ECR's ImageTagMutabilityExclusionFilterValue (botocore's model)."""
MAX_EXCLUSION_FILTERS = 5
"""ECR's ImageTagMutabilityExclusionFilters: 1 to 5 filters."""


class EcrRepositorySpec(ApiModel):
    """Desired state of one ECR repository and what it needs: KMS key, lifecycle, pull policy, tags."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            {
                "rule": "has(self.repositoryName) == has(oldSelf.repositoryName)"
                " && (!has(self.repositoryName) || self.repositoryName == oldSelf.repositoryName)",
                "message": "spec.repositoryName is immutable",
                "fieldPath": ".repositoryName",
            },
            {
                "rule": "has(self.region) == has(oldSelf.region)"
                " && (!has(self.region) || self.region == oldSelf.region)",
                "message": "spec.region is immutable",
                "fieldPath": ".region",
            },
            {
                "rule": "!has(self.imageTagMutability) || !(self.imageTagMutability in "
                + str(list(EXCLUSION_MUTABILITIES))
                + ") || has(self.imageTagMutabilityExclusionFilters)",
                "message": "spec.imageTagMutabilityExclusionFilters is required when spec.imageTagMutability is "
                "MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION",
                "fieldPath": ".imageTagMutabilityExclusionFilters",
            },
            {
                "rule": "!has(self.imageTagMutabilityExclusionFilters) || (has(self.imageTagMutability) && "
                "self.imageTagMutability in " + str(list(EXCLUSION_MUTABILITIES)) + ")",
                "message": "spec.imageTagMutabilityExclusionFilters is only allowed when spec.imageTagMutability is "
                "MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION",
                "fieldPath": ".imageTagMutabilityExclusionFilters",
            },
        )
    )

    repository_name: str | None = Field(
        None,
        min_length=2,
        max_length=256,
        pattern=REPOSITORY_NAME_PATTERN,
        description="ECR repository name (ECR naming rules); defaults to metadata.name. Immutable.",
    )
    region: str | None = Field(
        None, pattern=REGION_PATTERN, description="AWS region; defaults to the operator's region. Immutable."
    )
    image_tag_mutability: Literal["MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION"] = Field(
        "MUTABLE",
        description="Whether image tags can be overwritten; the *_WITH_EXCLUSION values exempt the tags of "
        "imageTagMutabilityExclusionFilters (e.g. IMMUTABLE_WITH_EXCLUSION with a mutable 'latest').",
    )
    image_tag_mutability_exclusion_filters: list[ImageTagMutabilityExclusionFilter] | None = Field(
        None,
        min_length=1,
        max_length=MAX_EXCLUSION_FILTERS,
        description="1-5 tag filters exempt from imageTagMutability; required with, and only allowed with, "
        "MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION. A set: order does not matter.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["filterType", "filter"]},
    )
    scan_on_push: bool = Field(True, description="Scan each image for vulnerabilities when it is pushed.")
    encryption: Encryption = Field(
        default_factory=lambda: Encryption.model_validate({}), description=Encryption.__doc__
    )
    lifecycle: Lifecycle | None = Field(None, description=Lifecycle.__doc__)
    cross_account_pull: CrossAccountPull | None = Field(None, description=CrossAccountPull.__doc__)
    repository_policy: RepositoryPolicy | None = Field(None, description=RepositoryPolicy.__doc__)
    tags: Annotated[dict[str, str], AfterValidator(_within_the_tag_limit)] = Field(
        default_factory=dict,
        description=f"Tags for the repository and the KMS key the operator creates (at most {MAX_USER_TAGS}: "
        f"AWS allows {AWS_MAX_TAGS} per resource and the operator adds {OWNERSHIP_TAG_COUNT} ownership tags).",
        # A CEL rule rather than maxProperties: the API server reports a failed maxProperties alone ("Too many"),
        # without running the rules, and so without saying why the limit is what it is.
        json_schema_extra=cel_rules({"rule": f"size(self) <= {MAX_USER_TAGS}", "message": f"spec.tags {TAG_LIMIT}"}),
    )
    deletion_policy: Literal["Delete", "Retain"] = Field(
        "Delete", description="Delete or Retain the AWS resources when this resource is deleted."
    )
    force_delete: bool = Field(
        False, description="On delete, also delete the images in the repository. Off: a non-empty one is kept."
    )
    export: Export | None = Field(None, description=Export.__doc__)

    @model_validator(mode="after")
    def _exclusion_filters_go_with_their_settings(self) -> EcrRepositorySpec:
        # The CRD's CEL rules say the same at admission; this holds for `plan --offline` and any object the API
        # server stored before the rules.
        with_exclusion = self.image_tag_mutability in EXCLUSION_MUTABILITIES
        if with_exclusion and not self.image_tag_mutability_exclusion_filters:
            raise ValueError(
                "spec.imageTagMutabilityExclusionFilters is required when spec.imageTagMutability is "
                "MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION"
            )
        if not with_exclusion and self.image_tag_mutability_exclusion_filters is not None:
            raise ValueError(
                "spec.imageTagMutabilityExclusionFilters is only allowed when spec.imageTagMutability is "
                "MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION"
            )
        return self


class KeyCreationStatus(ApiModel):
    """A KMS key creation in progress, recorded before CreateKey so that a restart never makes a second key."""

    token: str = Field(description="The token in the new key's description, to find it by strongly consistent reads.")
    key_id: str | None = Field(default=None, description="The id CreateKey returned, recorded right after the call.")


class ImagesStatus(ApiModel):
    """What the repository holds (refreshed on create, on spec changes and every --inventory-interval)."""

    count: int = Field(description="How many images the repository holds.")
    total_size_bytes: int = Field(description="The sum of the images' imageSizeInBytes.")
    newest_pushed_at: str | None = Field(None, description="When the newest image was pushed (RFC 3339, UTC).")
    newest_tags: list[str] = Field(default_factory=list, description="The tags of the newest image.")


class ScanStatus(ApiModel):
    """The vulnerability scan of the newest image (by push time)."""

    image_digest: str = Field(description="The newest image's digest.")
    image_tags: list[str] = Field(default_factory=list, description="The newest image's tags.")
    status: str = Field(
        description="ECR's scan status: COMPLETE, IN_PROGRESS, FAILED, ... or NONE when the image was never scanned."
    )
    completed_at: str | None = Field(None, description="When the scan completed (RFC 3339, UTC).")
    finding_severity_counts: dict[str, int] | None = Field(
        None,
        description="Findings per severity (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED; 0 where ECR "
        "reports none), once the scan has produced findings.",
    )


class EcrRepositoryStatus(CommonStatus):
    """What the operator did and saw."""

    repository_name: str | None = Field(
        None, description="The ECR repository's name (pinned before the operator's first write for it)."
    )
    repository_uri: str | None = Field(
        None, description="The URI to push and pull images: <registry>.dkr.ecr.<region>.amazonaws.com/<name>."
    )
    repository_arn: str | None = Field(None, description="The ECR repository's ARN.")
    registry_id: str | None = Field(None, description="The AWS account ID of the registry holding the repository.")
    region: str | None = Field(
        None, description="The AWS region of the repository (pinned before the operator's first write for it)."
    )
    account: str | None = Field(
        None,
        description="The AWS account the repository lives in, pinned before the operator's first write for it: "
        "every later pass and the delete act there (AccountChanged when the Namespace now maps elsewhere).",
    )
    role_arn: str | None = Field(
        None,
        description="The IAM role the operator assumes in that account (the Namespace's mapping when it last "
        "reached the account), kept so that a delete can act after the mapping is gone; absent: the operator's "
        "own identity.",
    )
    kms_key_arn: str | None = Field(
        None,
        description="The KMS key encrypting the repository (created by the operator or brought); empty for AES256.",
    )
    adopted: bool | None = Field(
        None,
        description="True when the operator adopted a repository that existed without an owner "
        "(the ecr.platform.dev/adopt annotation, where the platform allows adoption): it replaced the "
        "repository's tags and converged its settings and policies to this spec.",
    )
    adopted_at: str | None = Field(
        None, description="When the repository was adopted (RFC 3339): the pass that wrote its ownership tags."
    )
    images: ImagesStatus | None = Field(None, description=ImagesStatus.__doc__)
    scan: ScanStatus | None = Field(None, description=ScanStatus.__doc__)
    estimated_monthly_cost_usd: float | None = Field(
        None,
        alias="estimatedMonthlyCostUSD",
        description="Storage (totalSizeBytes / 1024^3 x the storage price per GB-month) plus the KMS key's monthly "
        "price when the operator manages the key; data transfer is excluded. Prices are operator settings.",
    )
    key_creation: KeyCreationStatus | None = Field(
        default=None, description="Set while the operator creates this resource's KMS key; cleared once it is aliased."
    )
