"""What every kind's API model is built from: the model base, CEL rules, shared patterns, and the status fields
every kind reports (conditions, observed generation, last sync, planned changes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$"
ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"


def cel_rules(*rules: dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` of a model guarded by CEL rules (rules that span fields or need ``oldSelf``)."""
    return {"x-kubernetes-validations": list(rules)}


class ApiModel(BaseModel):
    """camelCase on the wire, closed (an unknown field is an error), frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class Condition(ApiModel):
    """One condition in the Kubernetes shape (metav1.Condition)."""

    type: str = Field(
        description="The condition's type: Ready (usable as specified), Synced (the last pass reached AWS and "
        "applied its plan) or Stalled (waits for a change)."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="CamelCase reason of the last transition or pass (Synced, MissingRequiredTags, "
        "RepositoryNotOwned, Throttled, ...)."
    )
    message: str = Field(description="What is wrong, or what was done, in words.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339, UTC).")
    observed_generation: int | None = Field(
        None, description="The metadata.generation this condition was computed for."
    )


class CommonStatus(ApiModel):
    """The status fields every kind reports; a kind's status model adds its own after them."""

    observed_generation: int | None = Field(None, description="The metadata.generation the operator last acted on.")
    last_sync_time: str | None = Field(
        None, description="When the operator last compared AWS with the spec (RFC 3339, UTC)."
    )
    planned_changes: list[str] = Field(
        default_factory=list,
        description="With the observe-only annotation: the AWS changes a normal reconcile would make.",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Synced and Stalled: whether it is usable as specified, and why not."
    )
