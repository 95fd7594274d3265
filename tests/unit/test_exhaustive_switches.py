"""mypy finds an event switch that misses a type, before anything runs.

The fold, the projection, the audit summaries and the deployer switch on the event
type with `match` statements whose last case is `assert_never`: once every type of
`EventData` has a case, the subject is narrowed to `Never` there; one missing leaves
that type, and `mypy --strict` (run by `make test`) reports the call. This test shows
it on the pattern itself, over the real union: the same switch with every case
passes, and without one case fails, naming the type that lacks it; the real switches
of the fold, the projection and the audit pass in the same run.
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from mypy import api

import intentml
from intentml.events.types import EventData

_TYPES = [t.__name__ for t in typing.get_args(EventData)]


def _switch(types: list[str]) -> str:
    """A module with one `match` over `EventData` that has a case for each of `types`."""
    cases = "".join(f"        case {name}():\n            return {name!r}\n" for name in types)
    return (
        "from typing import assert_never\n\n"
        f"from intentml.events.types import EventData, {', '.join(types)}\n\n\n"
        "def describe(data: EventData) -> str:\n"
        "    match data:\n"
        f"{cases}"
        "        case _:\n"
        "            assert_never(data)\n"
    )


def test_mypy_reports_an_event_switch_with_a_missing_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The installed package has no `py.typed`: mypy reads it as source, like `make test`.
    src = Path(intentml.__file__).parent.parent
    monkeypatch.setenv("MYPYPATH", f"{tmp_path}:{src}:{src.parent}")
    missing = "VersionReady"
    (tmp_path / "switch_complete.py").write_text(_switch(_TYPES))
    (tmp_path / "switch_incomplete.py").write_text(_switch([t for t in _TYPES if t != missing]))

    out, err, status = api.run(
        [
            "--strict",
            "--config-file=",  # the project's settings (`files`) must not widen the run
            "--follow-imports=silent",
            f"--cache-dir={tmp_path / '.mypy_cache'}",
            *("-m", "switch_complete"),
            *("-m", "switch_incomplete"),
            *("-m", "intentml.domain.fold"),
            *("-m", "intentml.domain.audit"),
            *("-m", "projections.rows"),
        ]
    )

    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    # Only the switch without a case for VersionReady fails, and mypy names the type.
    assert "checked 5 source files" in out
    assert len(errors) == 1, out
    assert errors[0].startswith(str(tmp_path / "switch_incomplete.py"))
    assert "assert_never" in errors[0] and f'"{missing}"' in errors[0]
