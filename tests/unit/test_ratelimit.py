"""The client-side rate limiter: token buckets (fake clock), rate specs, the bucket a request takes."""

from __future__ import annotations

import threading
import time

import pytest

from ecr_operator.core.ratelimit import DEFAULT_RATES, RateLimiter, TokenBucket, parse_rates


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_full_bucket_serves_its_capacity_at_once_then_one_token_per_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5, capacity=2, clock=clock, sleep=clock.sleep)
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.0]
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.2] * 5)
    assert clock.now == pytest.approx(101.0)


def test_tokens_refill_with_time_up_to_the_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    clock.now += 60  # idle for a minute: still only `capacity` tokens
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_reservations_queue_callers_in_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, capacity=1, clock=clock, sleep=clock.sleep)
    # Without sleeping in between (threads reserving at the same instant), each waits one interval longer.
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0.5, 1.0, 1.5])


def test_many_threads_never_exceed_the_rate() -> None:
    bucket = TokenBucket(rate=50, capacity=1)
    taken: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            bucket.acquire()
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 80 tokens at 50/s with a capacity of 1: at least (80 - 1) / 50 s.
    assert max(taken) - started >= (80 - 1) / 50 - 0.01
    # No one-second window holds more than rate + capacity tokens.
    taken.sort()
    assert max(sum(1 for t in taken if s <= t < s + 1) for s in taken) <= 51


def test_rate_specs() -> None:
    assert parse_rates("kms:CreateKey=5, ecr:*=20,tag:GetResources=2.5,") == {
        "kms:CreateKey": 5.0,
        "ecr:*": 20.0,
        "tag:GetResources": 2.5,
    }
    assert parse_rates("") == {}
    for bad in ("kms:CreateKey", "CreateKey=5", "kms:CreateKey=0", "kms:CreateKey=-1", "kms:CreateKey=x", ":*=1"):
        with pytest.raises(ValueError):
            parse_rates(bad)


def test_settings_override_and_scale_the_defaults() -> None:
    limiter = RateLimiter.from_settings("kms:CreateKey=8,ecr:*=10", scale=0.5)
    assert limiter is not None
    assert limiter.rates["kms:CreateKey"] == 4
    assert limiter.rates["ecr:*"] == 5
    assert limiter.rates["kms:DescribeKey"] == DEFAULT_RATES["kms:DescribeKey"] / 2
    assert RateLimiter.from_settings("off", scale=1) is None


def test_buckets_are_per_account_region_and_operation_class() -> None:
    limiter = RateLimiter({"kms:CreateKey": 5, "kms:*": 5, "ecr:*": 20})
    create = limiter.bucket("", "eu-west-1", "kms", "CreateKey")
    assert create is limiter.bucket("", "eu-west-1", "kms", "CreateKey")
    assert create is not limiter.bucket("222233334444", "eu-west-1", "kms", "CreateKey"), "per account"
    assert create is not limiter.bucket("", "us-east-1", "kms", "CreateKey"), "per region"
    # Operations without a rate of their own share the service's bucket.
    alias = limiter.bucket("", "eu-west-1", "kms", "CreateAlias")
    assert alias is limiter.bucket("", "eu-west-1", "kms", "EnableKey")
    assert alias is not create
    assert limiter.bucket("", "eu-west-1", "ecr", "CreateRepository") is limiter.bucket(
        "", "eu-west-1", "ecr", "TagResource"
    )
    assert limiter.bucket("", "eu-west-1", "sts", "AssumeRole") is None, "no rate: unlimited"


def test_every_default_rate_names_an_operation_the_operator_may_call() -> None:
    import botocore.session

    session = botocore.session.get_session()
    services = {"kms": "kms", "ecr": "ecr", "tag": "resourcegroupstaggingapi"}
    for key in DEFAULT_RATES:
        prefix, operation = key.split(":")
        if operation != "*":
            assert operation in session.get_service_model(services[prefix]).operation_names, key
