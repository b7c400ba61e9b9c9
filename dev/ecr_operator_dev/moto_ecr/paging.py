"""``maxResults`` / ``nextToken`` over a list kept in key order.

The token names the last key returned, so a page boundary survives items added or deleted between calls (no
item is returned twice; one added behind the boundary is seen). The token is opaque to clients, as AWS asks.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar

from .errors import InvalidParameterException

T = TypeVar("T")

# ECR's documented default page size when maxResults is not given (DescribePullThroughCacheRules and
# DescribeRepositoryCreationTemplates alike).
DEFAULT_PAGE_SIZE = 100


def page(items: Sequence[tuple[str, T]], max_results: int | None, next_token: str | None) -> tuple[list[T], str | None]:
    """One page of ``items`` (``(key, item)`` pairs sorted by key) and the token of the next page, if any."""
    after = _decode(next_token) if next_token is not None else None
    remaining = [(key, item) for key, item in items if after is None or key > after]
    size = max_results if max_results is not None else DEFAULT_PAGE_SIZE
    chosen = remaining[:size]
    if len(remaining) <= size:
        return [item for _, item in chosen], None
    return [item for _, item in chosen], _encode(chosen[-1][0])


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameterException("Invalid parameter at 'nextToken': the token is not valid") from None
