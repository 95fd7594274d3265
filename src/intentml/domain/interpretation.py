"""What an LLM interpreter said about a request, as recorded in its event.

The interpreter (optional, `INTENTML_LLM_*`) is asked once, when the command is
accepted; its answer travels in `TrainingRequest.interpretation`, so the trainer, a
replay and an auditor read what it said then and never ask it again.
"""

from __future__ import annotations

from typing import Literal

import msgspec

#: answered: a valid answer (its target is a column of the table);
#: invalid: an answer that did not fit the schema or named no column;
#: timeout / error: no answer in time, or the endpoint failed.
LlmOutcome = Literal["answered", "invalid", "timeout", "error"]


class LlmAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The structured answer the interpreter must give (its JSON schema is built from
    this Struct and the table's columns)."""

    #: The column to predict: one of the table's columns.
    target: str
    #: binary, multiclass or regression (None: let the data decide).
    task: str | None = None
    #: One of the platform's metrics (None: the task's default).
    metric: str | None = None
    #: Why, in a sentence or two: quoted in the target's reason and the build log.
    reasons: str = ""


class Interpretation(msgspec.Struct, frozen=True, kw_only=True):
    """One call to the interpreter: who answered, to what, and what came of it."""

    #: The model named by `INTENTML_LLM_MODEL`.
    model: str
    #: SHA-256 of the exact request body sent (the prompt, columns and samples).
    prompt_sha256: str
    outcome: LlmOutcome
    #: The validated answer (None unless `outcome` is answered).
    answer: LlmAnswer | None = None
    #: What went wrong, or how the answer was used, in words for the build log.
    detail: str = ""
    #: Seconds the call took.
    elapsed_s: float = 0.0
