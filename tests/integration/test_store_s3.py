"""The S3 path end to end, against a real S3-compatible server (SeaweedFS, started by
the session): an upload lands in the bucket, the trainer (on a disk of its own) reads
it from there and stores the artifact there, the deployer (another disk) checks it from
there, and a second API process with an empty data dir serves the model from the store.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import obstore
from obstore.store import S3Store

from intentml.config import Settings
from tests.data import CHURN_INTENT, NEGATIVE, POSITIVE, churn_rows
from tests.integration.test_deployments_api import wait_deployments
from tests.stack import api_server, platform_stack


def bucket_objects(store_url: str) -> set[str]:
    """The objects under the store URL's prefix, listed from the bucket itself (through
    the library, with the same AWS_* variables), relative to that prefix."""
    bucket, prefix = store_url.removeprefix("s3://").split("/", 1)
    listed = obstore.list(S3Store(bucket), prefix)
    return {m["path"].removeprefix(prefix + "/") for chunk in listed for m in chunk}


def files_under(root: Path) -> set[str]:
    """Every file under `root`, relative to it."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


async def test_upload_build_and_serve_through_the_object_store(
    settings: Settings, store_url: str, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(settings, store_url=store_url)
    disks = {"trainer": tmp_path / "trainer-disk", "deployer": tmp_path / "deployer-disk"}
    async with platform_stack(settings, role_data_dirs=disks) as stack:
        c = stack.client
        upload_id = await stack.upload(churn_rows(300))
        [upload_key] = bucket_objects(store_url)
        assert upload_key.startswith("uploads/") and upload_key.endswith(f"/{upload_id}/data.csv")

        r = await c.post("/models/churn", json={"intent": CHURN_INTENT, "upload_id": upload_id})
        assert r.status_code == 202, r.text
        assert (await stack.wait_status("churn"))["status"] == "READY"
        model_id = (await c.get("/models/churn")).json()["model_id"]
        artifact = f"artifacts/{upload_key.split('/')[1]}/{model_id}/v1"
        stored = bucket_objects(store_url)
        assert {f"{artifact}/model.txt", f"{artifact}/meta.json"} <= stored
        assert all(k == upload_key or k.startswith(artifact + "/") for k in stored), stored

        # The trainer read the upload from the store, the deployer the artifact: each into
        # its own disk's cache. Nothing went to the local store's layout.
        cache = "store-cache"
        assert f"{cache}/{upload_key}" in files_under(disks["trainer"])
        assert f"{cache}/{artifact}/model.txt" in files_under(disks["deployer"])
        for data_dir in (settings.data_dir, *disks.values()):
            assert not (data_dir / "artifacts").exists() and not (data_dir / "uploads").exists()

        r = await c.post("/models/churn/deploy", json={})
        assert r.status_code == 202, r.text
        deployment = r.json()["deployment_id"]
        await wait_deployments(stack, "churn", {deployment: "ACTIVE"})
        served = [
            (await c.post(f"/predict/{deployment}", json=row)).json()["result"]
            for row in (POSITIVE, NEGATIVE)
        ]

        # Another API process on a machine with an empty data dir: the model comes from
        # the store, and its answers are the first API's.
        elsewhere = msgspec.structs.replace(settings, data_dir=tmp_path / "api-2")
        async with (
            api_server(elsewhere) as (base_url, _),
            httpx.AsyncClient(base_url=base_url, headers=c.headers, timeout=30.0) as c2,
        ):
            for row, expected in zip((POSITIVE, NEGATIVE), served, strict=True):
                r = await c2.post(f"/predict/{deployment}", json=row)
                assert r.status_code == 200, r.text
                assert r.json()["result"] == expected
            r = await c2.post("/models/churn/v1/infer", json=POSITIVE)
            assert r.status_code == 200, r.text
        assert f"{cache}/{artifact}/model.txt" in files_under(elsewhere.data_dir)
