"""Time from create to READY, next to a plain in-process LightGBM fit of the same data.

Starts the real platform (`intentml up`, embedded services, four processes) in a
temporary data dir, uploads a 5,000-row, 20-column CSV, then for each run
creates a model and polls its status until READY. The baseline, in the same
run: reading the same CSV with pandas and fitting LightGBM with default
parameters in this process.

    .venv/bin/python benchmarks/train_latency.py [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd

from intentml.infra.embedded import free_port

ROWS, NUMERIC, CATEGORICAL = 5000, 16, 3  # + the target = 20 columns


def make_csv(seed: int = 0) -> bytes:
    """5,000 rows: 16 numeric, 3 categorical columns and a binary target with a real signal."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=ROWS) for i in range(NUMERIC)})
    for j in range(CATEGORICAL):
        df[f"c{j}"] = rng.choice(["a", "b", "c", "d"], size=ROWS)
    logit = df["x0"] * 1.5 - df["x1"] + (df["c0"] == "a") * 1.0 + rng.normal(scale=0.5, size=ROWS)
    df["churned"] = (logit > 0).astype(int)
    return df.to_csv(index=False).encode()


def plain_fit(data: bytes) -> float:
    """Seconds for pandas read + LightGBM default fit, in process."""
    start = time.perf_counter()
    df = pd.read_csv(io.BytesIO(data))
    for j in range(CATEGORICAL):
        df[f"c{j}"] = df[f"c{j}"].astype("category")
    data_set = lgb.Dataset(df.drop(columns="churned"), label=df["churned"])
    lgb.train({"objective": "binary", "verbose": -1}, data_set)
    return time.perf_counter() - start


def start_platform(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INTENTML_API_KEY",)}
    # The benchmark polls the status every 10 ms, past the default management limit
    # (600 a minute): a rate limit is not what it measures.
    env.update(
        INTENTML_DATA_DIR=str(data_dir),
        PORT=str(port),
        LOG_LEVEL="WARNING",
        INTENTML_RATE_LIMIT_MANAGEMENT="none",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentml.cli.main", "up"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("API key"):
            return proc, line.rsplit(" ", 1)[-1].strip()
    raise RuntimeError("intentml up did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = make_csv()
    with tempfile.TemporaryDirectory(prefix="intentml-bench-") as tmp:
        port = free_port()
        proc, key = start_platform(Path(tmp) / "data", port)
        try:
            client = httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"x-api-key": key}
            )
            upload = client.post("/uploads", files={"file": ("b.csv", data, "text/csv")}).json()
            latencies = []
            for run in range(args.runs):
                start = time.perf_counter()
                r = client.post(
                    f"/models/bench{run}",
                    json={"intent": "Predict churn", "upload_id": upload["upload_id"]},
                )
                assert r.status_code == 202, r.text
                while True:
                    polled = client.get(f"/models/bench{run}/v1/status")
                    assert polled.status_code == 200, polled.text
                    status = polled.json()
                    if status["status"] in ("READY", "ERROR"):
                        break
                    time.sleep(0.01)
                assert status["status"] == "READY", status
                latencies.append(time.perf_counter() - start)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    fits = [plain_fit(data) for _ in range(args.runs)]
    e2e, fit = statistics.median(latencies), statistics.median(fits)
    print(f"dataset: {ROWS} rows x {NUMERIC + CATEGORICAL + 1} columns, {args.runs} runs (median)")
    print(
        f"create -> READY (end to end, real processes): {e2e:.3f} s  "
        f"[{', '.join(f'{x:.3f}' for x in latencies)}]"
    )
    print(f"plain in-process LightGBM fit (baseline):     {fit:.3f} s")
    print(f"overhead over the plain fit: {e2e - fit:+.3f} s; ratio {e2e / fit:.2f}x")


if __name__ == "__main__":
    main()
