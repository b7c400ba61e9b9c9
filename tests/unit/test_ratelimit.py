"""The client-side rate limiter: the bucket table, AIMD adaptation (fake clock), rate specs, the bucket a request
takes, and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ecr_operator.core import ratelimit
from ecr_operator.core.ratelimit import (
    BETA,
    DEFAULT_RATES,
    FLOOR,
    RECOVERY_SECONDS,
    UNLIMITED_ABOVE,
    AdaptiveBucket,
    RateLimiter,
    parse_rates,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(ceiling: float | None, clock: FakeClock, burst_seconds: float = 0.5) -> AdaptiveBucket:
    return AdaptiveBucket(ceiling, clock, clock.sleep, burst_seconds)


# -- a published quota: held -------------------------------------------------------------------------------------


def test_a_full_bucket_serves_its_capacity_at_once_then_one_token_per_interval() -> None:
    clock = FakeClock()
    quota = bucket(5, clock, burst_seconds=0.4)  # capacity 2
    assert [quota.acquire() for _ in range(2)] == [0.0, 0.0]
    waits = [quota.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.2] * 5)
    assert clock.now == pytest.approx(101.0)


def test_tokens_refill_with_time_up_to_the_capacity() -> None:
    clock = FakeClock()
    quota = bucket(10, clock, burst_seconds=0.3)  # capacity 3
    for _ in range(3):
        quota.acquire()
    clock.now += 60  # idle for a minute: still only `capacity` tokens
    assert [quota.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_reservations_queue_callers_in_order() -> None:
    clock = FakeClock()
    quota = bucket(2, clock)  # capacity 1
    # Without sleeping in between (threads reserving at the same instant), each waits one interval longer.
    assert [quota.reserve() for _ in range(4)] == pytest.approx([0, 0.5, 1.0, 1.5])


def test_a_throttled_quota_is_cut_below_it_and_recovers_to_it_never_above() -> None:
    clock = FakeClock()
    quota = bucket(10, clock)
    assert quota.throttled(clock.now)
    assert quota.rate() == pytest.approx(10 * BETA)
    clock.now += RECOVERY_SECONDS / 2
    assert quota.rate() == pytest.approx(10 * BETA + (10 - 10 * BETA) / 2), "linear (additive) recovery"
    clock.now += RECOVERY_SECONDS / 2
    assert quota.rate() == 10
    clock.now += 10 * RECOVERY_SECONDS
    assert quota.rate() == 10, "the published quota is the ceiling"


def test_background_callers_take_only_a_token_available_now_and_interactive_ones_go_first() -> None:
    clock = FakeClock()
    quota = bucket(2, clock)  # capacity 1
    assert quota.reserve(yielding=True) == 0.0, "a token is there: background takes it"
    assert quota.reserve(yielding=True) is None, "none now: background does not queue"
    assert quota.reserve() == pytest.approx(0.5), "an interactive caller queues for the next one"
    clock.now += 0.5
    assert quota.reserve(yielding=True) is None, "that token is the interactive caller's"
    clock.now += 0.5
    assert quota.reserve(yielding=True) == 0.0


def test_a_yielding_acquire_waits_until_a_token_is_free() -> None:
    clock = FakeClock()
    quota = bucket(4, clock)  # capacity 2
    quota.reserve()
    quota.reserve()
    waited = quota.acquire(yielding=True)
    assert waited == pytest.approx(0.25)
    assert clock.slept == pytest.approx([0.25])


def test_yielding_never_waits_on_an_unlimited_bucket() -> None:
    clock = FakeClock()
    adaptive = bucket(None, clock)
    assert [adaptive.acquire(yielding=True) for _ in range(100)] == [0.0] * 100


# -- no published quota: adaptive --------------------------------------------------------------------------------


def test_an_adaptive_bucket_is_unlimited_until_aws_throttles() -> None:
    clock = FakeClock()
    adaptive = bucket(None, clock)
    assert adaptive.rate() is None
    assert sum(adaptive.reserve() for _ in range(10_000)) == 0


def test_the_first_throttle_cuts_to_beta_times_the_rate_that_was_sent() -> None:
    clock = FakeClock()
    adaptive = bucket(None, clock)
    for _ in range(200):  # 50 requests a second for 4 s
        adaptive.reserve()
        clock.now += 0.02
    assert adaptive.throttled(clock.now - 0.01)
    assert adaptive.rate() == pytest.approx(50 * BETA, rel=0.03)
    waits = [adaptive.reserve() for _ in range(4)]
    assert waits[-1] == pytest.approx(4 / (50 * BETA), rel=0.05), "now paced at the cut rate"


def test_throttles_of_requests_sent_before_a_cut_do_not_cut_again() -> None:
    clock = FakeClock()
    adaptive = bucket(20, clock)
    sent = [clock.now + i * 0.01 for i in range(8)]  # eight requests in flight when the first throttle comes back
    clock.now += 0.1
    assert adaptive.throttled(sent[0])
    assert [adaptive.throttled(at) for at in sent[1:]] == [False] * 7
    assert adaptive.rate() == pytest.approx(20 * BETA)
    clock.now += 0.5
    assert adaptive.throttled(clock.now - 0.1), "a request sent after the cut was throttled: cut again"
    assert adaptive.cuts == 2
    assert adaptive.rate() < 20 * BETA * BETA * 1.1


def test_recovery_is_linear_to_the_throttled_rate_then_probes_until_unlimited_again() -> None:
    clock = FakeClock()
    adaptive = bucket(None, clock)
    for _ in range(40):
        adaptive.reserve()
        clock.now += 0.025  # 40/s
    adaptive.throttled(clock.now)
    cut = adaptive.rate()
    assert cut == pytest.approx(40 * BETA, rel=0.05)
    rates = []
    for _ in range(4):
        clock.now += RECOVERY_SECONDS / 4
        rates.append(adaptive.rate())
    steps = [b - a for a, b in zip([cut, *rates], rates, strict=False)]  # type: ignore[operator]
    assert steps == pytest.approx([steps[0]] * 4), "additive: equal steps"
    assert rates[-1] == pytest.approx(40, rel=0.05)
    clock.now += RECOVERY_SECONDS
    assert adaptive.rate() == pytest.approx(80, rel=0.05), "then doubling every RECOVERY_SECONDS"
    clock.now += RECOVERY_SECONDS * (1 + int(UNLIMITED_ABOVE / 40).bit_length())
    assert adaptive.rate() is None


def test_a_cut_never_goes_below_the_floor() -> None:
    clock = FakeClock()
    adaptive = bucket(1, clock)
    for _ in range(20):
        adaptive.throttled(clock.now)
        clock.now += 0.01
    assert adaptive.rate() == pytest.approx(FLOOR, rel=0.1)


def _simulate(limit: float, seconds: float, senders_latency: float = 0.004) -> tuple[int, int]:
    """A client sending as fast as its bucket lets it against AWS's side of a quota of ``limit``/s (a bucket
    holding one second, answering ThrottlingException when empty). Returns (served, throttled)."""
    clock = FakeClock()
    client = bucket(None, clock)
    aws_tokens, aws_updated = limit, clock.now
    served = throttled = 0
    end = clock.now + seconds
    while clock.now < end:
        client.acquire()
        sent = clock.now
        clock.now += senders_latency
        aws_tokens = min(limit, aws_tokens + (clock.now - aws_updated) * limit)
        aws_updated = clock.now
        if aws_tokens >= 1:
            aws_tokens -= 1
            served += 1
        else:
            throttled += 1
            client.throttled(sent)
    return served, throttled


@pytest.mark.parametrize("limit", [5.0, 20.0, 100.0])
def test_against_an_unpublished_quota_the_adaptive_bucket_converges_without_a_storm(limit: float) -> None:
    seconds = 300.0
    served, throttled = _simulate(limit, seconds)
    assert served >= 0.7 * limit * seconds, "most of the quota is used"
    assert served <= limit * seconds + limit
    # A few throttles to find the rate, then about one per sawtooth (RECOVERY_SECONDS and a bit).
    assert throttled <= 10 + seconds / RECOVERY_SECONDS
    assert throttled / (served + throttled) < 0.03


# -- the table, specs and buckets ---------------------------------------------------------------------------------


def test_rate_specs() -> None:
    assert parse_rates("kms:CreateKey=5, ecr:*=20,tag:GetResources=2.5,ecr:CreateRepository=Adaptive,") == {
        "kms:CreateKey": 5.0,
        "ecr:*": 20.0,
        "tag:GetResources": 2.5,
        "ecr:CreateRepository": None,
    }
    assert parse_rates("") == {}
    for bad in (
        "kms:CreateKey",
        "CreateKey=5",
        "kms:CreateKey=0",
        "kms:CreateKey=-1",
        "kms:CreateKey=x",
        ":*=1",
        "ecr:*=inf",
        "ecr:*=nan",
    ):
        with pytest.raises(ValueError):
            parse_rates(bad)


def test_settings_override_and_scale_the_published_rates_and_leave_adaptive_ones_adaptive() -> None:
    limiter = RateLimiter.from_settings("kms:CreateKey=8,ecr:*=10", scale=0.5)
    assert limiter is not None
    assert limiter.rates["kms:CreateKey"] == 4
    assert limiter.rates["ecr:*"] == 5
    assert limiter.rates["kms:DescribeKey"] == DEFAULT_RATES["kms:DescribeKey"] / 2  # type: ignore[operator]
    assert limiter.rates["tag:*"] is None
    assert RateLimiter.from_settings("off", scale=1) is None
    defaults = RateLimiter.from_settings("", scale=1)
    assert defaults is not None and dict(defaults.rates) == DEFAULT_RATES


def test_buckets_are_per_account_region_and_operation() -> None:
    limiter = RateLimiter({"kms:CreateKey": 5, "kms:*": None, "ecr:*": 20})
    create = limiter.bucket("", "eu-west-1", "kms", "CreateKey")
    assert create is not None and create.ceiling == 5
    assert create is limiter.bucket("", "eu-west-1", "kms", "CreateKey")
    assert create is not limiter.bucket("222233334444", "eu-west-1", "kms", "CreateKey"), "per account"
    assert create is not limiter.bucket("", "us-east-1", "kms", "CreateKey"), "per region"
    # Operations without an entry of their own get their own bucket with the service's entry as ceiling: AWS
    # throttles each API on its own.
    alias = limiter.bucket("", "eu-west-1", "kms", "CreateAlias")
    assert alias is not None and alias.ceiling is None
    assert alias is not limiter.bucket("", "eu-west-1", "kms", "EnableKey")
    create_repository = limiter.bucket("", "eu-west-1", "ecr", "CreateRepository")
    assert create_repository is not None and create_repository.ceiling == 20
    assert create_repository is not limiter.bucket("", "eu-west-1", "ecr", "TagResource")
    assert limiter.bucket("", "eu-west-1", "sts", "AssumeRole") is None, "no entry: no bucket"


def test_a_throttle_of_one_operation_leaves_the_others_alone() -> None:
    clock = FakeClock()
    limiter = RateLimiter(DEFAULT_RATES, clock=clock, sleep=clock.sleep)
    lifecycle = limiter.bucket("", "eu-west-1", "ecr", "GetLifecyclePolicy")
    tags = limiter.bucket("", "eu-west-1", "ecr", "ListTagsForResource")
    other_account = limiter.bucket("111122223333", "eu-west-1", "ecr", "GetLifecyclePolicy")
    assert lifecycle is not None and tags is not None and other_account is not None
    lifecycle.reserve()
    lifecycle.throttled(clock.now)
    assert lifecycle.rate() is not None
    assert tags.rate() is None
    assert other_account.rate() is None


def test_every_default_rate_names_an_operation_the_operator_may_call() -> None:
    import botocore.session

    session = botocore.session.get_session()
    services = {"kms": "kms", "ecr": "ecr", "tag": "resourcegroupstaggingapi"}
    for key in DEFAULT_RATES:
        prefix, operation = key.split(":")
        if operation != "*":
            assert operation in session.get_service_model(services[prefix]).operation_names, key


def test_published_quotas_are_held_and_the_rest_adapts() -> None:
    """AWS KMS Developer Guide, *Request quotas*; Amazon ECR User Guide, *Amazon ECR service quotas* (the figures
    checked when the table was last corrected); every other operation of those services and the tagging API
    has no published rate."""
    published = {
        "kms:CreateKey": 5,
        "kms:CreateAlias": 5,
        "kms:DeleteAlias": 15,
        "kms:ScheduleKeyDeletion": 15,
        "kms:CancelKeyDeletion": 5,
        "kms:EnableKey": 5,
        "kms:EnableKeyRotation": 15,
        "kms:DisableKeyRotation": 5,
        "kms:TagResource": 10,
        "kms:UntagResource": 5,
        "kms:DescribeKey": 2000,
        "kms:GetKeyRotationStatus": 1000,
        "kms:ListResourceTags": 2000,
        "kms:ListKeys": 500,
        "ecr:BatchCheckLayerAvailability": 1000,
        "ecr:BatchGetImage": 2000,
        "ecr:CompleteLayerUpload": 100,
        "ecr:GetAuthorizationToken": 500,
        "ecr:GetDownloadUrlForLayer": 3000,
        "ecr:InitiateLayerUpload": 100,
        "ecr:PutImage": 10,
        "ecr:UploadLayerPart": 500,
    }
    assert {key: rate for key, rate in DEFAULT_RATES.items() if rate is not None} == published
    assert {key for key, rate in DEFAULT_RATES.items() if rate is None} == {"kms:*", "ecr:*", "tag:*"}


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_rates() -> dict[str, float | None]:
    """The rows of the README's *AWS API quotas* table: `service:Operation` (with any note after it) -> rate."""
    text = README.read_text()
    table = text[text.index("| operation | rate (requests/s) | source |") :].split("\n\n", 1)[0]
    rates: dict[str, float | None] = {}
    for row in table.splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        found = re.match(r"^`([a-z]+:[A-Za-z*]+)`", cells[0])
        assert found, row
        rates[found.group(1)] = None if cells[1] == ratelimit.ADAPTIVE else float(cells[1])
    return rates


def test_the_readme_quota_table_is_the_limiters_table() -> None:
    assert _readme_rates() == DEFAULT_RATES
