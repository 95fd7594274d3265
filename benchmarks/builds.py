"""Builds that never block each other, measured against the real platform.

Starts `intentml up` (embedded services, four processes) in a temporary data dir and
prints, each as a ratio measured in one run:

1. a small build's create -> READY with a big build running, against the same small
   build alone (the goal: at most 1.5x);
2. the throughput of 16 small builds created at once, against the same builds one at a
   time, and its share of what the cores allow: the cores divided by the CPU seconds
   the platform's processes spend per build one at a time (the goal: at least 80 %).

    make bench-builds
    .venv/bin/python benchmarks/builds.py [--small-rows 2000] [--big-rows 300000]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from train_latency import start_platform

from intentml.config import Settings
from intentml.infra.embedded import free_port

FINAL = ("READY", "ERROR", "CANCELLED")


def table(rows: int, columns: int, seed: int) -> bytes:
    """`columns` numeric inputs, two categorical ones and a binary target with a signal."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(columns)})
    df["plan"] = rng.choice(["a", "b", "c"], size=rows)
    df["region"] = rng.choice(["n", "s", "e", "w"], size=rows)
    logit = df["x0"] - 0.7 * df["x1"] + (df["plan"] == "a") + rng.normal(scale=0.7, size=rows)
    df["churned"] = (logit > 0).astype(int)
    return df.to_csv(index=False).encode()


class Platform:
    """A client of the running platform."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.created = 0

    def upload(self, data: bytes) -> str:
        r = self.client.post("/uploads", files={"file": ("t.csv", data, "text/csv")})
        r.raise_for_status()
        upload_id: str = r.json()["upload_id"]
        return upload_id

    def create(self, upload_id: str, iterations: int) -> str:
        self.created += 1
        name = f"m{self.created}"
        r = self.client.post(
            f"/models/{name}",
            json={"intent": "Predict churn", "upload_id": upload_id, "max_iterations": iterations},
        )
        assert r.status_code == 202, r.text
        return name

    def status(self, name: str) -> str:
        r = self.client.get(f"/models/{name}/v1/status")
        assert r.status_code == 200, r.text
        status: str = r.json()["status"]
        return status

    def wait(self, names: list[str], final: tuple[str, ...] = FINAL) -> float:
        """Seconds until every model of `names` is in a `final` status (READY asserted).
        One build is polled every 20 ms (its time is what is measured); many every
        quarter second, as a client showing progress would, so that the polling does not
        take the cores the builds are measured on."""
        start = time.perf_counter()
        waiting = set(names)
        while waiting:
            for name in list(waiting):
                status = self.status(name)
                if status in final:
                    assert status != "ERROR", f"{name} failed"
                    waiting.discard(name)
            time.sleep(0.02 if len(names) == 1 else 0.25)  # a client polls
        return time.perf_counter() - start

    def build(self, upload_id: str, iterations: int) -> float:
        """create -> READY of one model, in seconds."""
        start = time.perf_counter()
        name = self.create(upload_id, iterations)
        self.wait([name])
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small-rows", type=int, default=2000)
    parser.add_argument("--big-rows", type=int, default=300_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=16)
    args = parser.parse_args()
    slots = Settings.from_env().build_slots[0]
    with tempfile.TemporaryDirectory(prefix="intentml-bench-") as tmp:
        port = free_port()
        proc, key = start_platform(Path(tmp) / "data", port)
        try:
            client = httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"x-api-key": key}
            )
            run(Platform(client), args, slots, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)


def run(p: Platform, args: argparse.Namespace, slots: int, platform_pid: int) -> None:
    small = p.upload(table(args.small_rows, 10, 1))
    big = p.upload(table(args.big_rows, 28, 2))
    p.build(small, args.iterations)  # warm: the consumer groups have joined
    alone = [p.build(small, args.iterations) for _ in range(3)]
    big_name = p.create(big, 20)
    p.wait([big_name], final=("BUILDING",))
    beside = [p.build(small, args.iterations) for _ in range(3)]
    still = p.status(big_name)
    t_alone, t_beside = float(np.median(alone)), float(np.median(beside))
    print(f"machine: {os.cpu_count()} cores, {slots} build slots; load {os.getloadavg()[0]:.2f}")
    print(
        f"small build ({args.small_rows} x 12) create -> READY alone: {t_alone:.2f} s "
        f"{_runs(alone)}; with a big build ({args.big_rows} x 30) running: {t_beside:.2f} s "
        f"{_runs(beside)}; ratio {t_beside / t_alone:.2f}x (the big build was {still})"
    )
    p.client.post(f"/models/{big_name}/v1/cancel")
    p.wait([big_name])

    cpu_before = tree_cpu_s(platform_pid)
    one_at_a_time = sum(p.build(small, args.iterations) for _ in range(4)) / 4
    cpu_per_build = (tree_cpu_s(platform_pid) - cpu_before) / 4
    names = [p.create(small, args.iterations) for _ in range(args.concurrent)]
    start = time.perf_counter()
    p.wait(names)
    together = time.perf_counter() - start
    speedup = args.concurrent * one_at_a_time / together
    cores = os.cpu_count() or 1
    allowed = cores / cpu_per_build  # builds a second with every core busy building
    print(
        f"{args.concurrent} small builds at once: {together:.1f} s, one at a time "
        f"{one_at_a_time:.2f} s each ({cpu_per_build:.2f} CPU s of the platform's processes "
        f"per build): throughput {speedup:.2f}x one at a time, "
        f"{args.concurrent / together / allowed:.0%} of what {cores} cores allow "
        f"({slots} build slots); load {os.getloadavg()[0]:.2f}"
    )


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used by process `pid` and its descendants, the exited ones included
    (a reaped child's time is in its parent's `cutime`), from /proc (Linux)."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            stats[int(entry.name)] = text.rsplit(")", 1)[1].split()
    children: dict[int, list[int]] = {}
    for child, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(child)
    ticks, todo, total = os.sysconf("SC_CLK_TCK"), [pid], 0
    while todo:
        current = todo.pop()
        if current in stats:  # utime, stime, cutime, cstime
            total += sum(int(v) for v in stats[current][11:15])
        todo.extend(children.get(current, []))
    return total / ticks


def _runs(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    main()
