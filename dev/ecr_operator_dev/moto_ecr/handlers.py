"""The emulated operations as methods of moto's ``ECRResponse``, which dispatches ECR's JSON requests by name.

Each one checks the request against botocore's model, then hands the registry of the caller's account and Region
to :mod:`.pull_through` or :mod:`.templates`; moto serialises the answer through the operation's output shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import camelcase_to_underscores

from . import modelcheck, pull_through, templates
from .errors import InvalidParameterException
from .store import RegistryExtras, registry

Operation = Callable[[RegistryExtras, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Operation] = {
    "CreatePullThroughCacheRule": pull_through.create,
    "DescribePullThroughCacheRules": pull_through.describe,
    "UpdatePullThroughCacheRule": pull_through.update,
    "DeletePullThroughCacheRule": pull_through.delete,
    "ValidatePullThroughCacheRule": pull_through.validate,
    "CreateRepositoryCreationTemplate": templates.create,
    "DescribeRepositoryCreationTemplates": templates.describe,
    "UpdateRepositoryCreationTemplate": templates.update,
    "DeleteRepositoryCreationTemplate": templates.delete,
}


def handler(operation: str, run: Operation) -> Callable[[Any], ActionResult]:
    """A method for moto's ``ECRResponse`` (``self``: the response object of one request) serving ``operation``."""
    modelcheck.operation_model(operation)  # fail at start-up, not on the first request, if botocore lacks it

    def method(self: Any) -> ActionResult:
        params = _body(self.body)
        modelcheck.validate(operation, params)
        return ActionResult(run(registry(self.current_account, self.region), params))

    method.__name__ = method.__qualname__ = method_name(operation)
    return method


def method_name(operation: str) -> str:
    """The name moto's dispatcher looks ``operation`` up by (``CreatePullThroughCacheRule`` -> ``create_pull_...``)."""
    return str(camelcase_to_underscores(operation))


def _body(raw: str | bytes | None) -> dict[str, Any]:
    try:
        document = json.loads(raw or "{}")
    except ValueError:
        raise InvalidParameterException("The request body is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidParameterException("The request body is not a JSON object")
    return document
