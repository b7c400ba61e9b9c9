"""Property: whatever a spec holds, the only outcomes of judging and planning it are a plan or an OperatorError.

Arbitrary JSON values and strings go into every free-text field of both kinds (a lifecycle ``policyText``, tags,
the registry policy document, replication destinations and filters, scanning filters, account lists, names),
through the functions the handlers call (``repository.manifest.request_for`` / ``desired_for``,
``registry.manifest.desired_registry``) and then the parts' pure planners, with plausible observed states: nothing
in AWS yet, AWS in sync (documents re-serialised as AWS returns them), and AWS holding documents of any shape.
Any other exception fails the test (and hypothesis shrinks it to the smallest spec that raises it).

Where a spec is accepted, an in-sync observation must plan nothing: documents are compared by meaning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ecr_operator.core.compare import to_json
from ecr_operator.core.errors import OperatorError
from ecr_operator.core.settings import Settings
from ecr_operator.registry.manifest import desired_registry
from ecr_operator.registry.parts import registry as registry_part
from ecr_operator.registry.render import DEFAULT_SCANNING, render_registry_policy, render_replication
from ecr_operator.repository.adoption import Adoption
from ecr_operator.repository.manifest import desired_for, request_for
from ecr_operator.repository.parts import key as key_part
from ecr_operator.repository.parts import repository as repository_part
from ecr_operator.repository.parts.key import ObservedKey, UserKey
from ecr_operator.repository.parts.repository import ObservedRepository
from ecr_operator.repository.render import Desired

T = TypeVar("T")

SETTINGS = Settings(region="eu-west-1", cluster_id="c1", required_tags=("owner",))
ACCOUNT = "123456789012"
ADOPT = Adoption(requested=True, refusal=None)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MakeRepo = Callable[..., ObservedRepository]
MakeKey = Callable[..., ObservedKey]

# --- values ---------------------------------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=16,
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nine times in ten a value of the right shape, else any JSON value: deep enough to reach the planners."""
    return st.integers(0, 9).flatmap(lambda n: JSON_VALUES if n == 0 else valid)


def _edit(text: str, at: int, replacement: str) -> str:
    at %= len(text) + 1
    return text[:at] + replacement + text[at + 1 :]


def texts_of(documents: st.SearchStrategy[Any], min_length: int = 0) -> st.SearchStrategy[str]:
    """Any string; a document's JSON; that JSON with one character replaced (a typo); nesting thousands deep."""
    dumped = st.builds(lambda d, indent: json.dumps(d, indent=indent), documents, st.sampled_from([None, 2]))
    typo = st.builds(_edit, dumped, st.integers(0), st.sampled_from(["", ",", '"', "[", "}", ":", "\\", "\x00"]))
    deep = st.builds(
        lambda key, n: f'{{"{key}": ' + "[" * n + "]" * n + "}",
        st.sampled_from(["rules", "Statement"]),
        st.integers(1, 5000),
    )
    text = st.one_of(st.text(), dumped, typo, deep)
    # Padded so that most texts pass the schema's minimum length and reach the JSON parser.
    return text.map(lambda t: t.ljust(min_length)) if min_length else text


# --- EcrRepository --------------------------------------------------------------------------------------------

STRINGS = st.lists(st.text(max_size=6), max_size=3)
SELECTIONS = st.fixed_dictionaries(
    {
        "tagStatus": mostly(st.sampled_from(["any", "tagged", "untagged"])),
        "countType": mostly(st.sampled_from(["imageCountMoreThan", "sinceImagePushed"])),
        "countNumber": mostly(st.integers(1, 1000)),
    },
    optional={
        "countUnit": mostly(st.just("days")),
        "tagPrefixList": mostly(STRINGS),
        "tagPatternList": mostly(STRINGS),
    },
)
RULES = st.fixed_dictionaries(
    {
        "rulePriority": mostly(st.integers(1, 5)),
        "selection": mostly(SELECTIONS),
        "action": mostly(st.just({"type": "expire"})),
    },
    optional={"description": mostly(st.text(max_size=20))},
)
LIFECYCLE_DOCUMENTS = st.fixed_dictionaries(
    {"rules": mostly(st.lists(RULES, min_size=1, max_size=3))}, optional={"note": JSON_VALUES}
)
# Always valid: the one rule ECR requires to be last, with free text where the policy allows it.
VALID_LIFECYCLE_DOCUMENTS = st.builds(
    lambda description, prefixes, count: {
        "rules": [
            {
                "rulePriority": 1,
                "description": description,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": prefixes,
                    "countType": "imageCountMoreThan",
                    "countNumber": count,
                },
                "action": {"type": "expire"},
            }
        ]
    },
    st.text(max_size=30),
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4),
    st.integers(1, 10**6),
)
POLICY_TEXTS = texts_of(LIFECYCLE_DOCUMENTS | VALID_LIFECYCLE_DOCUMENTS, min_length=100)

BASE_SPEC: dict[str, Any] = {
    "repositoryName": "team-a/web",
    "tags": {"owner": "team-a"},
    "lifecycle": {"maxImageCount": 10},
    "crossAccountPull": {"enabled": True, "allowedAccountIds": ["111122223333"]},
}

KEY_ARNS = st.from_regex(r"arn:aws:kms:eu-west-1:[0-9]{12}:key/[a-f0-9-]{1,36}", fullmatch=True)
REPOSITORY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "lifecycle": mostly(st.fixed_dictionaries({"policyText": POLICY_TEXTS})),
    "tags": st.one_of(
        st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=50).map(lambda t: {"owner": "a", **t}),
        st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4).map(lambda tags: {"owner": "a", **tags}),
        JSON_VALUES,
    ),
    "repositoryName": st.one_of(
        st.from_regex(r"[a-z0-9]{2,8}(/[a-z0-9]{2,8})?", fullmatch=True), st.text(), JSON_VALUES
    ),
    "region": st.one_of(st.from_regex(r"[a-z]{2}-[a-z]+-[0-9]", fullmatch=True), st.text(max_size=20)),
    "crossAccountPull": mostly(
        st.fixed_dictionaries({"enabled": mostly(st.booleans()), "allowedAccountIds": st.lists(mostly(st.text()))})
    ),
    "encryption": mostly(st.fixed_dictionaries({}, optional={"kmsKeyArn": mostly(KEY_ARNS), "type": JSON_VALUES})),
    "export": st.one_of(st.fixed_dictionaries({"configMapName": st.text()}), JSON_VALUES),
}
# The free-text fields most often: the raw documents and the tags.
FIELD_NAMES = st.sampled_from(["lifecycle", "lifecycle", "lifecycle", "tags", "tags", *sorted(REPOSITORY_FIELDS)])


@st.composite
def repository_specs(draw: st.DrawFn) -> Any:
    """The base spec with one or two of its fields replaced; now and then no object at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JSON_VALUES)
    names = draw(st.sets(FIELD_NAMES, min_size=1, max_size=2))
    return {**BASE_SPEC, **{name: draw(REPOSITORY_FIELDS[name]) for name in names}}


def plan_or_error(judge: Callable[[], T]) -> T | OperatorError:
    """The property: ``judge()`` returns, or raises an OperatorError; anything else propagates (a failure)."""
    try:
        result = judge()
    except OperatorError as error:
        field = re.match(r"spec(\.[A-Za-z]+)*", error.message)
        event(f"{error.reason}: {field.group() if field else '?'}")  # hypothesis statistics: which field refused it
        return error
    event("planned")
    return result


def as_aws_returns(document: Any) -> Any:
    """What AWS hands back for a document the operator put: its JSON text, parsed."""
    return None if document is None else json.loads(to_json(document))


def plan_repository(
    desired: Desired, observed: ObservedRepository | None, key: ObservedKey | UserKey | None
) -> list[Any]:
    """The pure half of a pass, as ``reconcile.reconcile`` orders it: the key part's plan feeds the repository's."""
    deps = key_part.KeyDeps(
        repository_exists=observed is not None, repository_key=observed.kms_key if observed else None, token="t"
    )
    key_plan = key_part.plan(desired, key, deps)
    repository_plan = repository_part.plan(desired, observed, repository_part.RepositoryDeps(key_plan.key_arn, ADOPT))
    for part_plan in (repository_plan, key_plan):
        if part_plan.refusal is not None:
            raise part_plan.refusal
    return [*key_plan.actions, *repository_plan.actions, *key_plan.problems, *repository_plan.problems]


def observations(
    desired: Desired, make_repo: MakeRepo, make_key: MakeKey
) -> tuple[tuple[ObservedRepository | None, ObservedKey | UserKey | None], ObservedRepository, ObservedKey | None]:
    """(nothing yet: repository and key as a create sees them), the repository in sync, and our key in sync."""
    user_key = desired.user_kms_key_arn
    new_key = UserKey(user_key, "Enabled", {}) if user_key else None
    in_sync = make_repo(
        desired,
        key_arn=user_key or key_part_arn(make_key, desired),
        lifecycle_policy=as_aws_returns(desired.lifecycle_policy),
        repository_policy=as_aws_returns(desired.repository_policy),
    )
    return (None, new_key), in_sync, make_key(desired) if desired.manages_key else None


def key_part_arn(make_key: MakeKey, desired: Desired) -> str:
    return make_key(desired).arn


@FUZZ
@given(spec=repository_specs(), annotations=st.dictionaries(st.text(max_size=30), st.text(max_size=10), max_size=3))
def test_any_repository_spec_is_a_plan_or_an_operator_error(
    make_observed_repository: MakeRepo, make_observed_key: MakeKey, spec: Any, annotations: dict[str, str]
) -> None:
    plan_or_error(lambda: desired_for(spec, "team-a", "web", SETTINGS))
    request = plan_or_error(lambda: request_for(spec, "team-a", "web", annotations, SETTINGS))
    if isinstance(request, OperatorError):
        return
    desired = request.desired
    (nothing, new_key), in_sync, our_key = observations(desired, make_observed_repository, make_observed_key)
    plan_or_error(lambda: plan_repository(desired, nothing, new_key))
    # In sync, as AWS re-serialises it: nothing to do (compared by meaning).
    assert plan_or_error(lambda: plan_repository(desired, in_sync, our_key)) == []


@FUZZ
@given(spec=repository_specs(), lifecycle=JSON_VALUES, policy=JSON_VALUES, tags=st.dictionaries(st.text(), st.text()))
def test_any_repository_spec_against_any_stored_documents_is_a_plan_or_an_operator_error(
    make_observed_repository: MakeRepo,
    make_observed_key: MakeKey,
    spec: Any,
    lifecycle: Any,
    policy: Any,
    tags: dict[str, str],
) -> None:
    """What another tool stored (moto stores anything that parses) is compared, never trusted to be well formed."""
    request = plan_or_error(lambda: request_for(spec, "team-a", "web", {}, SETTINGS))
    if isinstance(request, OperatorError):
        return
    desired = request.desired
    _, in_sync, our_key = observations(desired, make_observed_repository, make_observed_key)
    drifted = make_observed_repository(
        desired,
        key_arn=in_sync.kms_key,
        lifecycle_policy=lifecycle,
        repository_policy=policy,
        tags={**tags, **desired.owner.tags()},
    )
    plan_or_error(lambda: plan_repository(desired, drifted, our_key))
    foreign = make_observed_repository(desired, key_arn=in_sync.kms_key, tags=tags)
    plan_or_error(lambda: plan_repository(desired, foreign, our_key))


@FUZZ
@given(document=VALID_LIFECYCLE_DOCUMENTS)
def test_a_valid_raw_lifecycle_policy_plans_and_in_sync_plans_nothing(
    make_observed_repository: MakeRepo, make_observed_key: MakeKey, document: dict[str, Any]
) -> None:
    """The control of the property above: free text inside a valid policy reaches the planner and is compared."""
    spec = {**BASE_SPEC, "lifecycle": {"policyText": json.dumps(document).ljust(100)}}
    desired = request_for(spec, "team-a", "web", {}, SETTINGS).desired
    assert desired.lifecycle_policy == document
    (nothing, new_key), in_sync, our_key = observations(desired, make_observed_repository, make_observed_key)
    assert "put_lifecycle_policy" in [a.operation for a in plan_repository(desired, nothing, new_key)]
    assert plan_repository(desired, in_sync, our_key) == []


# --- EcrRegistry ----------------------------------------------------------------------------------------------

ACCOUNT_IDS = st.from_regex(r"[0-9]{12}", fullmatch=True)
STATEMENTS = st.fixed_dictionaries(
    {
        "Effect": mostly(st.sampled_from(["Allow", "Deny"])),
        "Principal": mostly(
            st.one_of(st.just("*"), st.fixed_dictionaries({"AWS": ACCOUNT_IDS | st.lists(ACCOUNT_IDS)}))
        ),
        "Action": mostly(st.text(max_size=20) | st.lists(st.text(max_size=20), max_size=3)),
        "Resource": mostly(st.text(max_size=20)),
    },
    optional={"Sid": mostly(st.text(max_size=10)), "Condition": JSON_VALUES},
)
POLICY_DOCUMENTS = st.fixed_dictionaries(
    {"Statement": mostly(STATEMENTS | st.lists(STATEMENTS, max_size=3))},
    optional={"Version": mostly(st.just("2012-10-17"))},
)
REGISTRY_POLICY_TEXTS = texts_of(POLICY_DOCUMENTS)
FILTERS = st.text(max_size=12) | st.from_regex(r"[a-z0-9]{1,6}(/[a-z0-9*]{1,6})?", fullmatch=True)
REGIONS = st.sampled_from(["eu-west-1", "eu-west-2", "us-gov-west-1", "cn-north-1"]) | st.text(max_size=12)

REGISTRY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "registryPolicy": mostly(
        st.fixed_dictionaries(
            {},
            optional={
                "policyText": REGISTRY_POLICY_TEXTS,
                "allowReplicationFromAccounts": st.lists(mostly(ACCOUNT_IDS), max_size=3),
            },
        )
    ),
    "replication": st.one_of(
        st.fixed_dictionaries(
            {
                "rules": st.lists(
                    st.fixed_dictionaries(
                        {
                            "destinations": st.lists(
                                st.fixed_dictionaries(
                                    {"region": REGIONS}, optional={"registryId": mostly(ACCOUNT_IDS)}
                                ),
                                min_size=1,
                                max_size=3,
                            )
                        },
                        optional={"repositoryFilters": st.lists(st.fixed_dictionaries({"filter": FILTERS}))},
                    ),
                    max_size=3,
                )
            }
        ),
        JSON_VALUES,
    ),
    "scanning": st.one_of(
        st.fixed_dictionaries(
            {"scanType": mostly(st.sampled_from(["BASIC", "ENHANCED"]))},
            optional={
                "rules": st.lists(
                    st.fixed_dictionaries(
                        {
                            "scanFrequency": mostly(st.sampled_from(["SCAN_ON_PUSH", "CONTINUOUS_SCAN", "MANUAL"])),
                            "repositoryFilters": st.lists(st.fixed_dictionaries({"filter": FILTERS}), min_size=1),
                        }
                    ),
                    max_size=2,
                )
            },
        ),
        JSON_VALUES,
    ),
    "region": REGIONS,
}


@st.composite
def registry_specs(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(JSON_VALUES)
    names = draw(st.sets(st.sampled_from(["registryPolicy", "registryPolicy", *sorted(REGISTRY_FIELDS)]), min_size=1))
    return {name: draw(REGISTRY_FIELDS[name]) for name in names}


def plan_registry(desired: Any, observed: registry_part.ObservedRegistry) -> list[Any]:
    plan = registry_part.plan(desired, observed, registry_part.RegistryDeps())
    if plan.refusal is not None:
        raise plan.refusal
    return plan.actions


@FUZZ
@given(spec=registry_specs(), stored_policy=JSON_VALUES)
def test_any_registry_spec_is_a_plan_or_an_operator_error(spec: Any, stored_policy: Any) -> None:
    desired = plan_or_error(lambda: desired_registry(spec, "main", SETTINGS))
    if isinstance(desired, OperatorError):
        return
    scanning = DEFAULT_SCANNING if desired.scanning is not None else None
    managed_policy = desired.registry_policy is not None
    nothing = registry_part.ObservedRegistry(ACCOUNT, {"rules": []}, scanning, None)
    plan_or_error(lambda: plan_registry(desired, nothing))
    drifted = registry_part.ObservedRegistry(
        ACCOUNT, {"rules": []}, scanning, stored_policy if managed_policy else None
    )
    plan_or_error(lambda: plan_registry(desired, drifted))

    # In sync, as AWS re-serialises it: nothing to do.
    policy = render_registry_policy(desired.registry_policy, ACCOUNT, desired.region) if managed_policy else None
    replication = render_replication(desired.replication, ACCOUNT) if desired.replication else {"rules": []}
    in_sync = registry_part.ObservedRegistry(
        ACCOUNT, as_aws_returns(replication), as_aws_returns(desired.scanning), as_aws_returns(policy)
    )
    assert plan_registry(desired, in_sync) == []
