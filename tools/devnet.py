"""`make devnet`: a local Aurigraph network of reference nodes as processes, loaded and checked.

Starts 4 validators, 2 business nodes and 1 slim node on loopback (each its own JVM, data under
build/devnet/), waits until every node is ready, then offers the business nodes a series of fixed transaction
rates (an open loop) and prints, per rate, the committed throughput and latency percentiles, the highest rate
sustained with p99 under the target, whether every validator and the slim node agree on height and head hash,
and each role's start-up time and resident memory. The network is stopped at the end unless --keep is given.

Usage: python -m tools.devnet [--rates 50,100,200] [--seconds 20] [--warmup 30] [--keep]
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
# Per node: HTTP (the contract's 9003), gRPC (9004) and, for validators, Raft (9005), each from its own base.
HTTP_BASE_PORT, GRPC_BASE_PORT, RAFT_BASE_PORT = 19100, 19300, 19200
READY_TIMEOUT_SECONDS = 120
# Seven JVMs share two cores here. Measured with `make devnet` (docs/benchmarks.md): with the default tiered
# compilation the C2 compiler threads of seven JVMs keep the cores busy for minutes after start and double the
# commit latency; C1 alone reaches steady state within seconds. Serial GC: small heaps, no GC threads to spare.
JAVA_OPTS = "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"


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

    @property
    def grpc_port(self) -> int:
        return GRPC_BASE_PORT + self.http_port - HTTP_BASE_PORT

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
    upstreams = ",".join(f"{HOST}:{GRPC_BASE_PORT + i}" for i in range(VALIDATORS))
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


def start(node: Node, log_dir: Path, java_opts: list[str]) -> None:
    env = os.environ | node.env
    env |= {"QUARKUS_HTTP_PORT": str(node.http_port), "QUARKUS_HTTP_HOST": HOST}
    env |= {"QUARKUS_GRPC_SERVER_PORT": str(node.grpc_port), "QUARKUS_GRPC_SERVER_HOST": HOST}
    log = (log_dir / f"{node.name}.log").open("wb")
    node.started = time.monotonic()
    node.process = subprocess.Popen(
        # Niced: the load generator shares the two cores and must not fall behind its own schedule, or its
        # delays would be counted as the network's (as if it ran on a machine of its own).
        ["nice", "-n", "5", java(), "--enable-native-access=ALL-UNNAMED", *java_opts, "-jar", str(NODE_JAR)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def http_json(url: str, body: object = None, timeout: float = 2.0) -> tuple[int, object]:
    """GETs ``url`` (POSTs ``body`` as JSON when given): the status and parsed answer (for a refusal, the node's
    problem document; None where the body is not JSON); 0 if nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except (OSError, ValueError):
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
            if http_json(node.url + "/q/health/ready")[0] == 200:
                node.ready_seconds = time.monotonic() - node.started
                pending.remove(node)
        time.sleep(0.2)


@dataclass
class LoadResult:
    offered_tps: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    node_latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def committed_tps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def meets(self, slo_ms: float) -> bool:
        """Every offered transaction committed, at the offered rate, with p99 within ``slo_ms``."""
        return (
            not self.errors
            and len(self.latencies_ms) >= int(self.offered_tps * self.seconds)
            and percentile(self.latencies_ms, 0.99) <= slo_ms
        )


class Connection:
    """One keep-alive HTTP/1.1 connection to a business node, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection(HOST, port))

    async def post(self, path: str, body: bytes) -> tuple[str, bytes]:
        """Sends one request and reads the whole answer: its status code ("closed" if none) and body."""
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        await self.writer.drain()
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        answer = await self.reader.readexactly(length)
        return (status_line.split()[1].decode() if status_line else "closed"), answer

    def close(self) -> None:
        self.writer.close()


async def load(
    run: str, ports: list[int], tps: float, seconds: float, connections_max: int, prefix: str = ""
) -> LoadResult:
    """Offers ``tps`` transactions a second for ``seconds``, whether or not earlier ones were answered.
    ``prefix`` goes before the API's paths (a proxy's path to the node, e.g. the API server's to a Service).

    An open loop: transaction ``i`` is due at ``i / tps`` and its latency counts from then, so a slow answer
    shows up in the figures instead of silently lowering the load (no coordinated omission). Submissions
    alternate between the business nodes, each on an idle keep-alive connection (a new one while fewer
    than ``connections_max`` are open; otherwise it queues, and the wait counts).
    """
    result = LoadResult(tps, seconds)
    idle: dict[int, list[Connection]] = {port: [] for port in ports}
    slots = asyncio.Semaphore(connections_max)
    clock = asyncio.get_running_loop().time

    async def submit(index: int, due: float) -> None:
        port = ports[index % len(ports)]
        async with slots:
            connection = idle[port].pop() if idle[port] else await Connection.open(port)
            body = json.dumps({"id": f"{run}-{index}", "sender": "alice", "recipient": "bob", "amount": 1})
            try:
                status, answer = await connection.post(f"{prefix}/api/v11/transactions", body.encode())
            except (OSError, asyncio.IncompleteReadError):
                status, answer = "closed", b""
            if status == "201":
                result.latencies_ms.append((clock() - due) * 1000)
                result.node_latencies_ms.append(float(json.loads(answer)["latencyMillis"]))
            else:
                result.errors[status] = result.errors.get(status, 0) + 1
            if status == "closed":
                connection.close()
            else:
                idle[port].append(connection)

    started = clock()
    tasks = []
    for index in range(int(tps * seconds)):
        due = started + index / tps
        if (wait := due - clock()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(submit(index, due)))
    await asyncio.gather(*tasks)
    for pool in idle.values():
        for connection in pool:
            connection.close()
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
            status, block = http_json(node.url + "/api/v11/blocks/latest")
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


def rates(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive rates separated by commas, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devnet", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        type=rates,
        default=rates("50,100,200,300,400"),
        help="offered loads in transactions a second, tried in order (comma-separated)",
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of the load at each rate")
    parser.add_argument("--warmup", type=float, default=30, help="load at the first rate before measuring")
    parser.add_argument("--slo-ms", type=float, default=100, help="the p99 latency a rate must meet")
    parser.add_argument("--connections", type=int, default=256, help="most connections open at once")
    parser.add_argument("--all-rates", action="store_true", help="go on after a rate misses the target")
    parser.add_argument("--java-opts", default=JAVA_OPTS, help="JVM options of every node")
    parser.add_argument("--keep", action="store_true", help="leave the network running")
    args = parser.parse_args(argv)
    if not NODE_JAR.exists():
        raise SystemExit(f"devnet: {NODE_JAR} is missing; `make devnet` builds it")

    shutil.rmtree(DEVNET, ignore_errors=True)
    (DEVNET / "logs").mkdir(parents=True)
    nodes = plan()
    try:
        for node in nodes:
            start(node, DEVNET / "logs", args.java_opts.split())
        await_ready(nodes)
        business = [n.http_port for n in nodes if n.role == "business"]
        if args.warmup > 0:
            asyncio.run(load("warmup", business, args.rates[0], args.warmup, args.connections))
        results: list[LoadResult] = []
        for step, tps in enumerate(args.rates):
            results.append(asyncio.run(load(f"rate{step}", business, tps, args.seconds, args.connections)))
            if not results[-1].meets(args.slo_ms) and not args.all_rates:
                break
        agreed, verdict = agreement([n for n in nodes if n.role == "validator"], nodes[-1])
        print(report(args, nodes, len(business), results, verdict))
        if args.keep:
            print("  (left running; stop with: pkill -f quarkus-run.jar)")
        committed = sum(len(r.latencies_ms) for r in results)
        return 0 if agreed and committed > 0 else 1
    finally:
        if not args.keep:
            stop(nodes)


def report(args: argparse.Namespace, nodes: list[Node], business: int, results: list[LoadResult], verdict: str) -> str:
    table = [("offered", "committed", "p50", "p99", "max", "node p99", "errors", f"p99 <= {args.slo_ms:.0f} ms")]
    for r in results:
        table.append(
            (
                f"{r.offered_tps:.0f} TPS",
                f"{r.committed_tps:.0f} TPS",
                f"{percentile(r.latencies_ms, 0.50):.1f} ms",
                f"{percentile(r.latencies_ms, 0.99):.1f} ms",
                f"{max(r.latencies_ms, default=float('nan')):.1f} ms",
                f"{percentile(r.node_latencies_ms, 0.99):.1f} ms",
                json.dumps(r.errors) if r.errors else "none",
                "yes" if r.meets(args.slo_ms) else "no",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        "",
        "== devnet ==",
        f"  open-loop load over {business} business nodes: {args.seconds:.0f} s per rate, after "
        f"{args.warmup:.0f} s of warm-up at {args.rates[0]:.0f} TPS; latency from each transaction's due time",
    ]
    lines += ["  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    met = [r.offered_tps for r in results if r.meets(args.slo_ms)]
    lines.append(
        f"  sustained  {max(met):.0f} TPS with p99 under {args.slo_ms:.0f} ms"
        if met
        else f"  sustained  none of the offered rates with p99 under {args.slo_ms:.0f} ms"
    )
    lines.append(f"  agreement  {verdict}")
    for role in ("validator", "business", "slim"):
        of_role = [n for n in nodes if n.role == role]
        ready = max(n.ready_seconds or 0 for n in of_role)
        rss = max(n.rss_mib() for n in of_role)
        lines.append(f"  {role:<9}  {len(of_role)}, ready in {ready:.1f} s (slowest), RSS {rss:.0f} MiB (largest)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
