"""The monthly cost estimate of one repository (pure): storage plus the KMS key the operator manages.

``estimatedMonthlyCostUSD = totalSizeBytes / 1024^3 * storage price per GB-month
                            + (the KMS key price per month, when the operator manages the key)``

Data transfer (pulls to the internet or to other regions) depends on traffic the operator cannot see and is
excluded; the defaults are the Seoul (ap-northeast-2) list prices (``settings.Prices``).
"""

from __future__ import annotations

from ecr_operator.core.settings import Prices

GIB = 1024**3
"""AWS bills storage per GB-month of 2^30 bytes."""


def estimated_monthly_cost(total_size_bytes: int, manages_key: bool, prices: Prices) -> float:
    """US dollars per month, rounded to a hundredth of a cent."""
    storage = total_size_bytes / GIB * prices.storage_per_gb_month
    key = prices.kms_key_per_month if manages_key else 0.0
    return round(storage + key, 4)
