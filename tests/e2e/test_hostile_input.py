"""A hostile tenant's input on the real control plane: what one namespace stores must not stop the operator from
serving the others.

The API server decodes JSON up to 10000 levels deep; the fields of an extra policy statement hold any JSON
(x-kubernetes-preserve-unknown-fields). Python's json module gives up near its recursion limit (1000), so an
object nested deeper than that, once stored, would break every list and watch of its kind in the operator."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from operator_env import Namespace, seed_spec
from support import unique

pytestmark = pytest.mark.e2e

DEPTH = 9980
"""Far deeper than Python's json module reads by default, just within what the API server decodes (10000 levels
for the whole object)."""


@pytest.fixture(autouse=True)
def _deep_reads() -> Iterator[None]:
    """This test process reads the deep object too (kubernetes' client decodes with the json module)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(30000)
    yield
    sys.setrecursionlimit(limit)


def _nested_text(depth: int) -> str:
    """A JSON list nested ``depth`` deep, written by hand: json.dumps itself stops near the recursion limit."""
    return "[" * depth + '"x"' + "]" * depth


def _post_raw(ns: Namespace, name: str, spec: dict[str, Any], hole: str, filler: str) -> int:
    """Create an EcrRepository from JSON text, ``hole`` (a string in ``spec``) replaced by ``filler``; the status."""
    body = {"apiVersion": "ecr.platform.dev/v1alpha1", "kind": "EcrRepository", "metadata": {"name": name}}
    body["spec"] = spec
    text = json.dumps(body).replace(json.dumps(hole), filler)
    api = ns.env.api
    url = f"{api.configuration.host}/apis/ecr.platform.dev/v1alpha1/namespaces/{ns.name}/ecrrepositories"
    headers = {"Content-Type": "application/json"}
    api.update_params_for_auth(headers, [], ["BearerToken"], "", "POST", text)
    response = api.rest_client.pool_manager.request("POST", url, body=text.encode(), headers=headers)
    return int(response.status)


def test_a_deeply_nested_statement_does_not_stop_the_operator(ns: Namespace) -> None:
    spec = seed_spec(unique("deep"))
    spec["repositoryPolicy"] = {
        "statements": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "ecr:BatchGetImage",
                "Condition": {"StringEquals": {"aws:SourceAccount": "HOLE"}},
            }
        ]
    }
    assert _post_raw(ns, "deep", spec, "HOLE", _nested_text(DEPTH)) == 201, "the API server stores it"

    ns.create("after", seed_spec(unique("after")))
    ns.wait_ready("after")
    deep = ns.wait_condition("deep", "False", "InvalidSpec")
    message = ns.ready_condition(deep)["message"]
    assert "Condition.StringEquals.aws:SourceAccount must be a value or a non-empty list of values" in message


def test_kopfs_annotations_written_by_the_tenant_do_not_wedge_the_object(ns: Namespace) -> None:
    """kopf's progress and last-handled spec live in annotations the tenant can edit. A value kopf cannot decode
    raised before any handler at every event of the object: kopf's error throttling kept the others served ("after"
    became Ready), but that object was never handled again, nor could it be deleted. It is now read as absent: the
    object is handled as new, and kopf writes the annotations afresh."""
    garbage = {
        "ecr.platform.dev/last-handled-configuration": "{not json",
        "ecr.platform.dev/reconcile": '{"started": "yesterday", "retries": "many"}',
    }
    ns.create("garbage", seed_spec(unique("garbage")), annotations=garbage)
    ns.create("after", seed_spec(unique("after")))
    ns.wait_ready("after")
    ns.wait_ready("garbage")
    annotations = ns.must_get("garbage")["metadata"]["annotations"]
    assert annotations.get("ecr.platform.dev/last-handled-configuration") != "{not json", "kopf wrote it afresh"
