"""The audit timeline's entries and lines."""

from __future__ import annotations

from intentml.domain.audit import audit_entry, summarize, timeline_line
from intentml.domain.training_report import TrainingResult
from intentml.events.envelope import make_event
from intentml.events.types import BuildFailed, DeploymentRequested, ModelUpdated, VersionTrained


def test_summaries_say_what_happened_in_the_platforms_terms() -> None:
    trained = make_event(
        VersionTrained(
            job_id="j",
            version=2,
            artifact="a",
            result=TrainingResult(
                task="binary", metric_name="roc_auc", metric_value=0.91234, rows_used=240
            ),
        ),
        account_id="a",
        model_name="churn",
    )
    assert (
        summarize(trained)
        == "v2 trained (binary): roc_auc = 0.9123 on held-out rows, 240 rows used"
    )
    deploy = make_event(
        DeploymentRequested(model_id="m", deployment_id="dep_1", version=1, replicas=3),
        account_id="a",
    )
    assert summarize(deploy) == "deployment dep_1 of v1 requested (production, 3 replicas)"
    update = make_event(ModelUpdated(model_id="m", tags=["x"]), account_id="a")
    assert summarize(update) == "model updated: tags ['x']"


def test_a_rejected_event_says_why() -> None:
    env = make_event(
        BuildFailed(job_id="j", version=1, code="boom", message="no rows"),
        account_id="a",
        model_name="churn",
        actor="trainer",
    )
    entry = audit_entry(env, partition=1, offset=7, hash="h", accepted=False, reason="final")
    assert entry.model_version == "v1" and entry.reason == "final" and entry.actor == "trainer"
    line = timeline_line(entry)
    assert "BuildFailed" in line and "trainer" in line
    assert line.endswith("build of v1 failed (boom): no rows  [REJECTED: final]")
    accepted = audit_entry(env, partition=1, offset=7, hash="h", accepted=True, reason="x")
    assert accepted.reason is None and "REJECTED" not in timeline_line(accepted)
