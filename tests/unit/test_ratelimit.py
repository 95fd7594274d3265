"""Token buckets (pure) and one process's limiter, on an injected clock."""

from __future__ import annotations

import pytest

from intentml.api.ratelimit import RateLimiter
from intentml.config import Settings
from intentml.domain.ratelimit import (
    INFERENCE,
    MANAGEMENT,
    Bucket,
    full,
    limit_for,
    refill,
    request_kind,
    rescale,
    retry_after_header,
    settle,
    take,
)
from intentml.events.types import RateLimits

T0 = 1_800_000_000.0


def spend(bucket: Bucket, per_minute: int, now: float, n: int) -> tuple[Bucket, list[float]]:
    """`n` requests at `now`; the bucket after them and each one's retry_after."""
    verdicts = []
    for _ in range(n):
        taken = take(bucket, per_minute, now)
        bucket = taken.bucket
        verdicts.append(taken.retry_after)
    return bucket, verdicts


def test_a_full_minute_may_come_in_one_burst_and_then_the_bucket_is_empty() -> None:
    bucket, verdicts = spend(full(600, T0), 600, T0, 601)
    assert verdicts[:600] == [0.0] * 600
    # the 601st waits for one token: a tenth of a second at 10 tokens per second
    assert verdicts[600] == pytest.approx(0.1)
    assert bucket.tokens == pytest.approx(0.0)


def test_it_recovers_at_the_rate_and_never_beyond_a_minutes_worth() -> None:
    bucket, _ = spend(full(3, T0), 3, T0, 3)
    refused = take(bucket, 3, T0 + 19.9)
    assert refused.retry_after == pytest.approx(0.1)
    allowed = take(bucket, 3, T0 + 20.0)
    assert allowed.retry_after == 0.0
    assert take(allowed.bucket, 3, T0 + 20.0).retry_after == pytest.approx(20.0)
    # an hour idle refills to the limit, not to 180
    assert refill(bucket, 3, T0 + 3600).tokens == 3.0


def test_a_clock_behind_the_bucket_refills_nothing() -> None:
    bucket = Bucket(0.5, T0)
    assert refill(bucket, 60, T0 - 30) == bucket
    assert take(bucket, 60, T0 - 30).retry_after == pytest.approx(0.5)


def test_a_debt_is_repaid_before_anything_more_is_served() -> None:
    owed = Bucket(-2.0, T0)  # two requests more than the limit were served elsewhere
    assert take(owed, 60, T0 + 2.5).retry_after == pytest.approx(0.5)
    assert take(owed, 60, T0 + 3.0).retry_after == 0.0


def test_settle_adopts_the_shared_balance_less_what_was_spent_meanwhile() -> None:
    assert settle(Bucket(5.0, T0 + 1), 2) == Bucket(3.0, T0 + 1)


def test_a_changed_limit_keeps_what_was_spent() -> None:
    spent_two = Bucket(1.0, T0)  # of 3
    assert rescale(spent_two, 3, 600).tokens == 598.0
    assert rescale(Bucket(600.0, T0), 600, 3).tokens == 3.0
    assert rescale(Bucket(590.0, T0), 600, 3).tokens == -7.0


def test_predictions_are_inference_and_everything_else_management() -> None:
    assert request_kind("/models/{model_name}/{model_version}/infer") == INFERENCE
    assert request_kind("/models/{model_name}/{model_version}/predictions") == INFERENCE
    assert request_kind("/predict/{deployment_id}") == INFERENCE
    assert request_kind("/models/{model_name}") == MANAGEMENT
    assert request_kind("/auth/api-keys") == MANAGEMENT
    limits = RateLimits(management_per_minute=5, inference_per_minute=None)
    assert limit_for(limits, MANAGEMENT) == 5 and limit_for(limits, INFERENCE) is None


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(20.0) == "20"
    assert retry_after_header(20.2) == "21"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_trips_and_recovers_per_key_and_kind() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.check("k1", MANAGEMENT, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("k1", MANAGEMENT, 3) == pytest.approx(20.0)
    # other buckets are untouched: the same key's inference, another key
    assert limiter.check("k1", INFERENCE, 3) == 0.0
    assert limiter.check("k2", MANAGEMENT, 3) == 0.0
    clock.now += 20.0
    assert limiter.check("k1", MANAGEMENT, 3) == 0.0
    assert limiter.check("k1", MANAGEMENT, 3) > 0.0


def test_no_limit_counts_nothing_and_a_raised_limit_helps_at_once() -> None:
    limiter = RateLimiter(Clock())
    assert all(limiter.check("k", INFERENCE, None) == 0.0 for _ in range(10_000))
    for _ in range(3):
        limiter.check("k", MANAGEMENT, 3)
    assert limiter.check("k", MANAGEMENT, 3) > 0.0
    assert limiter.check("k", MANAGEMENT, 600) == 0.0


def test_limits_come_from_the_environment() -> None:
    s = Settings.from_env(
        {"INTENTML_RATE_LIMIT_MANAGEMENT": "none", "INTENTML_RATE_LIMIT_INFERENCE": "120"}
    )
    assert s.default_rate_limits == RateLimits(management_per_minute=None, inference_per_minute=120)
    defaults = Settings.from_env({}).default_rate_limits
    assert defaults == RateLimits(management_per_minute=600, inference_per_minute=6000)
    with pytest.raises(ValueError):
        Settings.from_env({"INTENTML_RATE_LIMIT_INFERENCE": "-5"})


def test_a_look_takes_nothing_and_a_charge_may_go_into_debt() -> None:
    """A request whose body is still arriving is only looked at, then charged when
    answered; the charge counts even if the bucket ran dry meanwhile."""
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.check("k", MANAGEMENT, 2, take_it=False) for _ in range(10)] == [0.0] * 10
    limiter.charge("k", MANAGEMENT, 2)
    limiter.charge("k", MANAGEMENT, 2)
    limiter.charge("k", MANAGEMENT, 2)  # a third, served while the others were looked at
    assert limiter.check("k", MANAGEMENT, 2, take_it=False) == pytest.approx(60.0)
    clock.now += 60.0  # the debt of one is repaid first: one token back after a minute
    assert limiter.check("k", MANAGEMENT, 2) == 0.0
    assert limiter.check("k", MANAGEMENT, 2) > 0.0
    limiter.charge("k", INFERENCE, None)  # no limit: nothing counted
    assert limiter.check("k", INFERENCE, 1) == 0.0
