"""The real thing: `intentml up` (what `make run` runs) as a user starts it.

Embedded PostgreSQL and broker, four real processes, HTTP over a real socket.
Then a restart with the same data dir: everything is still there.
"""

from __future__ import annotations

import time

import httpx

from tests.data import NEGATIVE, POSITIVE, churn_rows, to_csv
from tests.e2e.platform import Platform


def wait_ready(client: httpx.Client, model: str, timeout_s: float = 90.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, object] = client.get(f"/models/{model}/v1/status").json()
        if body["status"] in ("READY", "ERROR"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)  # a client polling a documented status endpoint


def test_upload_create_train_infer_then_restart(platform: Platform) -> None:
    platform.start()
    assert platform.key.startswith("iml_sk_")
    assert (platform.data_dir / "api-key").read_text().strip() == platform.key
    with platform.client() as c:
        assert c.get("/health").json()["status"] == "ok"
        assert c.get("/models", headers={"Authorization": ""}).status_code == 401

        up = c.post("/uploads", files={"file": ("churn.csv", to_csv(churn_rows()), "text/csv")})
        assert up.status_code == 201, up.text
        upload_id = up.json()["upload_id"]
        assert up.json()["rows"] == 600

        created = c.post(
            "/models/churn",
            json={
                "intent": "Predict customer churn based on usage patterns",
                "upload_id": upload_id,
            },
        )
        assert created.status_code == 202, created.text
        assert created.json()["model_version"] == "v1"
        assert created.json()["status"] == "PENDING"
        assert (
            c.post("/models/churn", json={"intent": "again", "upload_id": upload_id}).status_code
            == 409
        )

        status = wait_ready(c, "churn")
        assert status["status"] == "READY", status
        assert status["build_progress"] == 100

        pos = c.post("/models/churn/v1/infer", json=POSITIVE)
        neg = c.post("/models/churn/1/infer", json=NEGATIVE)
        assert pos.status_code == 200, pos.text
        p_pos = pos.json()["result"]["churned_probability"]
        p_neg = neg.json()["result"]["churned_probability"]
        assert 0.0 <= p_neg < p_pos <= 1.0
    assert platform.stop() == 0

    platform.start()
    with platform.client() as c:
        models = c.get("/models").json()["models"]
        assert [m["model_name"] for m in models] == ["churn"]
        assert models[0]["status"] == "READY"
        again = c.post("/models/churn/v1.0/infer", json=POSITIVE)
        assert again.status_code == 200, again.text
        assert again.json()["result"]["churned_probability"] == p_pos
        # the log survived the restart: new commands still chain and project
        up = c.post("/uploads", files={"file": ("more.csv", to_csv(churn_rows(50)), "text/csv")})
        assert up.status_code == 201, up.text

        # An operator replaces the bootstrap key: the next start must not print it as usable.
        issued = c.post("/auth/api-keys", json={"name": "ops", "scope": "admin"})
        assert issued.status_code == 201, issued.text
        keys = c.get("/auth/api-keys").json()["api_keys"]
        (bootstrap_id,) = [k["key_id"] for k in keys if k["name"] == "bootstrap"]
        ops = {"Authorization": f"Bearer {issued.json()['key']}"}
        revoked = c.delete(f"/auth/api-keys/{bootstrap_id}", headers=ops)
        assert revoked.status_code == 200, revoked.text
    assert platform.stop() == 0

    platform.start()
    assert platform.key == ""
    assert f"The bootstrap admin key {bootstrap_id} was revoked" in platform.key_line
    assert "intentml keys create" in platform.key_line
    with platform.client() as c:
        assert c.get("/models", headers=ops).status_code == 200
    assert platform.stop() == 0
