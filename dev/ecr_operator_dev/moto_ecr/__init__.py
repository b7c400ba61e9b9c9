"""Pull through cache rules and repository creation templates for moto's ECR, which implements neither.

:func:`install` adds ECR's nine operations for them to moto's ECR responses (call it before moto's server
starts; ``ecr_operator_dev._motomain`` does). Shapes, patterns and enums come from botocore's service model for
ECR, error codes and the rest of the behaviour from AWS's API reference and user guide; what is emulated and what
not is in docs/moto-ecr-extensions.md.
"""

from __future__ import annotations

from .handlers import OPERATIONS, handler, method_name

__all__ = ["OPERATIONS", "install"]


def install() -> None:
    """Teach moto's ECRResponse the operations of :data:`OPERATIONS` (idempotent)."""
    from moto.ecr.responses import ECRResponse

    for operation, run in OPERATIONS.items():
        setattr(ECRResponse, method_name(operation), handler(operation, run))
