"""`intentml up` with `INTENTML_STORE_URL`: four real processes keep uploads and models
in a real S3-compatible server (SeaweedFS, started by the session), while the embedded
log keeps its own store, whatever the `AWS_*` variables of the user's store say."""

from __future__ import annotations

import obstore
from obstore.store import S3Store

from tests.data import NEGATIVE, POSITIVE, churn_rows, to_csv
from tests.e2e.platform import Platform
from tests.e2e.test_make_run import wait_ready


def test_up_keeps_uploads_and_models_in_the_object_store(
    platform: Platform, store_url: str
) -> None:
    platform.env["INTENTML_STORE_URL"] = store_url  # AWS_*: set by `store_url`
    platform.start()
    with platform.client() as c:
        up = c.post("/uploads", files={"file": ("churn.csv", to_csv(churn_rows()), "text/csv")})
        assert up.status_code == 201, up.text
        r = c.post(
            "/models/churn",
            json={"intent": "Predict customer churn", "upload_id": up.json()["upload_id"]},
        )
        assert r.status_code == 202, r.text
        assert wait_ready(c, "churn")["status"] == "READY"
        pos = c.post("/models/churn/v1/infer", json=POSITIVE).json()["result"]
        neg = c.post("/models/churn/v1/infer", json=NEGATIVE).json()["result"]
        assert neg["churned_probability"] < pos["churned_probability"]
    assert platform.stop() == 0

    bucket, prefix = store_url.removeprefix("s3://").split("/", 1)
    names = {m["path"] for chunk in obstore.list(S3Store(bucket), prefix) for m in chunk}
    keys = {n.removeprefix(prefix + "/") for n in names}
    assert sum(k.startswith("uploads/") and k.endswith("/data.csv") for k in keys) == 1, keys
    assert {k.rsplit("/", 1)[1] for k in keys if k.startswith("artifacts/")} >= {
        "model.txt",
        "meta.json",
    }, keys
    assert not (platform.data_dir / "artifacts").exists()
    assert not (platform.data_dir / "uploads").exists()
