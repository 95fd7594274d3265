"""`POST /models/{model_name}/plan`: what create would do with the same body (target,
task, metric, inputs, dropped columns, outputs, each with its reason, and the
alternatives weighed), answered from the upload's column profiles with nothing appended.

Every rule is asked of the module that decides it at create or build time
(`api.training`, `ml.target`, `ml.task`, `ml.features`, `ml.outputs`), so the plan
cannot drift from what a build does.
"""

from __future__ import annotations

from typing import Any

from intentml.api.platform import Platform
from intentml.api.schemas import (
    PlannedCandidate,
    PlannedChoice,
    PlannedDrop,
    PlannedInput,
    PlannedOutput,
    PlannedTarget,
    PlanOut,
)
from intentml.api.training import (
    TrainingAsk,
    checked_upload,
    choose_target,
    target_refusal,
    unfillable_outputs,
)
from intentml.domain.interpretation import Interpretation
from intentml.domain.schemas import field_names
from intentml.events.types import Column
from intentml.ml.errors import TrainingFailed
from intentml.ml.features import drop_reason, stats_from_profile
from intentml.ml.metrics import canonical_metric
from intentml.ml.outputs import plan_outputs
from intentml.ml.question import hint_for
from intentml.ml.target import TargetResolutionError
from intentml.ml.target.interpreter import InterpretedRefusal
from intentml.ml.target.resolve import MAX_CANDIDATES
from intentml.ml.task import TargetFacts, check_task, decide_task, metric_for
from projections.read_models.uploads import UploadRecord

#: Said of every plan: the leakage check needs a trained model.
_LEAKAGE_NOTE = (
    "the build also drops an input that looks like an identifier and predicts the target "
    "too well (leakage), which only training can show"
)


async def plan_model(
    platform: Platform,
    account_id: str,
    model_name: str,
    ask: TrainingAsk,
    problems: list[dict[str, Any]],
) -> PlanOut:
    """The plan for `ask`; `problems` are the refusals found before (a name in use).
    A 4xx only for what leaves nothing to plan: a bad field, an unknown upload."""
    upload = await checked_upload(platform, account_id, ask)
    said: Interpretation | None = None
    try:
        choice, said = await choose_target(platform, ask, upload)
    except TargetResolutionError as exc:
        if isinstance(exc, InterpretedRefusal):
            said = exc.interpretation
        refusal = target_refusal(exc, upload)
        problems.append({"field": "target", "message": refusal.message})
        return _plan(model_name, ask, upload, None, exc_candidates(exc), problems, said)
    problems.extend(unfillable_outputs(ask, upload.columns, choice.column))
    target = PlannedTarget(choice.column, choice.reason, choice.output_field)
    alternatives = [PlannedCandidate(c.column, c.score, c.evidence) for c in choice.candidates]
    return _plan(model_name, ask, upload, target, alternatives, problems, said)


def exc_candidates(exc: TargetResolutionError) -> list[PlannedCandidate]:
    """A refusal's ranked candidates as the plan lists them."""
    return [PlannedCandidate(c.column, c.score, c.evidence) for c in exc.ranked[:MAX_CANDIDATES]]


def _plan(
    model_name: str,
    ask: TrainingAsk,
    upload: UploadRecord,
    target: PlannedTarget | None,
    alternatives: list[PlannedCandidate],
    problems: list[dict[str, Any]],
    said: Interpretation | None,
) -> PlanOut:
    notes = [_LEAKAGE_NOTE]
    task = metric = None
    outputs: list[PlannedOutput] = []
    column = next((c for c in upload.columns if target and c.name == target.column), None)
    if column is not None:
        task, metric = _task_and_metric(ask, column, upload.rows, said, notes)
    if task is not None and column is not None:
        try:
            planned = plan_outputs(
                field_names(ask.output_schema),
                column.name,
                task.name,
                [c.name for c in upload.columns],
            )
            outputs = [PlannedOutput(f, k) for f, k in planned]
        except ValueError as exc:
            # Create refuses only fields no task could fill (listed in `problems`); one
            # that this task cannot fill fails the build.
            if not any(str(p["field"]).startswith("output_schema") for p in problems):
                notes.append(f"the build would fail: a {task.name} model cannot fill {exc}")
    inputs, dropped = _columns(upload, column.name if column else None)
    return PlanOut(
        model_name=model_name,
        dataset_id=upload.upload_id,
        would_create=not problems,
        problems=problems,
        target=target,
        alternatives=alternatives,
        task=task,
        metric=metric,
        inputs=inputs,
        dropped=dropped,
        outputs=outputs,
        notes=notes,
        interpretation=said,
    )


def _task_and_metric(
    ask: TrainingAsk,
    column: Column,
    rows: int,
    said: Interpretation | None,
    notes: list[str],
) -> tuple[PlannedChoice | None, PlannedChoice | None]:
    """The task and metric from the target's profile, as a build decides them."""
    profile = column.profile
    if profile is None:
        notes.append(
            f"'{column.name}' has no profile (an upload from before profiles): the build "
            "decides the task and metric from its values"
        )
        return None, None
    facts = TargetFacts(
        name=column.name,
        kind=column.type,
        n_distinct=profile.distinct,
        n_rows=rows - profile.missing,
        numeric=column.type in ("integer", "number"),
        integral=column.type in ("integer", "boolean"),
        only_value=repr(profile.top[0]) if profile.distinct == 1 and profile.top else None,
    )
    hint = hint_for(ask.intent, said)
    asked = ask.options.metric
    requested_metric = canonical_metric(asked) if asked and asked.strip() else None
    try:
        task, task_reason = decide_task(facts, check_task(ask.options.task), requested_metric, hint)
    except TrainingFailed as exc:
        notes.append(f"the build would fail: {exc.message}")
        return None, None
    chosen = metric_for(task, requested_metric, hint, None)
    return PlannedChoice(task, task_reason), PlannedChoice(chosen.name, chosen.reason)


def _columns(
    upload: UploadRecord, target: str | None
) -> tuple[list[PlannedInput], list[PlannedDrop]]:
    """The inputs and the dropped columns with reasons, by the build's drop rules."""
    inputs: list[PlannedInput] = []
    dropped: list[PlannedDrop] = []
    for column in upload.columns:
        if column.name == target:
            continue
        why = None
        if column.profile is not None:
            why = drop_reason(
                column.name, stats_from_profile(column.type, column.profile, upload.rows)
            )
        if why is None:
            inputs.append(PlannedInput(column.name, column.type))
        else:
            dropped.append(PlannedDrop(column.name, why))
    return inputs, dropped
