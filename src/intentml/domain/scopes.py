"""Which scope a request needs: one rule over method and route, for every route.

The auth middleware asks `required_scope` for every authenticated request, so a
new route is covered the moment it exists: reads need `read_only`, anything else
`read_write`, key management `admin`. Only the exceptions are listed: the
prediction and dry-run (plan) routes are POSTs that change nothing, so `read_only` may
call them.
"""

from __future__ import annotations

from intentml.domain.keys import ADMIN, READ_ONLY, READ_WRITE, SCOPES, Scope

#: Methods that never change anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: POST routes (Litestar path formats) that only compute a prediction: inference.
PREDICTION_ROUTES = frozenset(
    {
        "/models/{model_name}/{model_version}/infer",
        "/models/{model_name}/{model_version}/predictions",
        "/predict/{deployment_id}",
    }
)


#: POST routes that only answer what a command would do (a dry run): nothing is appended.
DRY_RUN_ROUTES = frozenset({"/models/{model_name}/plan"})
#: POST routes that change nothing.
_POSTS_THAT_CHANGE_NOTHING = PREDICTION_ROUTES | DRY_RUN_ROUTES


def is_command(method: str, route: str) -> bool:
    """Whether `method` on `route` (a path format) may change something: every method but
    the safe ones, except the prediction and dry-run routes. Commands take an
    `Idempotency-Key`."""
    return method not in SAFE_METHODS and route not in _POSTS_THAT_CHANGE_NOTHING


#: Routes under this prefix manage the account's keys: admin only, reads included
#: (a key's name and scope tell an attacker which key to steal).
KEY_MANAGEMENT_PREFIX = "/auth"


def required_scope(method: str, route: str) -> Scope:
    """The weakest scope that may call `method` on `route` (a path format, not a URL)."""
    if route == KEY_MANAGEMENT_PREFIX or route.startswith(KEY_MANAGEMENT_PREFIX + "/"):
        return ADMIN
    if method.upper() in SAFE_METHODS:
        return READ_ONLY
    if method.upper() == "POST" and route in _POSTS_THAT_CHANGE_NOTHING:
        return READ_ONLY
    return READ_WRITE


def permits(scope: str, required: Scope) -> bool:
    """Whether a key of `scope` may do what needs `required` (an unknown scope may not)."""
    if scope not in SCOPES:
        return False
    return SCOPES.index(scope) >= SCOPES.index(required)
