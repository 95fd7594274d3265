"""The real thing: `intentml up` (what `make run` runs) as a user starts it.

Embedded PostgreSQL and broker, four real processes, HTTP over a real socket.
Then a restart with the same data dir: everything is still there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from intentml.infra.embedded import free_port
from tests.data import NEGATIVE, POSITIVE, churn_rows, to_csv


class Platform:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.key = ""
        self.output: list[str] = []

    def start(self, timeout_s: float = 120.0) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "INTENTML_API_KEY")
        }
        env.update(INTENTML_DATA_DIR=str(self.data_dir), PORT=str(self.port), LOG_LEVEL="WARNING")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intentml.cli.main", "up"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        for line in self.proc.stdout:  # blocks on the process's own output, no polling
            self.output.append(line)
            if line.startswith("API key"):
                self.key = line.rsplit(" ", 1)[-1].strip()
                return
            if line.startswith("The bootstrap admin key"):  # revoked: no key to show
                self.key = ""
                return
            assert time.monotonic() < deadline, "".join(self.output)
        raise AssertionError("intentml up exited:\n" + "".join(self.output))

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        return code

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            timeout=30.0,
            headers={"Authorization": f"Bearer {self.key}"},
        )


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path / "data", free_port())
    yield p
    if p.proc and p.proc.poll() is None:
        p.proc.kill()
        p.proc.wait()


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
    assert f"The bootstrap admin key {bootstrap_id} was revoked" in platform.output[-1]
    assert "intentml keys create" in platform.output[-1]
    with platform.client() as c:
        assert c.get("/models", headers=ops).status_code == 200
    assert platform.stop() == 0
