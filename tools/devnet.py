"""`make devnet`: a local Aurigraph network of reference nodes as processes, loaded and checked.

Starts 4 validators, 2 business nodes and 1 slim node on loopback (each its own JVM, data under
build/devnet/), waits until every node is ready, then drives a bounded load through the business nodes and
prints throughput, latency percentiles, whether every validator agrees on height and head hash, and each
role's start-up time and resident memory. The network is stopped at the end unless --keep is given.

Usage: python -m tools.devnet [--seconds 20] [--concurrency 64] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_JAR = ROOT / "reference-node" / "target" / "quarkus-app" / "quarkus-run.jar"
DEVNET = ROOT / "build" / "devnet"
HOST = "127.0.0.1"
VALIDATORS, BUSINESS, SLIM = 4, 2, 1
HTTP_BASE_PORT, RAFT_BASE_PORT = 19100, 19200
READY_TIMEOUT_SECONDS = 120


@dataclass
class Node:
    name: str
    role: str
    http_port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def rss_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def plan() -> list[Node]:
    peers = ",".join(f"validator-{i}={HOST}:{RAFT_BASE_PORT + i}" for i in range(VALIDATORS))
    nodes = []
    port = HTTP_BASE_PORT
    for i in range(VALIDATORS):
        env = {
            "AURIGRAPH_ROLE": "validator",
            "AURIGRAPH_ID": f"validator-{i}",
            "AURIGRAPH_PEERS": peers,
            "AURIGRAPH_DATA_DIR": str(DEVNET / f"validator-{i}"),
        }
        nodes.append(Node(f"validator-{i}", "validator", port, env))
        port += 1
    for i in range(BUSINESS):
        env = {"AURIGRAPH_ROLE": "business", "AURIGRAPH_ID": f"business-{i}", "AURIGRAPH_PEERS": peers}
        nodes.append(Node(f"business-{i}", "business", port, env))
        port += 1
    upstreams = ",".join(f"http://{HOST}:{HTTP_BASE_PORT + i}" for i in range(VALIDATORS))
    nodes.append(
        Node(
            "slim-0",
            "slim",
            port,
            {"AURIGRAPH_ROLE": "slim", "AURIGRAPH_ID": "slim-0", "AURIGRAPH_UPSTREAMS": upstreams},
        )
    )
    return nodes


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    binary = Path(home) / "bin" / "java" if home else None
    if not binary or not binary.exists():
        raise SystemExit("devnet: JAVA_HOME must point at a JDK 21 or newer (make devnet sets it)")
    return str(binary)


def start(node: Node, log_dir: Path) -> None:
    env = os.environ | node.env | {"QUARKUS_HTTP_PORT": str(node.http_port), "QUARKUS_HTTP_HOST": HOST}
    log = (log_dir / f"{node.name}.log").open("wb")
    node.started = time.monotonic()
    node.process = subprocess.Popen(
        [java(), "--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-jar", str(NODE_JAR)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def get_json(url: str, timeout: float = 2.0) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError):
        return 0, None


def await_ready(nodes: list[Node]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = list(nodes)
    while pending:
        if time.monotonic() > deadline:
            names = ", ".join(n.name for n in pending)
            raise SystemExit(f"devnet: not ready within {READY_TIMEOUT_SECONDS} s: {names} (logs in {DEVNET}/logs)")
        for node in list(pending):
            assert node.process is not None
            if node.process.poll() is not None:
                raise SystemExit(f"devnet: {node.name} exited with {node.process.returncode}; see {DEVNET}/logs")
            if get_json(node.url + "/q/health/ready")[0] == 200:
                node.ready_seconds = time.monotonic() - node.started
                pending.remove(node)
        time.sleep(0.2)


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


async def post_loop(run: str, port: int, worker: int, until: float, result: LoadResult) -> None:
    """One keep-alive connection submitting transactions back to back until ``until``."""
    reader, writer = await asyncio.open_connection(HOST, port)
    sequence = 0
    try:
        while time.monotonic() < until:
            body = json.dumps(
                {"id": f"{run}-{port}-{worker}-{sequence}", "sender": "alice", "recipient": "bob", "amount": 1}
            ).encode()
            sequence += 1
            request = (
                f"POST /api/v11/transactions HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            status = status_line.split()[1].decode() if status_line else "closed"
            if status == "201":
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                result.errors[status] = result.errors.get(status, 0) + 1
                if status == "closed":
                    return
    finally:
        writer.close()


async def load(run: str, ports: list[int], concurrency: int, seconds: float) -> LoadResult:
    """Submits from ``concurrency`` connections for ``seconds``; ids are unique per ``run``."""
    result = LoadResult()
    until = time.monotonic() + seconds
    await asyncio.gather(*(post_loop(run, ports[i % len(ports)], i, until, result) for i in range(concurrency)))
    return result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def agreement(validators: list[Node], slim: Node) -> tuple[bool, str]:
    """Waits briefly for the validators to settle, then compares their newest block (and the slim node's)."""
    heads: dict[str, tuple[int, str]] = {}
    for _ in range(50):
        heads = {}
        for node in [*validators, slim]:
            status, block = get_json(node.url + "/api/v11/blocks/latest")
            if status == 200 and isinstance(block, dict):
                heads[node.name] = (int(block["height"]), str(block["hash"]))
        if len(heads) == len(validators) + 1 and len(set(heads.values())) == 1:
            height, digest = next(iter(heads.values()))
            return True, f"all {len(heads)} nodes at height {height}, head {digest[:16]}"
        time.sleep(0.2)
    return False, "disagree: " + ", ".join(f"{n}={h}@{d[:12]}" for n, (h, d) in sorted(heads.items()))


def stop(nodes: list[Node]) -> None:
    for node in nodes:
        if node.process and node.process.poll() is None:
            os.killpg(node.process.pid, signal.SIGTERM)
    for node in nodes:
        if node.process:
            try:
                node.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devnet", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the load run")
    parser.add_argument("--concurrency", type=int, default=64, help="connections submitting at once")
    parser.add_argument("--warmup", type=float, default=15, help="load run before measuring (JIT warm-up)")
    parser.add_argument("--keep", action="store_true", help="leave the network running")
    args = parser.parse_args(argv)
    if not NODE_JAR.exists():
        raise SystemExit(f"devnet: {NODE_JAR} is missing; `make devnet` builds it")

    shutil.rmtree(DEVNET, ignore_errors=True)
    (DEVNET / "logs").mkdir(parents=True)
    nodes = plan()
    try:
        for node in nodes:
            start(node, DEVNET / "logs")
        await_ready(nodes)
        business = [n.http_port for n in nodes if n.role == "business"]
        if args.warmup > 0:
            asyncio.run(load("warmup", business, args.concurrency, args.warmup))
        result = asyncio.run(load("measured", business, args.concurrency, args.seconds))
        agreed, verdict = agreement([n for n in nodes if n.role == "validator"], nodes[-1])
        committed = len(result.latencies_ms)
        rows = [
            (
                "load",
                f"{args.seconds:.0f} s after {args.warmup:.0f} s of warm-up, {args.concurrency} connections "
                f"over {len(business)} business nodes",
            ),
            ("committed", f"{committed} transactions, {committed / args.seconds:.0f} TPS"),
            (
                "latency",
                f"p50 {percentile(result.latencies_ms, 0.50):.1f} ms, "
                f"p99 {percentile(result.latencies_ms, 0.99):.1f} ms, "
                f"max {max(result.latencies_ms, default=float('nan')):.1f} ms",
            ),
            ("errors", json.dumps(result.errors) if result.errors else "none"),
            ("agreement", verdict),
        ]
        for role in ("validator", "business", "slim"):
            of_role = [n for n in nodes if n.role == role]
            ready = max(n.ready_seconds or 0 for n in of_role)
            rss = max(n.rss_mib() for n in of_role)
            rows.append(
                (f"{role} nodes", f"{len(of_role)}, ready in {ready:.1f} s (slowest), RSS {rss:.0f} MiB (largest)")
            )
        width = max(len(label) for label, _ in rows)
        print("\n== devnet ==\n" + "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows))
        if args.keep:
            print("  (left running; stop with: pkill -f quarkus-run.jar)")
        return 0 if agreed and committed > 0 else 1
    finally:
        if not args.keep:
            stop(nodes)


if __name__ == "__main__":
    sys.exit(main())
