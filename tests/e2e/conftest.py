"""The end-to-end suite: the whole program applied by `pulumi up` to a real multi-node Kubernetes cluster (the kind
stack on the cluster `make k8s-up` makes), with real provider calls, then used as an operator would.

`make e2e` makes the cluster first. Without one these tests fail, never skip: in CI a missing cluster is a failure.
The stack runs in a copy of the project with its own file backend, and is destroyed at the end (the cluster stays
for `make k8s-down`).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from components.metadata import COMPONENT_LABEL
from components.roles import HTTP_PORT as PORT
from tests.integration.conftest import POLICY_PACK, ROOT, local_env, policy_config, project_copy
from tools.cluster import KUBECONFIG, KUBECTL, kubectl
from tools.devnet import http_json, percentile
from tools.images import BUILDER, BUILDX
from tools.verify_cluster import KINDS

STACK = "kind"
NAMESPACE = "aurigraph"
# What the tests measured (times, loads, heights), one line each: `make e2e` prints it after the run.
REPORT = ROOT / "build" / "e2e" / "report.txt"


@pytest.fixture(scope="session", autouse=True)
def report_file() -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("")


def record(line: str) -> None:
    """Keeps one measured line for the run's report (and shows it with the test's output)."""
    print(line)
    with REPORT.open("a") as out:
        out.write(line.strip() + "\n")


def kubectl_json(*arguments: str) -> Any:
    return json.loads(kubectl(*arguments, "-o", "json"))


@dataclass
class Pod:
    name: str
    role: str
    ip: str
    node: str
    ready: bool
    image: str

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{PORT}"


def pods(namespace: str = NAMESPACE) -> list[Pod]:
    found = []
    for item in kubectl_json("-n", namespace, "get", "pods")["items"]:
        if item["status"].get("phase") in ("Failed", "Succeeded"):
            continue  # finished (evicted, say): its controller replaces it
        conditions = {c["type"]: c["status"] for c in item["status"].get("conditions", [])}
        found.append(
            Pod(
                name=item["metadata"]["name"],
                role=item["metadata"]["labels"].get(COMPONENT_LABEL, ""),
                ip=item["status"].get("podIP", ""),
                node=item["spec"].get("nodeName", ""),
                ready=conditions.get("Ready") == "True" and not item["metadata"].get("deletionTimestamp"),
                image=item["spec"]["containers"][0]["image"],
            )
        )
    return found


def service_url(name: str, namespace: str = NAMESPACE) -> str:
    """The Service's address and its `http` port, as a client in the cluster uses it (this machine has a route)."""
    service = kubectl_json("-n", namespace, "get", "service", name)
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http")
    return f"http://{service['spec']['clusterIP']}:{port}"


def desired_pods(namespace: str = NAMESPACE) -> dict[str, int]:
    """Role -> how many pods its workload wants now: the StatefulSet's and Deployment's replicas (the autoscaler
    sets the latter), the DaemonSet's scheduled count."""
    desired: dict[str, int] = {}
    for kind in KINDS:
        for item in kubectl_json("-n", namespace, "get", kind)["items"]:
            role = item["metadata"]["labels"].get(COMPONENT_LABEL, "")
            count = (
                item["status"].get("desiredNumberScheduled", 0) if kind == "daemonsets" else item["spec"]["replicas"]
            )
            desired[role] = desired.get(role, 0) + int(count)
    return desired


def await_pods_ready(timeout: float = 600) -> list[Pod]:
    """Waits until every workload has exactly the pods it wants, all Ready and none terminating."""
    deadline = time.monotonic() + timeout
    current: list[Pod] = []
    while time.monotonic() < deadline:
        expected = desired_pods()
        current = pods()
        counts = {role: sum(1 for p in current if p.role == role and p.ready) for role in expected}
        if expected and counts == expected and len(current) == sum(expected.values()):
            return current
        time.sleep(2)
    raise AssertionError(f"pods not ready within {timeout} s: {[(p.name, p.ready) for p in current]}")


@dataclass
class Deployment:
    project: Path
    env: dict[str, str]
    stack: auto.Stack
    outputs: dict[str, Any]

    def up(self, config: Mapping[str, str] | None = None) -> auto.UpResult:
        """`pulumi up` with the policy pack, after setting ``config`` (paths such as `validators.partition`)."""
        for key, value in (config or {}).items():
            self.stack.set_config(key, auto.ConfigValue(value), path=True)
        result = self.stack.up(
            color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[policy_config(STACK)], on_output=print
        )
        self.outputs = {name: output.value for name, output in result.outputs.items()}
        return result


@pytest.fixture(scope="session")
def cluster() -> list[dict[str, Any]]:
    """The cluster's nodes: one control plane and at least two workers, all Ready."""
    if not KUBECONFIG.exists() or not KUBECTL.exists():
        pytest.fail("no cluster: run these tests through `make e2e`, which runs `make k8s-up` first")
    nodes: list[dict[str, Any]] = kubectl_json("get", "nodes")["items"]
    ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
    workers = [n for n in ready if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]]
    assert len(ready) == len(nodes) and len(workers) >= 2, f"need a control plane and 2 Ready workers: {nodes}"
    return nodes


@pytest.fixture(scope="session")
def deployment(cluster: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`pulumi up` of the kind stack, in a copy of the project with its own backend; destroyed at the end."""
    project = project_copy(tmp_path_factory.mktemp("project"))
    for name in ("Pulumi.kind.yaml",):
        (project / name).write_text((ROOT / name).read_text())
    (project / "build" / "kubeconfig").mkdir(parents=True)
    (project / "build" / "kubeconfig" / "kind.yaml").symlink_to(KUBECONFIG)
    env = local_env(project)
    workspace = auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=env, secrets_provider="passphrase")
    stack = auto.create_or_select_stack(STACK, work_dir=str(project), opts=workspace)
    deployed = Deployment(project, env, stack, {})
    started = time.monotonic()
    result = deployed.up()
    changes = ", ".join(f"{count} {op}" for op, count in sorted((result.summary.resource_changes or {}).items()))
    record(
        f"pulumi up of the kind stack (images built and pushed, every workload rolled out): {changes}; "
        f"{time.monotonic() - started:.0f} s"
    )
    try:
        yield deployed
    finally:
        started = time.monotonic()
        stack.destroy(color="never", on_output=print)
        record(f"pulumi destroy of the kind stack: {time.monotonic() - started:.0f} s")


def commit(url: str, transaction_id: str, timeout: float = 30) -> tuple[int, Any]:
    """The status and parsed answer: a receipt, or for a refusal the node's problem document."""
    body = {"id": transaction_id, "sender": "e2e", "recipient": "operator", "amount": 1}
    return http_json(url + "/api/v11/transactions", body, timeout=timeout)


@dataclass(frozen=True)
class Outcome:
    transaction_id: str
    sent: float  # time.monotonic() when sent
    seconds: float
    status: int
    problem: str = ""  # the answer's problem type (`urn:aurigraph:problem:<slug>`: its slug) and cause, if any

    @property
    def committed(self) -> bool:
        return self.status == 201


@dataclass
class Load:
    """Transactions offered to ``url`` at ``rate`` a second from background threads, as a client would during a
    fault or an upgrade: one connection per request (a client reconnecting finds the Service's current pods), no
    retries, every outcome kept."""

    url: str
    name: str
    rate: float = 10.0
    timeout: float = 15.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=int(self.rate * self.timeout) + 1)
        self._thread = threading.Thread(target=self._offer, daemon=True)
        self.offered = 0

    def _send(self, transaction_id: str, due: float) -> None:
        try:
            status, receipt = commit(self.url, transaction_id, timeout=self.timeout)
        except Exception:  # any client-side failure (a connection cut mid-answer, say) is a failed request
            status, receipt = -2, None
        if status == 201 and not (isinstance(receipt, dict) and receipt.get("status") == "committed"):
            status = -1  # a 201 that is not a commit receipt counts as a failure
        problem = str(receipt.get("type", "")).rsplit(":", 1)[-1] if isinstance(receipt, dict) else ""
        # A business node names the cause of a commit it could not get: "... did not commit it (SomeException)".
        cause = re.search(r"\((\w+(?:Exception|Error))\)", str(receipt.get("detail", ""))) if problem else None
        if cause:
            problem += f" {cause.group(1)}"
        with self._lock:
            self.outcomes.append(Outcome(transaction_id, due, time.monotonic() - due, status, problem))

    def _offer(self) -> None:
        started, index = time.monotonic(), 0
        while not self._stop.is_set():
            due = started + index / self.rate
            if (wait := due - time.monotonic()) > 0:
                self._stop.wait(wait)
                continue
            self._pool.submit(self._send, f"{self.name}-{index}", due)
            index += 1
        self.offered = index

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        assert len(self.outcomes) == self.offered, f"{self.offered} offered, {len(self.outcomes)} answered"

    @property
    def committed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.committed]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.committed]

    def committed_after(self, moment: float) -> int:
        return sum(1 for o in self.committed if o.sent >= moment)

    def committed_between(self, start: float, end: float) -> int:
        return sum(1 for o in self.committed if start <= o.sent < end)

    def summary(self) -> str:
        latencies = [o.seconds * 1000 for o in self.committed]
        failures: dict[str, int] = {}
        for outcome in self.failed:
            kind = f"{outcome.status} {outcome.problem}".strip()
            failures[kind] = failures.get(kind, 0) + 1
        return (
            f"{len(self.outcomes)} offered at {self.rate:g}/s, {len(latencies)} committed, {len(self.failed)} failed"
            f" {failures or ''}; p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms"
        )


class Sampler:
    """Calls ``sample`` every ``interval`` seconds in a background thread until stopped; counts the samples taken
    and the ones that failed (a check that silently stopped sampling would prove nothing)."""

    def __init__(self, sample: Callable[[], None], interval: float = 1.0) -> None:
        self.sample, self.interval = sample, interval
        self.taken = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
                self.taken += 1
            except Exception:
                self.failed += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        assert self.taken > 0 and self.failed <= self.taken, f"{self.taken} samples taken, {self.failed} failed"


def validators_info(validators: list[Pod] | None = None) -> dict[str, dict[str, Any]]:
    """Each answering validator's `/api/v11/info` (role, revision, height, consensus), by pod name."""
    found = {}
    for pod in validators if validators is not None else [p for p in pods() if p.role == "validator" and p.ip]:
        status, info = http_json(pod.url + "/api/v11/info")
        if status == 200 and isinstance(info, dict) and "consensus" in info:
            found[pod.name] = info
    return found


def await_leader(after_term: int = -1, timeout: float = 90) -> tuple[str, int]:
    """The validator that leads a term above ``after_term`` once only one does: (pod name, term)."""
    deadline = time.monotonic() + timeout
    leaders: list[tuple[str, int]] = []
    while time.monotonic() < deadline:
        info = validators_info()
        leaders = [(name, i["consensus"]["term"]) for name, i in info.items() if i["consensus"]["leader"]]
        if len(leaders) == 1 and leaders[0][1] > after_term:
            return leaders[0]
        time.sleep(0.5)
    raise AssertionError(f"no single leader of a term above {after_term} within {timeout} s: {leaders}")


def block_at(pod: Pod, height: int) -> dict[str, Any] | None:
    status, blocks = http_json(f"{pod.url}/api/v11/blocks?after={height - 1}&limit=1", timeout=5)
    return blocks[0] if status == 200 and isinstance(blocks, list) and blocks else None


def agreement(timeout: float = 60) -> tuple[int, str]:
    """The validators' ledgers agree: at the lowest head among them, every one holds the same block. Works under
    load (the heads differ for a moment; the history up to the lowest must not). Returns (height, hash)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        validators = [p for p in pods() if p.role == "validator"]
        heads = {}
        for pod in validators:
            status, block = http_json(pod.url + "/api/v11/blocks/latest", timeout=5) if pod.ready else (0, None)
            if status == 200 and isinstance(block, dict):
                heads[pod.name] = int(block["height"])
        if validators and len(heads) == len(validators):
            height = min(heads.values())
            blocks = {pod.name: block_at(pod, height) for pod in validators}
            seen = {name: block and block["hash"] for name, block in blocks.items()}
            if None not in seen.values() and len(set(seen.values())) == 1:
                return height, str(next(iter(seen.values())))
        else:
            seen = heads
        time.sleep(1)
    raise AssertionError(f"the validators do not agree within {timeout} s: {seen}")


def ledger_transactions(pod: Pod) -> set[str]:
    """Every transaction id in ``pod``'s ledger, read block by block."""
    found: set[str] = set()
    after = 0
    while True:
        status, blocks = http_json(f"{pod.url}/api/v11/blocks?after={after}&limit=1000", timeout=30)
        assert status == 200 and isinstance(blocks, list), (pod.name, status)
        if not blocks:
            return found
        found.update(t for block in blocks for t in block["transactionIds"])
        after = int(blocks[-1]["height"])


def derived_image(reference: str, tag: str, *instructions: str) -> str:
    """An image made FROM ``reference`` with ``instructions`` added, pushed to the same repository as ``tag``
    (by the project's BuildKit): its digest-pinned reference, as a release's would be."""
    repository = reference.split("@", 1)[0]
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Dockerfile").write_text("\n".join([f"FROM {reference}", *instructions]) + "\n")
        metadata = Path(context) / "metadata.json"
        result = subprocess.run(
            [
                BUILDX,
                "build",
                "--builder",
                BUILDER,
                "--progress=plain",
                "--provenance=false",
                "--metadata-file",
                str(metadata),
                "--output",
                "type=registry",
                "-t",
                f"{repository}:{tag}",
                context,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return f"{repository}@{json.loads(metadata.read_text())['containerimage.digest']}"


def deployed_images(deployment: Deployment) -> dict[str, str]:
    """Role -> the digest-pinned image the stack's last `up` deployed (its `deployedImages` output)."""
    images = deployment.stack.outputs()["deployedImages"].value
    assert sorted(images) == ["business", "slim", "validator"] and all("@sha256:" in i for i in images.values())
    return dict(images)


def references_config(images: Mapping[str, str]) -> dict[str, str]:
    """The stack config that runs exactly ``images`` (what the pipeline promotes or rolls back to)."""
    return {f"images.references.{role}": reference for role, reference in images.items()}
