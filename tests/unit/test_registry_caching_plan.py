"""EcrRegistry's pull through cache rules and creation templates, pure: rendering, comparison by meaning, the
plans with hand-made observations (ownership decides what is replaced or deleted), the claim of spec.awsRoleArn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_operator.core.compare import to_json
from ecr_operator.core.errors import SpecError
from ecr_operator.core.reasons import Reason
from ecr_operator.core.repository_settings import Lifecycle, render_lifecycle_policy
from ecr_operator.core.settings import Settings
from ecr_operator.registry.cache_rules import DesiredRule, Difference, difference, prefix_key
from ecr_operator.registry.items import Created, created_names
from ecr_operator.registry.parts import cache_rules, creation_templates
from ecr_operator.registry.parts.registry import RegistryDeps
from ecr_operator.registry.reconcile import OWN_ACCOUNT, claim_of, managed_by
from ecr_operator.registry.render import render_registry
from ecr_operator.registry.spec import EcrRegistrySpec
from ecr_operator.registry.templates import normalize_template, templates_equal

REGION = "eu-west-3"
SECRET = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
DOCKER_HUB = {
    "ecrRepositoryPrefix": "docker-hub",
    "upstreamRegistryUrl": "registry-1.docker.io",
    "upstreamRegistry": "docker-hub",
    "credentialArn": SECRET,
}
TEMPLATE = {
    "prefix": "docker-hub",
    "appliedFor": ["PULL_THROUGH_CACHE", "REPLICATION"],
    "lifecycle": {"maxImageCount": 5},
    "crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333", "444455556666"]},
    "resourceTags": {"team": "platform", "cost_center": "42"},
}


def desired(required_tags: tuple[str, ...] = (), **spec: Any) -> Any:
    return render_registry(EcrRegistrySpec.model_validate(spec), "main", REGION, required_tags)


def deps(rules: frozenset[str] = frozenset(), templates: frozenset[str] = frozenset()) -> RegistryDeps:
    return RegistryDeps(created=Created(rules, templates))


def aws_rule(**overrides: Any) -> dict[str, Any]:
    return {**DOCKER_HUB, "registryId": "123456789012", "upstreamRepositoryPrefix": "ROOT", **overrides}


# -- rules: rendering and difference ---------------------------------------------------------------------------


def test_team_and_team_slash_are_one_prefix() -> None:
    assert prefix_key("team/") == prefix_key("team") == "team" and prefix_key("ROOT") == "ROOT"
    twice = [{**DOCKER_HUB, "ecrRepositoryPrefix": "team"}, {**DOCKER_HUB, "ecrRepositoryPrefix": "team/"}]
    with pytest.raises(SpecError) as refused:
        desired(pullThroughCacheRules=twice)
    assert refused.value.reason == Reason.INVALID_SPEC and "spec.pullThroughCacheRules" in refused.value.message


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (aws_rule(), Difference.NONE),
        (aws_rule(ecrRepositoryPrefix="docker-hub/"), Difference.NONE),
        (aws_rule(upstreamRepositoryPrefix=None), Difference.NONE),
        (aws_rule(credentialArn=SECRET.replace("AbCdEf", "XyZxYz")), Difference.UPDATE),
        (aws_rule(customRoleArn="arn:aws:iam::123456789012:role/r"), Difference.REPLACE),  # cannot clear in place
        (aws_rule(upstreamRegistryUrl="ghcr.io", upstreamRegistry="github-container-registry"), Difference.REPLACE),
    ],
)
def test_difference(found: dict[str, Any], expected: Difference) -> None:
    rule = DesiredRule("docker-hub", "registry-1.docker.io", "docker-hub", SECRET)
    assert difference(rule, found) is expected


def test_rule_plan_creates_updates_and_deletes_only_its_own() -> None:
    want = desired(
        pullThroughCacheRules=[DOCKER_HUB, {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "quay.io"}]
    )
    found = {
        "docker-hub": aws_rule(credentialArn=SECRET.replace("AbCdEf", "XyZxYz")),
        "old": aws_rule(ecrRepositoryPrefix="old/"),
        "theirs": aws_rule(ecrRepositoryPrefix="theirs"),
    }
    result = cache_rules.plan(want, found, deps(rules=frozenset({"old", "gone"})))
    assert [(a.operation, a.params["ecrRepositoryPrefix"]) for a in result.actions] == [
        ("update_pull_through_cache_rule", "docker-hub"),
        ("create_pull_through_cache_rule", "quay"),
        ("delete_pull_through_cache_rule", "old/"),
    ]
    assert [(i.name, i.state, i.created, i.deleting) for i in result.items or []] == [
        ("docker-hub", "Pending", False, False),
        ("quay", "Pending", True, False),
        ("old", "Pending", True, True),
    ]


def test_an_upstream_change_replaces_our_rule_and_is_a_conflict_on_another() -> None:
    want = desired(pullThroughCacheRules=[DOCKER_HUB])
    found = {"docker-hub": aws_rule(upstreamRegistryUrl="public.ecr.aws", upstreamRegistry="ecr-public")}
    ours = cache_rules.plan(want, found, deps(rules=frozenset({"docker-hub"})))
    assert [a.operation for a in ours.actions] == ["delete_pull_through_cache_rule", "create_pull_through_cache_rule"]
    theirs = cache_rules.plan(want, found, deps())
    assert theirs.actions == [] and [p.reason for p in theirs.problems] == [Reason.REGISTRY_ITEM_NOT_OWNED]
    assert theirs.items is not None and theirs.items[0].state == "Conflict"


def test_rule_delete_plan_follows_the_policy_and_ownership() -> None:
    found = {"docker-hub": aws_rule(), "theirs": aws_rule(ecrRepositoryPrefix="theirs")}
    mine = deps(rules=frozenset({"docker-hub"}))
    delete = cache_rules.plan_delete(desired(pullThroughCacheRules=[DOCKER_HUB], deletionPolicy="Delete"), found, mine)
    assert [a.params for a in delete.actions] == [{"ecrRepositoryPrefix": "docker-hub"}]
    assert cache_rules.plan_delete(desired(pullThroughCacheRules=[DOCKER_HUB]), found, mine).actions == []


def test_an_unmanaged_section_plans_nothing() -> None:
    assert cache_rules.plan(desired(), None, deps(rules=frozenset({"x"}))).items is None
    assert creation_templates.plan(desired(), None, deps()).actions == []


# -- templates: rendering with the repository kind's functions, comparison by meaning ---------------------------


def test_a_template_renders_the_repository_kinds_documents() -> None:
    [template] = desired(creationTemplates=[TEMPLATE]).creation_templates
    assert json.loads(template.params["lifecyclePolicy"]) == render_lifecycle_policy(
        Lifecycle.model_validate({"maxImageCount": 5})
    )
    statement = json.loads(template.params["repositoryPolicy"])["Statement"][0]
    assert statement["Principal"]["AWS"] == [
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::444455556666:root",
    ]
    assert template.params["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert template.params["resourceTags"] == [
        {"Key": "cost_center", "Value": "42"},
        {"Key": "team", "Value": "platform"},
    ]


def test_templates_are_compared_by_meaning() -> None:
    [template] = desired(creationTemplates=[TEMPLATE]).creation_templates
    policy = json.loads(template.params["repositoryPolicy"])
    statement = policy["Statement"][0]
    as_aws_answers = {
        **template.params,
        "appliedFor": list(reversed(template.params["appliedFor"])),
        "resourceTags": list(reversed(template.params["resourceTags"])),
        "repositoryPolicy": json.dumps(
            {
                **policy,
                "Statement": [{**statement, "Principal": {"AWS": list(reversed(statement["Principal"]["AWS"]))}}],
            },
            indent=2,
        ),
        "lifecyclePolicy": json.dumps(json.loads(template.params["lifecyclePolicy"]), indent=4),
        "description": "",
        "customRoleArn": "",
        "imageTagMutabilityExclusionFilters": [],
        "createdAt": "2026-12-03T00:00:00Z",
    }
    assert templates_equal(template, as_aws_answers)
    assert not templates_equal(template, {**as_aws_answers, "imageTagMutability": "IMMUTABLE"})
    assert not templates_equal(template, {**as_aws_answers, "resourceTags": []})
    assert not templates_equal(template, {**as_aws_answers, "lifecyclePolicy": to_json({"rules": []})})


def test_exclusion_filters_pass_through() -> None:
    spec = {
        **TEMPLATE,
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filter": "latest"}, {"filter": "dev-*", "filterType": "WILDCARD"}],
    }
    [template] = desired(creationTemplates=[spec]).creation_templates
    assert template.params["imageTagMutabilityExclusionFilters"] == [  # a set, in a fixed order
        {"filter": "dev-*", "filterType": "WILDCARD"},
        {"filter": "latest", "filterType": "WILDCARD"},
    ]
    assert normalize_template(template.params)["exclusions"] == {("WILDCARD", "dev-*"), ("WILDCARD", "latest")}


def test_a_template_needs_the_required_tags_and_a_valid_lifecycle_policy() -> None:
    with pytest.raises(SpecError) as missing:
        desired(("owner",), creationTemplates=[TEMPLATE])
    assert missing.value.reason == Reason.MISSING_REQUIRED_TAGS
    assert missing.value.message == "spec.creationTemplates[docker-hub].resourceTags lacks required tags: owner"
    raw = json.dumps({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any"}, "action": {"type": "expire"}}]})
    bad = {**TEMPLATE, "lifecycle": {"policyText": raw + " " * 100}}
    with pytest.raises(SpecError) as invalid:
        desired(creationTemplates=[bad])
    assert invalid.value.message.startswith("spec.creationTemplates[docker-hub].lifecycle.policyText rules[0]")


def test_template_plan_updates_and_deletes_only_its_own() -> None:
    [template] = desired(creationTemplates=[TEMPLATE]).creation_templates
    want = desired(creationTemplates=[TEMPLATE])
    found = {
        "docker-hub": {**template.params, "description": "by hand"},
        "old": {"prefix": "old", "appliedFor": ["REPLICATION"]},
        "theirs": {"prefix": "theirs", "appliedFor": ["REPLICATION"]},
    }
    result = creation_templates.plan(want, found, deps(templates=frozenset({"old"})))
    assert [(a.operation, a.params["prefix"]) for a in result.actions] == [
        ("update_repository_creation_template", "docker-hub"),
        ("delete_repository_creation_template", "old"),
    ]
    update = result.actions[0].params
    assert update["description"] == "" and update["customRoleArn"] == ""  # what the spec leaves out is cleared


# -- status records and the claim of another account ----------------------------------------------------------


def test_created_names_read_back_what_status_recorded() -> None:
    status = [{"name": "a", "createdByOperator": True}, {"name": "b", "createdByOperator": False}, {"state": "x"}]
    assert created_names(status) == frozenset({"a"}) and created_names(None) == frozenset()


def test_aws_role_arn_claims_that_accounts_registry() -> None:
    def obj(name: str, created: str, **spec: Any) -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": created}, "spec": spec}

    role = "arn:aws:iam::222233334444:role/ecr-operator-registry"
    own = claim_of(obj("own", "2026-01-01T00:00:00Z"), REGION)
    other = claim_of(obj("other", "2026-01-02T00:00:00Z", awsRoleArn=role), REGION)
    rival = claim_of(obj("rival", "2026-01-03T00:00:00Z", awsRoleArn=role.replace("registry", "x")), REGION)
    assert own.account == OWN_ACCOUNT and other.account == "222233334444"
    claims = [own, other, rival]
    assert managed_by(other, claims) is None, "another account's registry is not the operator's own"
    assert managed_by(rival, claims) == "other", "one EcrRegistry per account and region, whichever role reaches it"


def test_the_pull_through_cache_example_renders_with_the_default_required_tags() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "registry-pull-through-cache.yaml"
    spec = yaml.safe_load(example.read_text())["spec"]
    rendered = desired(Settings(region=REGION).required_tags, **spec)
    assert [r.key for r in rendered.pull_through_cache_rules] == ["docker-hub", "quay"]
    assert [t.prefix for t in rendered.creation_templates] == ["docker-hub", "ROOT"]
