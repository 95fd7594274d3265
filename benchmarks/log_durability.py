"""The durable embedded log against the in-memory one, and recovery after a kill -9.

1. Produce: the platform's own producer (acks=all) against an embedded broker with
   its log in the embedded object store (SeaweedFS S3, what `intentml up` runs) and
   one with its log in memory, in the same run: sequential acknowledged sends
   (one at a time) and concurrent ones (64 in flight); records/s and p50/p99
   latency, and the ratio durable / memory.
2. Recovery: `intentml up` in a temporary data dir; for each kind of process
   (broker, object store, projector, API, trainer, then `up` itself followed by a
   new `up`, as an operator's `make run`), one upload is acknowledged, the process
   is killed with SIGKILL, and the clock runs until `/health` answers 200, that
   upload reads back, and a new upload is acknowledged and reads back.

    .venv/bin/python benchmarks/log_durability.py [--runs 2] [--sequential 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec

from intentml.events.envelope import new_id
from intentml.events.log import ensure_topic, new_producer
from intentml.infra.embedded import EmbeddedBroker, Runtime, durable_broker, free_port

RECORD = b"x" * 400  # about the size of an event envelope
KINDS = ("broker", "object-store", "projector", "api", "trainer", "up")
CSV = b"a,b,y\n" + b"".join(f"{i},{i % 7},{i % 2}\n".encode() for i in range(50))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def produce(bootstrap: str, sequential: int, concurrent: int) -> dict[str, float]:
    """Records/s and latencies (ms) of sequential and concurrent acknowledged sends."""
    topic = "bench." + new_id()
    await ensure_topic(bootstrap, topic, 4)
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        for i in range(20):  # warm-up: connections, metadata
            await producer.send_and_wait(topic, RECORD, key=str(i).encode())
        seq: list[float] = []
        began = time.perf_counter()
        for i in range(sequential):
            t = time.perf_counter()
            await producer.send_and_wait(topic, RECORD, key=str(i).encode())
            seq.append((time.perf_counter() - t) * 1000)
        seq_rate = sequential / (time.perf_counter() - began)
        conc: list[float] = []
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with gate:
                t = time.perf_counter()
                await producer.send_and_wait(topic, RECORD, key=str(i).encode())
                conc.append((time.perf_counter() - t) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(concurrent)))
        conc_rate = concurrent / (time.perf_counter() - began)
    finally:
        await producer.stop()
    return {
        "seq_rate": seq_rate,
        "seq_p50": statistics.median(seq),
        "seq_p99": percentile(seq, 0.99),
        "conc_rate": conc_rate,
        "conc_p50": statistics.median(conc),
        "conc_p99": percentile(conc, 0.99),
    }


def produce_both(sequential: int, concurrent: int) -> dict[str, dict[str, float]]:
    """The produce figures of the durable log and of the in-memory one, same run."""
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="intentml-logbench-") as tmp:
        store, durable = durable_broker(Path(tmp))
        store.start(Path(tmp) / "store.log")
        durable.start(Path(tmp) / "broker.log")
        memory = EmbeddedBroker()
        memory.start()
        try:
            for name, broker in (("memory", memory), ("durable", durable)):
                results[name] = asyncio.run(
                    produce(broker.bootstrap_servers, sequential, concurrent)
                )
        finally:
            memory.stop()
            durable.stop()
            store.stop()
    return results


class Up:
    """`intentml up` in a data dir, started and killed by this benchmark."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "INTENTML_API_KEY")
        }
        env.update(INTENTML_DATA_DIR=str(self.data_dir), PORT=str(self.port), LOG_LEVEL="WARNING")
        with (self.data_dir.parent / "up.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "intentml.cli.main", "up"], env=env, stdout=out, stderr=out
            )

    def pid(self, kind: str) -> int:
        if kind == "up":
            assert self.proc is not None
            return self.proc.pid
        runtime = msgspec.json.decode((self.data_dir / "runtime.json").read_bytes(), type=Runtime)
        return runtime.processes[kind]

    def key(self) -> str:
        return (self.data_dir / "api-key").read_text().strip()


def recovered(client: httpx.Client, earlier: str) -> bool:
    """`/health` 200, the earlier acknowledged upload readable, a new one acknowledged and
    readable."""
    try:
        if client.get("/health").status_code != 200:
            return False
        if client.get(f"/uploads/{earlier}").status_code != 200:
            return False
        new = client.post("/uploads", files={"file": ("r.csv", CSV, "text/csv")})
        return (
            new.status_code == 201
            and client.get(f"/uploads/{new.json()['upload_id']}").status_code == 200
        )
    except httpx.HTTPError:
        return False


def wait_recovered(up: Up, earlier: str, timeout_s: float = 180.0) -> float:
    """Seconds until `recovered`, polled every 50 ms (the clock starts at the caller's kill)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=up.url, timeout=5, headers={"x-api-key": up.key()}) as client:
        while not recovered(client, earlier):
            if time.monotonic() > deadline:
                raise TimeoutError(f"not recovered within {timeout_s:.0f} s")
            time.sleep(0.05)
    return time.monotonic()


def recovery(kinds: tuple[str, ...]) -> dict[str, float]:
    """Seconds to recover after a SIGKILL of each kind of process, one after the other."""
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="intentml-recovery-") as tmp:
        up = Up(Path(tmp) / "data")
        up.start()
        try:
            _first_up(up)
            for kind in kinds:
                with httpx.Client(
                    base_url=up.url, timeout=30, headers={"x-api-key": up.key()}
                ) as c:
                    r = c.post("/uploads", files={"file": ("k.csv", CSV, "text/csv")})
                    assert r.status_code == 201, r.text
                    earlier = r.json()["upload_id"]
                pid = up.pid(kind)
                began = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                if kind == "up":
                    assert up.proc is not None
                    up.proc.wait()
                    up.start()  # the operator's `make run` again
                times[kind] = wait_recovered(up, earlier) - began
                print(f"  kill -9 {kind}: recovered in {times[kind]:.2f} s", flush=True)
        finally:
            if up.proc and up.proc.poll() is None:
                up.proc.send_signal(signal.SIGTERM)
                up.proc.wait(120)
    return times


def _first_up(up: Up, timeout_s: float = 180.0) -> None:
    """Wait for the first start: the key file and a 200 from `/health`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (up.data_dir / "api-key").exists() and httpx.get(
                f"{up.url}/health", timeout=2
            ).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("intentml up did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=3000)
    parser.add_argument("--skip-recovery", action="store_true")
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        print(f"run {run}: load average {os.getloadavg()[0]:.2f} (1 min) at start", flush=True)
        res = produce_both(args.sequential, args.concurrent)
        for name in ("memory", "durable"):
            r = res[name]
            print(
                f"  {name:8} sequential {r['seq_rate']:7.0f} records/s "
                f"(p50 {r['seq_p50']:.1f} ms, p99 {r['seq_p99']:.1f} ms); "
                f"concurrent (64 in flight) {r['conc_rate']:7.0f} records/s "
                f"(p50 {r['conc_p50']:.1f} ms, p99 {r['conc_p99']:.1f} ms)",
                flush=True,
            )
        m, d = res["memory"], res["durable"]
        print(
            f"  durable / memory: sequential {d['seq_rate'] / m['seq_rate']:.2f}x, "
            f"concurrent {d['conc_rate'] / m['conc_rate']:.2f}x",
            flush=True,
        )
        if not args.skip_recovery:
            recovery(KINDS)
        print(f"run {run}: load average {os.getloadavg()[0]:.2f} (1 min) at the end", flush=True)


if __name__ == "__main__":
    main()
