"""Inference throughput and latency of a served model, next to a bare endpoint and raw LightGBM.

Starts the real platform (`intentml up`, embedded services) in a temporary data
dir with a known API key, uploads a 5,000-row churn CSV, trains `churn` v1 and
then loads it with wrk (`benchmarks/wrk/post_json.lua`):

- `POST /models/churn/v1/infer`, one row per request, at 1 and 16 connections;
- `POST /models/churn/v1/predictions`, 10,000 rows per request (reported as not
  available when the API has no such route).

The baselines, in the same run on the same machine: a bare Litestar app (defined
below) served by uvicorn the way `intentml api` serves (one worker, uvloop,
httptools, no access log) that decodes the JSON with msgspec and calls
`Booster.predict` on the same model file -- no auth, no lookup, no validation --
under the same wrk loads; and `Booster.predict` in this process on the same
10,000 rows as a float64 matrix, timed before and after the loads (the faster
counts: a burst from another process must not flatter our ratio).

    make bench-inference
    make bench-inference ARGS="--repeat 3"   # best of 3 per line, for a busy machine
    .venv/bin/python benchmarks/inference.py [--seconds 8] [--repeat 1] [--json]

Needs wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import repeat
from pathlib import Path
from typing import IO, Any

import httpx
import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd

from intentml.infra.embedded import free_port, stop_postgres

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "wrk" / "post_json.lua"

KEY = "iml_sk_benchmark0000000000000000000"
MODEL = "churn"
INTENT = "Predict customer churn based on usage patterns"
UPLOAD_ROWS = 20_000
BATCH_ROWS = 10_000
PLANS = ("basic", "standard", "premium")
REGIONS = ("north", "south", "east", "west", "central", "coastal")
NAN = float("nan")

#: The goals this benchmark checks.
GOAL_P50_C1_MS = 1.0
GOAL_C16_SHARE = 0.60
GOAL_C16_P99_MS = 10.0
GOAL_BATCH_SHARE = 0.40


def say(message: str) -> None:
    """Progress goes to stderr so `--json` output stays clean."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ data


def churn_frame(n: int, seed: int) -> pd.DataFrame:
    """Customers whose churn depends on usage, tenure, spend, logins and plan, with noise.

    Several informative and a few useless columns, so the model has a realistic size
    (a few hundred trees) rather than the handful a one-rule dataset needs.
    """
    rng = np.random.default_rng(seed)
    usage = rng.uniform(0, 400, size=n).round(2)
    tenure = rng.integers(1, 72, size=n)
    spend = rng.gamma(2.0, 30.0, size=n).round(2)
    logins = rng.poisson(12, size=n)
    tickets = rng.integers(0, 8, size=n)
    plan = rng.choice(PLANS, size=n)
    region = rng.choice(REGIONS, size=n)
    score = (
        -0.012 * usage
        - 0.03 * tenure
        + 0.01 * spend
        - 0.08 * logins
        + 0.25 * tickets
        + np.select([plan == "basic", plan == "premium"], [0.6, -0.6], 0.0)
        + rng.normal(0, 1.0, size=n)
        + 2.0
    )
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "usage_minutes": usage,
            "tenure_months": tenure,
            "monthly_spend": spend,
            "logins_last_30d": logins,
            "support_tickets": tickets,
            "plan_type": plan,
            "region": region,
            "satisfaction": rng.integers(1, 6, size=n),
            "churned": (rng.random(n) < 1 / (1 + np.exp(-score))).astype(int),
        }
    )


class InputSpec(msgspec.Struct):
    """The part of an input of `meta.json` the baseline needs."""

    name: str
    kind: str
    categories: list[str] = msgspec.field(default_factory=list)


class Meta(msgspec.Struct):
    """The part of `meta.json` the baseline needs (the rest is ignored)."""

    target: str
    inputs: list[InputSpec]
    matrix_columns: list[str] = msgspec.field(default_factory=list)
    classes: list[str] = msgspec.field(default_factory=list)
    target_type: str = "string"


class RowEncoder:
    """Dict rows -> float64 features in the booster's column order.

    Numbers as they are, booleans 0/1, a category as its code in the model's own
    code table (unknown -> NaN). Anything else (dates) is left missing: the
    churn data has none. No checks at all: this is the baseline.
    """

    def __init__(self, meta: Meta) -> None:
        columns = meta.matrix_columns or [spec.name for spec in meta.inputs]
        position = {name: i for i, name in enumerate(columns)}
        self.width = len(columns)
        self.blank = [NAN] * self.width
        self.fields: list[tuple[str, int, dict[str, float] | None]] = []
        for spec in meta.inputs:
            if spec.name not in position:
                continue
            codes = None
            if spec.kind == "category":
                codes = {value: float(code) for code, value in enumerate(spec.categories)}
            self.fields.append((spec.name, position[spec.name], codes))

    def vector(self, row: dict[str, Any]) -> list[float]:
        """One row, for the single-row endpoint."""
        vector = self.blank.copy()
        for name, at, codes in self.fields:
            value = row.get(name)
            if value is None:
                continue
            vector[at] = codes.get(value, NAN) if codes is not None else float(value)
        return vector

    def matrix(self, rows: Sequence[dict[str, Any]]) -> npt.NDArray[np.float64]:
        """Many rows, column by column (what a hand-written batch endpoint would do)."""
        n = len(rows)
        x = np.full((n, self.width), NAN, dtype=np.float64)
        for name, at, codes in self.fields:
            column = list(map(dict.get, rows, repeat(name)))
            if codes is not None:
                code: Callable[[Any, float], float] = codes.get
                x[:, at] = np.fromiter(map(code, column, repeat(NAN)), np.float64, n)
            else:
                x[:, at] = np.array(column, dtype=np.float64)  # None -> NaN
        return x


def read_meta(artifact: Path) -> Meta:
    return msgspec.json.decode((artifact / "meta.json").read_bytes(), type=Meta)


# ------------------------------------------------------------ the bare baseline


def bare_app(artifact: Path) -> Any:
    """`POST /infer` (one row) and `POST /predict_batch` (an array of rows) on the booster.

    The same framework, codec and server set-up as the platform's API, and nothing
    else: no auth, no version lookup, no validation. Answers carry the same fields
    as the platform's (`<target>_probability`, `<target>`) for a binary model.
    """
    from litestar import Litestar, get, post

    meta = read_meta(artifact)
    booster = lgb.Booster(model_file=str(artifact / "model.txt"))
    encoder = RowEncoder(meta)
    probability, target = f"{meta.target}_probability", meta.target
    classes: list[Any] = meta.classes or ["0", "1"]
    if meta.target_type == "integer":
        classes = [int(c) for c in classes]
    negative, positive = classes[0], classes[-1]

    @post("/infer", status_code=200)
    async def infer(data: dict[str, Any]) -> dict[str, Any]:
        x = np.array([encoder.vector(data)], dtype=np.float64)
        p = float(booster.predict(x, num_threads=1)[0])
        return {probability: p, target: positive if p >= 0.5 else negative}

    @post("/predict_batch", status_code=200)
    async def predict_batch(data: list[Any]) -> list[dict[str, Any]]:
        raw = np.asarray(booster.predict(encoder.matrix(data)))
        labels = np.where(raw >= 0.5, positive, negative).tolist()
        return [
            {"prediction": {probability: p, target: label}}
            for p, label in zip(raw.tolist(), labels, strict=True)
        ]

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(
        route_handlers=[infer, predict_batch, health],
        debug=False,
        request_max_body_size=64 << 20,
    )


def serve_bare(artifact: Path, port: int) -> None:
    """Run the bare app as `intentml api` runs the platform's (see `run_api`)."""
    import uvicorn

    uvicorn.run(
        bare_app(artifact),
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


# ------------------------------------------------------------------- processes


def wait_healthy(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
            with suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer 200 on {url} within {timeout_s:.0f} s")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """SIGINT (Ctrl-C) and wait; harder signals only if it does not go."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            say(f"process {proc.pid} still running after {sig.name}")


def tail(path: Path, lines: int = 30) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextmanager
def platform(data_dir: Path, port: int, log: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """`intentml up` with its own embedded services, stopped with SIGINT on the way out."""
    env = _env(data_dir)
    env.update(HOST="127.0.0.1", PORT=str(port), INTENTML_API_KEY=KEY)
    cmd = _intentml("up")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        say("stopping intentml ...")
        stop(proc)
        pg = data_dir / "pg"
        if (pg / "postmaster.pid").exists():  # only if `up` did not get to stop it
            stop_postgres(pg)


def _env(data_dir: Path) -> dict[str, str]:
    """The environment of `intentml` commands on the benchmark's own platform."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env.update(INTENTML_DATA_DIR=str(data_dir), LOG_LEVEL="WARNING")
    return env


def _intentml(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("intentml")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "intentml.cli.main"]
    return [*base, *args]


def unlimited_key(data_dir: Path) -> str:
    """A key of the account `default` without rate limits, issued with the operator CLI:
    the default limits (6,000 predictions a minute per key) would cap the measured load."""
    done = subprocess.run(
        _intentml(
            *("keys", "create", "--account", "default", "--scope", "read_write", "--unlimited"),
            *("--name", "inference benchmark"),
        ),
        env=_env(data_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"intentml keys create failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def bare_server(artifact: Path, port: int, log: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(artifact)]
    cmd += ["--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        stop(proc, 20.0)


# ------------------------------------------------------------------------- wrk


class Load(msgspec.Struct):
    """What one wrk run measured."""

    threads: int
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    rows_per_request: int = 1

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows_per_request

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and self.requests > 0


def run_wrk(
    url: str,
    body: Path,
    *,
    threads: int,
    connections: int,
    seconds: float,
    auth: str = "",
    rows: int = 1,
    timeout_s: float = 30.0,
) -> Load:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"]
    cmd += ["--timeout", f"{timeout_s:g}s", "-s", str(LUA), url, "--", str(body)]
    if auth:
        cmd.append(auth)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    found = [line for line in out.stdout.splitlines() if line.startswith("WRK_JSON ")]
    if out.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    figures = json.loads(found[-1].split(" ", 1)[1])
    lat, errors = figures["latency_us"], figures["errors"]
    duration = figures["duration_us"] / 1e6
    return Load(
        threads=threads,
        connections=connections,
        requests=figures["requests"],
        seconds=duration,
        rps=figures["requests"] / duration if duration else 0.0,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        mean_ms=lat["mean"] / 1000,
        max_ms=lat["max"] / 1000,
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        rows_per_request=rows,
    )


def wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (out.stdout + out.stderr).split("\n")[0].split(" [")[0].strip()


# --------------------------------------------------------------------- raw LightGBM


def raw_predict(
    booster: Any, x: npt.NDArray[np.float64], runs: int, singles: int
) -> dict[str, float]:
    """Best-of-`runs` rows/s on the whole matrix, and single-row latency (num_threads=1)."""
    booster.predict(x)  # warm-up
    batch = []
    for _ in range(runs):
        start = time.perf_counter()
        booster.predict(x)
        batch.append(time.perf_counter() - start)
    one = x[:1]
    for _ in range(100):
        booster.predict(one, num_threads=1)
    single = []
    for i in range(singles):
        row = x[i % len(x) : i % len(x) + 1]
        start = time.perf_counter()
        booster.predict(row, num_threads=1)
        single.append(time.perf_counter() - start)
    single.sort()
    return {
        "batch_rows_per_s": len(x) / min(batch),
        "batch_best_ms": min(batch) * 1000,
        "single_p50_ms": statistics.median(single) * 1000,
        "single_p99_ms": single[int(len(single) * 0.99) - 1] * 1000,
    }


def fastest_raw(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The raw figures of the less disturbed of two measurements, with both batch times.

    On a shared machine one measurement may catch another process's burst; the ratios
    are taken against the faster one, which flatters our figures least.
    """
    best = dict(max(before, after, key=lambda r: r["batch_rows_per_s"]))
    best["batch_before_ms"] = before["batch_best_ms"]
    best["batch_after_ms"] = after["batch_best_ms"]
    return best


# ------------------------------------------------------------------------ flow


class ServerUnderTest(msgspec.Struct):
    """One server under test: its single-row and batch URLs and Authorization header."""

    single: str
    batch: str | None
    auth: str


def measure(
    targets: dict[str, ServerUnderTest],
    row_file: Path,
    batch_file: Path,
    seconds: float,
    runs: int,
    batch_connections: int,
) -> dict[str, dict[str, Any]]:
    """Every wrk load on every target, interleaved; of `runs` runs the best req/s is kept."""
    plan = [("single_c1", 1, 1, row_file), ("single_c16", 2, 16, row_file)]
    plan.append(("batch", 1, batch_connections, batch_file))
    loads: dict[str, dict[str, Any]] = {who: {} for who in targets}
    for attempt in range(runs):
        for label, threads, connections, body in plan:
            for who, target in targets.items():
                url = target.single if body is row_file else target.batch
                if url is None:
                    continue
                batch = body is batch_file
                say(f"wrk {label} {who} ({seconds:g} s, run {attempt + 1}/{runs}) ...")
                load = run_wrk(
                    url,
                    body,
                    threads=threads,
                    connections=connections,
                    seconds=seconds,
                    auth=target.auth,
                    rows=BATCH_ROWS if batch else 1,
                    timeout_s=60 if batch else 30,
                )
                best = loads[who].get(label)
                if best is None or (load.clean, load.rps) > (best.clean, best.rps):
                    loads[who][label] = load
    return loads


def train_model(client: httpx.Client, csv: bytes, timeout_s: float) -> None:
    r = client.post("/uploads", files={"file": ("churn.csv", csv, "text/csv")})
    if r.status_code != 201:
        raise RuntimeError(f"upload failed: {r.status_code} {r.text}")
    upload_id = r.json()["upload_id"]
    r = client.post(f"/models/{MODEL}", json={"intent": INTENT, "upload_id": upload_id})
    if r.status_code not in (201, 202):
        raise RuntimeError(f"create failed: {r.status_code} {r.text}")
    start = time.monotonic()
    while time.monotonic() < start + timeout_s:
        r = client.get(f"/models/{MODEL}/v1/status")
        if r.status_code != 200:
            if time.monotonic() > start + 10:
                raise RuntimeError(f"status failed: {r.status_code} {r.text}")
            time.sleep(0.2)
            continue
        status = r.json()
        if status.get("status") == "READY":
            return
        if status.get("status") == "ERROR":
            raise RuntimeError(f"training failed: {status}")
        time.sleep(0.1)
    raise RuntimeError(f"{MODEL} v1 was not READY within {timeout_s:.0f} s")


def find_artifact(data_dir: Path) -> Path:
    found = sorted((data_dir / "artifacts").glob("**/model.txt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise RuntimeError(f"no model.txt under {data_dir / 'artifacts'}")
    return found[-1].parent


def probe_predictions(client: httpx.Client, rows: list[dict[str, Any]]) -> str | None:
    """None when the batch endpoint answers as documented, else why it is not measured."""
    r = client.post(f"/models/{MODEL}/v1/predictions", json=rows)
    if r.status_code in (404, 405):
        return f"not available (HTTP {r.status_code})"
    if r.status_code != 200:
        return f"not available (HTTP {r.status_code}: {r.text[:200]})"
    body = r.json()
    if not (isinstance(body, list) and len(body) == len(rows) and "prediction" in body[0]):
        return f"not available (unexpected answer: {r.text[:200]})"
    return None


def close_to(value: float, result: dict[str, Any]) -> bool:
    return any(isinstance(v, float) and abs(v - value) < 1e-9 for v in result.values())


def bench(args: argparse.Namespace) -> dict[str, Any]:
    seconds: float = args.seconds
    upload = churn_frame(UPLOAD_ROWS, seed=1)
    requests_frame = churn_frame(BATCH_ROWS, seed=2)
    report: dict[str, Any] = {
        "config": {
            "seconds_per_load": seconds,
            "upload_rows": UPLOAD_ROWS,
            "batch_rows": BATCH_ROWS,
            "batch_connections": args.batch_connections,
            "repeat": args.repeat,
            "cpus": os.cpu_count(),
            "lightgbm": lgb.__version__,
            "wrk": wrk_version(),
        },
        "notes": [],
    }
    with tempfile.TemporaryDirectory(prefix="intentml-bench-inference-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        port, bare_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        bare = f"http://127.0.0.1:{bare_port}"
        platform_log, bare_log = tmp / "intentml-up.log", tmp / "bare.log"
        with (
            platform_log.open("wb") as plog,
            bare_log.open("wb") as blog,
            platform(data_dir, port, plog) as up,
        ):
            try:
                say(f"starting intentml up on {base} (data dir {data_dir}) ...")
                wait_healthy(f"{base}/health", up, "intentml up", args.start_timeout)
                auth = f"Bearer {unlimited_key(data_dir)}"
                client = httpx.Client(base_url=base, timeout=120, headers={"Authorization": auth})
                say(f"uploading {UPLOAD_ROWS} rows and training {MODEL} v1 ...")
                start = time.perf_counter()
                train_model(client, upload.to_csv(index=False).encode(), args.train_timeout)
                report["config"]["create_to_ready_s"] = round(time.perf_counter() - start, 3)
                artifact = find_artifact(data_dir)
                meta = read_meta(artifact)
                names = [s.name for s in meta.inputs if s.name in requests_frame.columns]
                rows = [
                    {str(k): v for k, v in r.items()}
                    for r in requests_frame[names].to_dict("records")
                ]
                report["config"]["model_inputs"] = [f"{s.name}:{s.kind}" for s in meta.inputs]
                row_file, batch_file = tmp / "row.json", tmp / "batch.json"
                row_file.write_bytes(msgspec.json.encode(rows[0]))
                batch_file.write_bytes(msgspec.json.encode(rows))
                encoder = RowEncoder(meta)
                x = encoder.matrix(rows)
                booster = lgb.Booster(model_file=str(artifact / "model.txt"))
                report["config"]["trees"] = booster.num_trees()

                say(f"starting the bare Litestar app on {bare} ...")
                with bare_server(artifact, bare_port, blog) as bare_proc:
                    wait_healthy(f"{bare}/health", bare_proc, "the bare app", 60)
                    # Probes: both answer, and the same model gives the same number.
                    expected = float(booster.predict(x[:1], num_threads=1)[0])
                    r = client.post(f"/models/{MODEL}/v1/infer", json=rows[0])
                    if r.status_code != 200:
                        raise RuntimeError(f"infer failed: {r.status_code} {r.text}")
                    if not close_to(expected, r.json()["result"]):
                        report["notes"].append(
                            f"intentml infer {r.json()['result']} != raw predict {expected}"
                        )
                    r = httpx.post(f"{bare}/infer", json=rows[0])
                    if r.status_code != 200 or not close_to(expected, r.json()):
                        raise RuntimeError(f"bare infer wrong: {r.status_code} {r.text}")
                    batch_missing = probe_predictions(client, rows[:3])
                    if batch_missing:
                        say(f"POST /models/{MODEL}/v1/predictions: {batch_missing}")

                    say("raw Booster.predict in process ...")
                    raw_before = raw_predict(booster, x, runs=5, singles=2000)

                    targets = {
                        "intentml": ServerUnderTest(
                            f"{base}/models/{MODEL}/v1/infer",
                            None if batch_missing else f"{base}/models/{MODEL}/v1/predictions",
                            auth,
                        ),
                        "bare": ServerUnderTest(f"{bare}/infer", f"{bare}/predict_batch", ""),
                    }
                    for t in targets.values():  # warm both up alike
                        run_wrk(
                            t.single, row_file, threads=2, connections=16, seconds=1, auth=t.auth
                        )
                    report["load_average"] = {"before": round(os.getloadavg()[0], 2)}
                    loads = measure(
                        targets, row_file, batch_file, seconds, args.repeat, args.batch_connections
                    )
                    report["load_average"]["after"] = round(os.getloadavg()[0], 2)
                    say("raw Booster.predict in process, again ...")
                    raw_after = raw_predict(booster, x, runs=5, singles=2000)
                    report["raw"] = fastest_raw(raw_before, raw_after)
                    if batch_missing:
                        loads["intentml"]["batch"] = batch_missing
                    if up.poll() is not None:
                        raise RuntimeError("intentml up exited during the measurements")
                client.close()
                report["loads"] = loads
            except Exception:
                say(f"--- last lines of intentml up ---\n{tail(platform_log)}")
                say(f"--- last lines of the bare app ---\n{tail(bare_log)}")
                raise
    busy = max(report["load_average"].values())
    if busy > (os.cpu_count() or 1) + 1:
        report["notes"].append(
            f"the machine was busy (load average up to {busy:.1f} on {os.cpu_count()} CPUs, "
            "this benchmark's own processes account for about 2.5): figures are noisy; "
            "rerun on a quiet machine or with --repeat 3"
        )
    report["goals"] = goals(report)
    return report


# ---------------------------------------------------------------------- report


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    ours, bare, raw = report["loads"]["intentml"], report["loads"]["bare"], report["raw"]
    c1, c16, bare_c16, batch = (
        ours["single_c1"],
        ours["single_c16"],
        bare["single_c16"],
        ours["batch"],
    )
    out = []

    def verdict(ok: bool, load: Load) -> str:
        if not load.clean:
            return "not met (errors)"
        return "met" if ok else "NOT met"

    out.append(
        {
            "goal": f"single-row p50 < {GOAL_P50_C1_MS:g} ms at c=1",
            "value": f"p50 {c1.p50_ms:.3f} ms",
            "verdict": verdict(c1.p50_ms < GOAL_P50_C1_MS, c1),
        }
    )
    share = c16.rps / bare_c16.rps if bare_c16.rps else 0.0
    out.append(
        {
            "goal": f"c=16 req/s >= {GOAL_C16_SHARE:.0%} of bare, p99 < {GOAL_C16_P99_MS:g} ms",
            "value": f"{share:.0%} of bare, p99 {c16.p99_ms:.2f} ms",
            "verdict": verdict(share >= GOAL_C16_SHARE and c16.p99_ms < GOAL_C16_P99_MS, c16),
        }
    )
    if isinstance(batch, Load):
        share = batch.rows_per_s / raw["batch_rows_per_s"]
        out.append(
            {
                "goal": f"batch rows/s >= {GOAL_BATCH_SHARE:.0%} of raw Booster.predict",
                "value": f"{share:.0%} of raw",
                "verdict": verdict(share >= GOAL_BATCH_SHARE, batch),
            }
        )
    else:
        out.append(
            {
                "goal": f"batch rows/s >= {GOAL_BATCH_SHARE:.0%} of raw Booster.predict",
                "value": str(batch),
                "verdict": "not measured",
            }
        )
    return out


def _cell(load: Load | str) -> str:
    if not isinstance(load, Load):
        return f"{load:<38}"
    flag = "" if load.clean else f" !{load.non_2xx} non-2xx/{load.socket_errors} err"
    return f"{load.rps:>9,.0f} {load.p50_ms:>8.3f} {load.p99_ms:>8.2f}{flag:<12}"


def print_table(report: dict[str, Any]) -> None:
    cfg, raw = report["config"], report["raw"]
    ours, bare = report["loads"]["intentml"], report["loads"]["bare"]
    inputs = ", ".join(cfg["model_inputs"])
    trained = (
        f"{cfg['trees']} trees, trained on {cfg['upload_rows']} rows "
        f"in {cfg['create_to_ready_s']:.1f} s"
    )
    print(f"model {MODEL} v1 ({inputs}), {trained}; {cfg['cpus']} CPUs; {cfg['wrk']}")
    load = report["load_average"]
    print(
        f"wrk {cfg['seconds_per_load']:g} s per line (best of {cfg['repeat']}); latencies in ms; "
        f"1-min load average {load['before']:.1f} before, {load['after']:.1f} after\n"
    )
    head = f"{'req/s':>9} {'p50':>8} {'p99':>8}{'':<12}"
    print(f"{'':<28}{'intentml':<38}{'bare Litestar + Booster':<38}{'ours/bare':>9}")
    print(f"{'':<28}{head}{head}{'req/s':>9}")
    lines = (
        ("POST /infer  c=1  (t1)", "single_c1"),
        ("POST /infer  c=16 (t2)", "single_c16"),
        (f"batch {BATCH_ROWS} rows c={cfg['batch_connections']}", "batch"),
    )
    for title, key in lines:
        a, b = ours[key], bare[key]
        ratio = f"{a.rps / b.rps:>8.0%}" if isinstance(a, Load) and b.rps else f"{'-':>9}"
        print(f"{title:<28}{_cell(a)}{_cell(b)}{ratio:>9}")
    print()
    batch, bare_batch = ours["batch"], bare["batch"]
    print(f"{'rows/s':<44}{'':>12}vs raw   vs bare batch")
    print(
        f"  raw Booster.predict, {BATCH_ROWS} rows (best of 10) {raw['batch_rows_per_s']:>11,.0f}"
        f"  ({raw['batch_best_ms']:.1f} ms per call; best of 5 before the loads "
        f"{raw['batch_before_ms']:.1f} ms, after {raw['batch_after_ms']:.1f} ms)"
    )
    print(
        f"  bare POST /predict_batch{'':<19}{bare_batch.rows_per_s:>12,.0f}"
        f"{bare_batch.rows_per_s / raw['batch_rows_per_s']:>8.0%}"
    )
    if isinstance(batch, Load):
        print(
            f"  intentml POST /predictions{'':<17}{batch.rows_per_s:>12,.0f}"
            f"{batch.rows_per_s / raw['batch_rows_per_s']:>8.0%}"
            f"{batch.rows_per_s / bare_batch.rows_per_s:>13.0%}"
        )
    else:
        print(f"  intentml POST /predictions{'':<17}{batch:>12}")
    print(
        f"  raw Booster.predict, one row (num_threads=1): p50 {raw['single_p50_ms']:.3f} ms, "
        f"p99 {raw['single_p99_ms']:.3f} ms"
    )
    print("\ngoals")
    for g in report["goals"]:
        print(f"  {g['goal']:<55} {g['value']:<28} {g['verdict']}")
    for note in report["notes"]:
        print(f"note: {note}")


def to_json(report: dict[str, Any]) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, Load):
            out = msgspec.structs.asdict(value)
            out["rows_per_s"] = value.rows_per_s
            return out
        raise TypeError(type(value))

    return json.dumps(report, default=default, indent=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8, help="wrk duration per line (8)")
    parser.add_argument("--batch-connections", type=int, default=1, choices=(1, 2))
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per line, best kept (for busy machines)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--start-timeout", type=float, default=180, help=argparse.SUPPRESS)
    parser.add_argument("--train-timeout", type=float, default=300, help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.port)
        return 0
    if shutil.which("wrk") is None:
        print(
            "wrk not found: this benchmark needs it. Install it with `apt-get install wrk` "
            "(Debian/Ubuntu) or `brew install wrk`.",
            file=sys.stderr,
        )
        return 2
    report = bench(args)
    if args.json:
        print(to_json(report))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
