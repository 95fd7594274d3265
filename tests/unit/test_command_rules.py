"""One place for each rule of a command: rate limits, key issuance, the kinds of the fold's
rejections (409 or 422 at the API), and the CLI's self-registered subcommands."""

from __future__ import annotations

import argparse

import msgspec
import pytest

from intentml.api.platform import REFUSAL_STATUS
from intentml.cli import accounts
from intentml.cli.main import build_parser
from intentml.cli.registry import command_of
from intentml.domain.fold import CONFLICT, INVALID, StreamState, decide, name_in_use
from intentml.domain.keys import hash_key, key_id_for, new_key
from intentml.domain.ratelimit import (
    BAD_LIMITS,
    MAX_PER_MINUTE,
    MIN_PER_MINUTE,
    PerMinute,
    valid_limits,
    valid_per_minute,
)
from intentml.events.envelope import make_event
from intentml.events.types import RateLimits
from tests.unit.test_fold import created, ev


def test_a_limit_is_at_least_one_request_per_minute_or_none() -> None:
    assert valid_per_minute(None) and valid_per_minute(MIN_PER_MINUTE)
    assert not valid_per_minute(0) and not valid_per_minute(-1)
    assert valid_limits(None) and valid_limits(RateLimits())
    assert valid_limits(RateLimits(management_per_minute=1, inference_per_minute=None))
    assert not valid_limits(RateLimits(inference_per_minute=0))
    assert BAD_LIMITS == "a rate limit is at least 1 request per minute, or none"


def test_the_api_type_of_a_limit_keeps_the_same_rule() -> None:
    assert msgspec.convert(MIN_PER_MINUTE, PerMinute) == MIN_PER_MINUTE  # type: ignore[arg-type]
    for bad in (MIN_PER_MINUTE - 1, MAX_PER_MINUTE + 1):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, PerMinute)  # type: ignore[arg-type]


def test_the_cli_takes_limits_by_the_same_rule() -> None:
    assert accounts._limit_arg("none") is None
    assert accounts._limit_arg("1") == 1
    for bad in ("0", "-5", "lots"):
        with pytest.raises(argparse.ArgumentTypeError):
            accounts._limit_arg(bad)


def test_a_new_key_carries_its_hash_and_derived_id_never_its_secret() -> None:
    key = new_key("admin", "ops", "key_admin", RateLimits(inference_per_minute=5))
    assert key.secret.startswith("iml_sk_")
    assert key.issued.key_hash == hash_key(key.secret)
    assert key.key_id == key.issued.key_id == key_id_for(key.issued.key_hash)
    assert key.issued.rate_limits == RateLimits(inference_per_minute=5)
    assert key.secret.encode() not in msgspec.json.encode(key.issued)
    chosen = new_key("admin", "bootstrap", "intentml-bootstrap", secret="iml_sk_chosen")
    assert chosen.secret == "iml_sk_chosen" and chosen.issued.key_hash == hash_key("iml_sk_chosen")
    verdict = decide(StreamState(), make_event(key.issued, account_id="acme", actor="a"))
    assert verdict.accepted and verdict.kind is None


def test_rejections_say_which_kind_of_rule_was_broken() -> None:
    model = decide(StreamState(), ev(created()))
    again = decide(model.state, ev(created("m2", "j2")))
    assert not again.accepted and again.kind == CONFLICT
    assert again.reason == "a model named 'churn' already exists; pick another name or retrain it"
    for bad in (
        new_key("root", "x", "a").issued,
        new_key("admin", "x", "a", RateLimits(management_per_minute=0)).issued,
    ):
        verdict = decide(StreamState(), make_event(bad, account_id="acme", actor="a"))
        assert not verdict.accepted and verdict.kind == INVALID, verdict
    assert REFUSAL_STATUS == {CONFLICT: 409, INVALID: 422}


def test_the_name_rule_the_api_asks_early_is_the_folds_own() -> None:
    assert name_in_use(StreamState(), "churn") is None
    model = decide(StreamState(), ev(created()))
    taken = name_in_use(model.state, "churn")
    again = decide(model.state, ev(created("m2", "j2")))
    assert taken is not None and (taken.accepted, taken.reason, taken.kind) == (
        again.accepted,
        again.reason,
        again.kind,
    )


def test_every_subcommand_registers_its_own_handler() -> None:
    parser = build_parser()
    roles = ("up", "api", "projector", "trainer", "deployer")
    for argv in (
        *([r] for r in roles),
        ["accounts", "create", "acme"],
        ["keys", "create", "--account", "acme", "--scope", "admin"],
        ["audit", "churn"],
        ["events", "export"],
        ["events", "verify", "--file", "x.jsonl"],
        ["events", "contract"],
        ["replay"],
    ):
        args = parser.parse_args(argv)
        command = command_of(args)
        assert command.role == (argv[0] in roles), argv
        needs = argv[0] != "up" and argv[-1] not in ("x.jsonl", "contract")
        assert command.needs_services(args) == needs, argv
