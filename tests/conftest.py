"""Shared fixtures: one real PostgreSQL and one real Kafka-protocol broker per session.

Order of preference for each service: the URL in the environment
(`DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`), testcontainers when a Docker
engine answers, else the embedded ones the platform itself uses. Every test
gets its own database and its own topic, so tests stay independent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from intentml.config import Settings
from intentml.events.envelope import new_id
from intentml.infra.embedded import (
    EmbeddedBroker,
    ObjectStore,
    durable_broker,
    start_postgres,
    stop_postgres,
)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the whole session (admin connection URL)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as pg:
            yield pg.get_connection_url()
    else:
        with tempfile.TemporaryDirectory(prefix="intentml-pg-") as tmp:
            try:
                yield start_postgres(Path(tmp) / "pg")
            finally:
                stop_postgres(Path(tmp) / "pg")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Kafka-protocol broker for the whole session."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        broker = EmbeddedBroker()
        broker.start()
        try:
            yield broker.bootstrap_servers
        finally:
            broker.stop()


class DurableLog:
    """An embedded broker with its log in the embedded object store, as `intentml up`
    runs it, for tests of what survives a kill: either process can be killed and
    started again (on the same ports)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.store: ObjectStore
        self.broker: EmbeddedBroker
        self.store, self.broker = durable_broker(directory)

    @property
    def bootstrap_servers(self) -> str:
        """The broker's address."""
        return self.broker.bootstrap_servers

    def start_store(self) -> None:
        """Start the object store and wait until S3 serves the bucket."""
        self.store.start(self.directory / "store.log")

    def start_broker(self) -> None:
        """Start the broker and wait until it listens."""
        self.broker.start(self.directory / "broker.log")

    def kill(self) -> None:
        """SIGKILL the broker and the object store (nothing is flushed or closed)."""
        for proc in (self.broker.proc, self.store.proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def durable_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableLog]:
    """A durable embedded log for the session (slower than the memory broker: ~150
    sequential acknowledged records/s against ~1,000; use it where durability is tested).
    Tests that kill it start it again before they end. Its processes' logs stay in the
    test run's base temp dir (`durable-log*/store.log`, `broker.log`)."""
    log = DurableLog(tmp_path_factory.mktemp("durable-log"))
    log.start_store()
    log.start_broker()
    try:
        yield log
    finally:
        log.broker.stop()
        log.store.stop()


#: The bucket of the session's S3 server that the blob store tests use.
BLOB_BUCKET = "intentml-blobs"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """A real S3-compatible server (SeaweedFS, `weed mini`) for the session, serving the
    bucket `BLOB_BUCKET`; its log is `s3-server*/store.log` in the run's base temp dir."""
    directory = tmp_path_factory.mktemp("s3-server")
    server = ObjectStore(directory / "s3", BLOB_BUCKET)
    server.start(directory / "store.log")
    try:
        yield server
    finally:
        server.stop()


def s3_env(s3_server: ObjectStore) -> dict[str, str]:
    """The `AWS_*` variables a machine sets to reach the session's S3 server."""
    return {
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": s3_server.credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.credentials.secret_key,
        "AWS_REGION": "us-east-1",
    }


@pytest.fixture
def store_url(s3_server: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> str:
    """An `INTENTML_STORE_URL` of a fresh prefix in the session's S3 server, with the
    `AWS_*` variables a deployment would set to reach it (restored after the test)."""
    env = s3_env(s3_server)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{BLOB_BUCKET}/t-{new_id()}"


def with_database(url: str, database: str) -> str:
    """The same server URL, pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@contextlib.asynccontextmanager
async def fresh_database(postgres_url: str) -> AsyncIterator[str]:
    """A new, empty database of the server at `postgres_url` for a block; its URL."""
    name = "t_" + new_id().replace("-", "")[-20:]
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(postgres_url, name)
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database of the session's server, dropped afterwards."""
    async with fresh_database(postgres_url) as url:
        yield url


def settings_for(database_url: str, kafka_bootstrap: str, data_dir: Path) -> Settings:
    """Settings of their own: the database given, a new topic, a new bootstrap key."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic="t." + new_id(),
        partitions=2,
        api_key="iml_sk_test_" + new_id().replace("-", ""),
    )


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database, topic and data dir."""
    return settings_for(database_url, kafka_bootstrap, tmp_path / "data")


@contextlib.asynccontextmanager
async def running(*coros_or_tasks: object) -> AsyncIterator[list[asyncio.Task[object]]]:
    """Run background tasks for the duration of a block, then cancel them."""
    tasks = [
        c if isinstance(c, asyncio.Task) else asyncio.ensure_future(c)  # type: ignore[arg-type]
        for c in coros_or_tasks
    ]
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
