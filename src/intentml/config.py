"""Settings read from the environment, in one place.

Every process (API, projector, trainer, deployer, CLI) builds its `Settings`
with `Settings.from_env()`, so one `INTENTML_DATA_DIR` or one pair of
`DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` points them all at the same platform.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from intentml.events.types import RateLimits

if TYPE_CHECKING:
    from intentml.infra.llm import LlmInterpreter

#: The single topic that holds every event; keyed by aggregate so one model's
#: events stay in one partition, totally ordered.
DEFAULT_TOPIC = "intentml.events"


def _per_minute(raw: str) -> int | None:
    """A rate limit from the environment: a positive number, or `0` / `none` for no limit."""
    value = raw.strip().lower()
    if value in ("", "0", "none", "off"):
        return None
    n = int(value)
    if n < 0:
        raise ValueError(f"a rate limit must be a number of requests per minute, not {raw!r}")
    return n


def _seconds_or_none(raw: str) -> float | None:
    """A time limit from the environment: positive seconds, or `0` / `none` for none."""
    value = raw.strip().lower()
    if value in ("", "0", "none", "off"):
        return None
    seconds = float(value)
    if seconds <= 0:
        raise ValueError(f"a time limit must be a positive number of seconds, not {raw!r}")
    return seconds


def _log_storage(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("s3", "memory"):
        raise ValueError(f"INTENTML_LOG_STORAGE must be 's3' or 'memory', not {raw!r}")
    return value


def _store_url(raw: str) -> str:
    """`INTENTML_STORE_URL` checked for its form, so a typo stops every process at start
    (`intentml.infra.blobs.parse_store_url` checks the rest when the store is opened)."""
    value = raw.strip()
    if value and not re.fullmatch(r"s3a?://[^/?#]+(/[^?#]*)?", value):
        raise ValueError(
            f"INTENTML_STORE_URL must be empty (the data dir) or s3://bucket/prefix, not {raw!r}"
        )
    return value


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Runtime configuration. Empty URLs mean "use the embedded services"."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".intentml")
    database_url: str = ""
    kafka_bootstrap_servers: str = ""
    api_key: str = ""
    topic: str = DEFAULT_TOPIC
    partitions: int = 4
    #: Bound on how long a command waits for its own event to be projected
    #: before answering 202 with a Location to poll.
    command_wait_s: float = 5.0
    #: Largest accepted upload, in bytes (streamed to disk, never held in memory).
    max_upload_bytes: int = 1 << 30
    #: Largest accepted JSON request body, in bytes.
    max_body_bytes: int = 64 << 20
    #: Requests per minute per key (bursts included) of a key without limits of its own:
    #: management (every route but the predictions) and inference; None is no limit.
    rate_limit_management: int | None = 600
    rate_limit_inference: int | None = 6000
    #: How often each API process adds its spending to the shared buckets in PostgreSQL
    #: and reads back everyone's: the limits hold across processes up to this delay.
    rate_limit_sync_s: float = 1.0
    #: Failed authentications per client address per minute (bursts included) before the
    #: address's unverified keys are refused with 429; None is no limit.
    rate_limit_failed_auth: int | None = 60
    #: The API's bound on waiting for PostgreSQL: a pooled connection, a new one, one
    #: statement (client and server side). Past it: 503 `service_unavailable`.
    db_timeout_s: float = 1.0
    #: How long the API keeps serving what it last read of a key or a serving lookup
    #: when PostgreSQL cannot be reached (stale-if-error); 0 turns it off.
    stale_if_error_s: float = 600.0
    #: A request's headers and body must arrive within this many seconds from its first
    #: byte, plus one second per `body_min_bytes_per_s` bytes of body; else 408 and the
    #: connection is closed (a stalled client holds nothing).
    body_timeout_s: float = 10.0
    body_min_bytes_per_s: int = 16384
    #: How long an `Idempotency-Key` is remembered (its first answer replayed).
    idempotency_ttl_s: float = 86400.0
    #: Where the embedded broker keeps its log: "s3" (the embedded object store under
    #: the data dir: survives a kill of any process) or "memory" (re-seeded from the
    #: events archive on start; what the archive lacked is lost).
    log_storage: str = "s3"
    #: Where uploads and artifacts live: empty for the data dir, or `s3://bucket/prefix`
    #: for any S3-compatible store (endpoint and credentials from the `AWS_*` variables),
    #: which every API, trainer and deployer process of a platform must share.
    store_url: str = ""
    #: `intentml up` restarts a process that dies, and gives up (stopping everything)
    #: when one dies this many times within `restart_window_s`.
    restart_limit: int = 5
    restart_window_s: float = 60.0
    #: Builds a trainer runs at once, and LightGBM threads per build (0: this machine's
    #: default, `build_slots`).
    build_concurrency: int = 0
    build_threads: int = 0
    #: Candidates one build's search scores at once on small data (0: this machine's
    #: cores; `search_width`).
    build_search_width: int = 0
    #: Builds of one account a trainer runs at once.
    build_per_account: int = 2
    #: A build of at most this many cells (rows times columns) is small: it never waits
    #: behind big ones (`intentml.domain.scheduling`).
    build_small_cells: int = 2_000_000
    #: Wall-clock seconds a build may take before it is stopped (None: no limit).
    build_timeout_s: float | None = 3600.0
    #: Resident memory a build may use, in MB, before it is stopped (0: 80 % of this
    #: machine's memory shared among the build slots).
    build_memory_mb: int = 0
    #: A Dask scheduler (`tcp://host:8786`): builds run on that cluster's workers, which
    #: read uploads from and write artifacts to the store (empty: the local executor).
    dask_scheduler: str = ""
    #: A build of more cells (rows times columns) than this trains across the Dask
    #: workers with `lightgbm.dask` (the default configuration, no search).
    dask_distributed_cells: int = 100_000_000
    #: The optional LLM interpreter (an OpenAI-compatible chat-completions endpoint, e.g.
    #: `http://localhost:11434/v1`); off unless both the base URL and the model are set.
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    #: The whole call's bound; past it the deterministic resolver decides alone.
    llm_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from environment variables (see the README's table)."""
        e = dict(os.environ) if env is None else env
        return cls(
            host=e.get("HOST", "127.0.0.1"),
            port=int(e.get("PORT", "8000")),
            data_dir=Path(e.get("INTENTML_DATA_DIR", ".intentml")).expanduser().absolute(),
            database_url=e.get("DATABASE_URL", ""),
            kafka_bootstrap_servers=e.get("KAFKA_BOOTSTRAP_SERVERS", ""),
            api_key=e.get("INTENTML_API_KEY", ""),
            topic=e.get("INTENTML_TOPIC", DEFAULT_TOPIC),
            partitions=int(e.get("INTENTML_PARTITIONS", "4")),
            command_wait_s=float(e.get("INTENTML_COMMAND_WAIT_S", "5")),
            max_upload_bytes=int(e.get("INTENTML_MAX_UPLOAD_BYTES", str(1 << 30))),
            max_body_bytes=int(e.get("INTENTML_MAX_BODY_BYTES", str(64 << 20))),
            rate_limit_management=_per_minute(e.get("INTENTML_RATE_LIMIT_MANAGEMENT", "600")),
            rate_limit_inference=_per_minute(e.get("INTENTML_RATE_LIMIT_INFERENCE", "6000")),
            rate_limit_sync_s=float(e.get("INTENTML_RATE_LIMIT_SYNC_S", "1")),
            rate_limit_failed_auth=_per_minute(e.get("INTENTML_RATE_LIMIT_FAILED_AUTH", "60")),
            db_timeout_s=float(e.get("INTENTML_DB_TIMEOUT_S", "1")),
            stale_if_error_s=float(e.get("INTENTML_STALE_IF_ERROR_S", "600")),
            body_timeout_s=float(e.get("INTENTML_BODY_TIMEOUT_S", "10")),
            body_min_bytes_per_s=int(e.get("INTENTML_BODY_MIN_BYTES_PER_S", "16384")),
            idempotency_ttl_s=float(e.get("INTENTML_IDEMPOTENCY_TTL_S", "86400")),
            log_storage=_log_storage(e.get("INTENTML_LOG_STORAGE", "s3")),
            store_url=_store_url(e.get("INTENTML_STORE_URL", "")),
            restart_limit=int(e.get("INTENTML_RESTART_LIMIT", "5")),
            restart_window_s=float(e.get("INTENTML_RESTART_WINDOW_S", "60")),
            build_concurrency=int(e.get("INTENTML_BUILD_CONCURRENCY", "0")),
            build_threads=int(e.get("INTENTML_BUILD_THREADS", "0")),
            build_search_width=int(e.get("INTENTML_BUILD_SEARCH_WIDTH", "0")),
            build_per_account=int(e.get("INTENTML_BUILD_PER_ACCOUNT", "2")),
            build_small_cells=int(e.get("INTENTML_BUILD_SMALL_CELLS", "2000000")),
            build_timeout_s=_seconds_or_none(e.get("INTENTML_BUILD_TIMEOUT_S", "3600")),
            build_memory_mb=int(e.get("INTENTML_BUILD_MEMORY_MB", "0")),
            dask_scheduler=e.get("INTENTML_DASK_SCHEDULER", "").strip(),
            dask_distributed_cells=int(e.get("INTENTML_DASK_DISTRIBUTED_CELLS", "100000000")),
            llm_base_url=e.get("INTENTML_LLM_BASE_URL", "").strip(),
            llm_model=e.get("INTENTML_LLM_MODEL", "").strip(),
            llm_api_key=e.get("INTENTML_LLM_API_KEY", ""),
            llm_timeout_s=float(e.get("INTENTML_LLM_TIMEOUT_S", "10")),
        )

    @property
    def llm_enabled(self) -> bool:
        """Whether the LLM interpreter is configured (both its base URL and its model)."""
        return bool(self.llm_base_url and self.llm_model)

    @property
    def default_rate_limits(self) -> RateLimits:
        """The limits of every key that has none of its own."""
        return RateLimits(
            management_per_minute=self.rate_limit_management,
            inference_per_minute=self.rate_limit_inference,
        )

    def llm_interpreter(self) -> LlmInterpreter | None:
        """The configured LLM interpreter, or None when it is off."""
        if not self.llm_enabled:
            return None
        from intentml.infra.llm import LlmInterpreter  # httpx only where it is used

        return LlmInterpreter(
            self.llm_base_url, self.llm_model, self.llm_api_key, self.llm_timeout_s
        )

    @property
    def build_slots(self) -> tuple[int, int]:
        """(builds at once, LightGBM threads per build) as configured, or this machine's
        default: half its cores as builds, at least two, and the cores shared among them.
        Small builds gain nothing from a second OpenMP thread (its threads spin while
        they wait for each other) and much from running side by side; at least two
        slots keep one for small builds while a big one runs."""
        cores = os.cpu_count() or 1
        builds = self.build_concurrency or max(2, cores // 2)
        threads = self.build_threads or max(1, cores // builds)
        return builds, threads

    @property
    def search_width(self) -> int:
        """Candidates a build's search scores at once on small data, as configured or
        this machine's cores. Each trains on one thread of its own, so a lone build uses
        every core and two builds side by side share them without OpenMP teams spinning
        against each other (the reason `build_slots` keeps LightGBM's threads low)."""
        return self.build_search_width or os.cpu_count() or 1

    @property
    def build_memory_limit_mb(self) -> int:
        """Resident memory a build may use before it is stopped, in MB."""
        if self.build_memory_mb:
            return self.build_memory_mb
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return int(pages * page_size * 0.8 / (1 << 20) / self.build_slots[0])

    @property
    def artifacts_dir(self) -> Path:
        """Where trained models live (the artifact store)."""
        return self.data_dir / "artifacts"

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded datasets live."""
        return self.data_dir / "uploads"

    @property
    def logs_dir(self) -> Path:
        """Where `intentml up` writes the output of each process it runs."""
        return self.data_dir / "logs"

    @property
    def runtime_file(self) -> Path:
        """Written by `intentml up`: the addresses of the embedded services it started."""
        return self.data_dir / "runtime.json"
