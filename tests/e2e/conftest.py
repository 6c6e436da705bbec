"""The end-to-end suite: the whole program applied by `pulumi up` to a real multi-node Kubernetes cluster (the kind
stack on the cluster `make k8s-up` makes), with real provider calls, then used as an operator would.

`make e2e` makes the cluster first. Without one these tests fail, never skip: in CI a missing cluster is a failure.
The stack runs in a copy of the project with its own file backend, and is destroyed at the end (the cluster stays
for `make k8s-down`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from components.roles import HTTP_PORT as PORT
from tests.integration.conftest import POLICY_PACK, ROOT, local_env, policy_config, project_copy
from tools.cluster import KUBECONFIG, KUBECTL, kubectl
from tools.devnet import http_json

STACK = "kind"
NAMESPACE = "aurigraph"


def kubectl_json(*arguments: str) -> Any:
    return json.loads(kubectl(*arguments, "-o", "json"))


@dataclass
class Pod:
    name: str
    role: str
    ip: str
    node: str
    ready: bool

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{PORT}"


def pods(namespace: str = NAMESPACE) -> list[Pod]:
    found = []
    for item in kubectl_json("-n", namespace, "get", "pods")["items"]:
        conditions = {c["type"]: c["status"] for c in item["status"].get("conditions", [])}
        found.append(
            Pod(
                name=item["metadata"]["name"],
                role=item["metadata"]["labels"].get("app.kubernetes.io/component", ""),
                ip=item["status"].get("podIP", ""),
                node=item["spec"].get("nodeName", ""),
                ready=conditions.get("Ready") == "True" and not item["metadata"].get("deletionTimestamp"),
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
    for kind in ("statefulsets", "deployments", "daemonsets"):
        for item in kubectl_json("-n", namespace, "get", kind)["items"]:
            role = item["metadata"]["labels"].get("app.kubernetes.io/component", "")
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

    def up(self, **config: str) -> auto.UpResult:
        for key, value in config.items():
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
    deployed.up()
    try:
        yield deployed
    finally:
        stack.destroy(color="never", on_output=print)


def commit(url: str, transaction_id: str, timeout: float = 30) -> tuple[int, Any]:
    body = {"id": transaction_id, "sender": "e2e", "recipient": "operator", "amount": 1}
    return http_json(url + "/api/v11/transactions", body, timeout=timeout)
