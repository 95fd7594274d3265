"""How a version is trained: the options a user may set, in one Struct.

`TrainingOptions` travels whole: the request bodies inherit it (so its fields are
top-level JSON fields of `POST /models/{name}`, `.../retrain` and `.../versions`),
the `ModelCreated` / `VersionRequested` events carry it as `training.options`, the
trainer hands it to `intentml.ml.train` unchanged, and the build's report records it.
A new option is a new field here (with a default, so older events still decode) and
the code in `intentml.ml` that uses it; nothing in between copies fields.
The constraints below are checked wherever the Struct is decoded: in request bodies
(a 400 naming the field) and in events read from the log.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: The seed of a build that names none: builds were always seeded, with this value.
DEFAULT_SEED = 7

MaxIterations = Annotated[
    int,
    msgspec.Meta(ge=1, le=50, description="Configurations the search may try (default 10)."),
]
TimeBudget = Annotated[
    float,
    msgspec.Meta(
        gt=0,
        le=86400,
        description="Seconds after which the search tries no further configurations.",
    ),
]
Seed = Annotated[
    int,
    # LightGBM takes a C int; the rest (numpy, Optuna) take any non-negative one.
    msgspec.Meta(
        ge=0,
        le=2**31 - 2,
        description=(
            "Seed of the split, the search and LightGBM: the same data and seed give the "
            "same model, byte for byte (default 7)."
        ),
    ),
]


class TrainingOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The user's say in how a version is trained; None: the platform decides."""

    #: The metric to report and select by (None: the task's default).
    metric: str | None = None
    #: binary, multiclass or regression (None: inferred from the target column).
    task: str | None = None
    #: Upper bound on the configurations a build may try (None: the trainer's default).
    max_iterations: MaxIterations | None = None
    #: Seconds after which the search starts no new configuration (None: no limit).
    time_budget_s: TimeBudget | None = None
    seed: Seed = DEFAULT_SEED


def options_of(source: TrainingOptions) -> TrainingOptions:
    """Just the options of a Struct that extends them (a request body), as a
    `TrainingOptions`: an event must carry exactly this type, not the body's."""
    if type(source) is TrainingOptions:
        return source
    return TrainingOptions(
        **{name: getattr(source, name) for name in TrainingOptions.__struct_fields__}
    )
