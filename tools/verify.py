"""`make verify STACK=local`: the stack's rendered manifests run as containers, then checked as the pipeline checks
a deployment: every node healthy (three tries of 30 s), smoke transactions committed through the business nodes,
and every validator and the slim node agreeing on the chain that holds them.

A rendered stack has no cluster, so its manifests are run on the Docker engine the way a kubelet would run them:
one container per pod (the StatefulSet's replicas, the autoscaler's floor of business pods, one slim pod), with
the pod's image by digest, its environment (the settings ConfigMap, field references, `$(VAR)` expansion), its
Secret and ConfigMap volumes as read-only files, a volume for the validators' data, its security context
(read-only root, user, no capability, no privilege escalation) and its limits, on one network where each pod
answers to the DNS names the manifests use (`validator-0.validator-peers.<ns>.svc`, `business.<ns>.svc`).

Usage: python -m tools.verify [--stack local] [--manifests DIR] [--keep] [--json FILE]
Exit 0 when verified, 1 when a check fails (the report says which), 2 on bad input.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from components.metadata import COMPONENT_LABEL
from components.roles import HTTP_PORT
from stack_config.kinds import cpu_millicores, memory_bytes
from tools.devnet import http_json as http
from tools.images import DOCKER

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "aurigraph-verify"
HEALTH_TRIES, HEALTH_TIMEOUT_SECONDS = 3, 30
SMOKE_TRANSACTIONS = 10
# How far behind the newest block a validator or slim node may be while the chains are compared (a slim node
# counts as ready within the same lag: the node's aurigraph.sync-lag-ready-max).
LAG_BLOCKS_MAX = 50


class VerifyError(Exception):
    """Bad input: no rendered manifests, or manifests this runner cannot run."""


@dataclass
class Pod:
    name: str
    role: str
    image: str
    env: dict[str, str]
    files: dict[str, dict[str, bytes]]  # mount path -> file name -> content
    aliases: list[str]
    data_dir: str | None
    memory: str | None
    cpus: str | None
    user: str | None
    container: str = ""
    url: str = ""

    def call(self, path: str, body: object = None, timeout: float = 2.0) -> tuple[int, object]:
        return http(self.url + path, body, timeout=timeout)


class Endpoint(Protocol):
    """What the smoke and agreement checks ask: a node's HTTP API (a container here, a pod or Service through the
    cluster's API server in tools/verify_cluster.py)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    def call(self, path: str, body: object = None, timeout: float = 2.0) -> tuple[int, object]: ...


@dataclass
class Report:
    stack: str
    images: dict[str, str] = field(default_factory=dict)
    healthy: dict[str, float] = field(default_factory=dict)  # pod -> seconds to ready
    unhealthy: dict[str, str] = field(default_factory=dict)  # pod -> why
    smoke_committed: int = 0
    smoke_failed: list[str] = field(default_factory=list)
    agreement: str = ""
    performance: str = ""  # the probe's figures and the p99 limit applied (tools/performance.py)
    performance_failed: list[str] = field(default_factory=list)
    performance_baseline: str = ""  # what a verified deployment records for the next to be judged against
    verified: bool = False


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check, timeout=timeout)


def load_manifests(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.rglob("*.yaml"))
    if not files:
        raise VerifyError(f"no rendered manifests under {directory}: run `make up STACK=<stack>` first")
    return [document for path in files for document in yaml.safe_load_all(path.read_text()) if document]


def _quantity_memory(value: str | None) -> str | None:
    """A Kubernetes memory quantity as Docker reads it (bytes)."""
    if value is None:
        return None
    return str(memory_bytes(value))


def _quantity_cpu(value: str | None) -> str | None:
    if value is None:
        return None
    return f"{cpu_millicores(value) / 1000:g}"


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` references to earlier variables."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def plan(documents: list[dict[str, Any]]) -> list[Pod]:
    """The pods the manifests describe, in start order (validators first)."""
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    config_maps, secrets = by_kind.get("ConfigMap", {}), by_kind.get("Secret", {})
    pods: list[Pod] = []
    floors = {
        h["spec"]["scaleTargetRef"]["name"]: int(h["spec"].get("minReplicas", 1))
        for h in by_kind.get("HorizontalPodAutoscaler", {}).values()
    }
    for kind in ("StatefulSet", "Deployment", "DaemonSet"):
        for workload in by_kind.get(kind, {}).values():
            name, namespace = workload["metadata"]["name"], workload["metadata"]["namespace"]
            if kind == "StatefulSet":
                count = int(workload["spec"].get("replicas", 1))
                names = [f"{name}-{n}" for n in range(count)]
            elif kind == "Deployment":
                count = int(workload["spec"].get("replicas", floors.get(name, 1)))
                names = [f"{name}-{n}" for n in range(count)]
            else:
                names = [f"{name}-0"]
            for pod_name in names:
                pods.append(_pod(kind, workload, pod_name, namespace, config_maps, secrets))
    if not pods:
        raise VerifyError("the manifests hold no StatefulSet, Deployment or DaemonSet to run")
    return pods


def _pod(
    kind: str,
    workload: dict[str, Any],
    pod_name: str,
    namespace: str,
    config_maps: Mapping[str, dict[str, Any]],
    secrets: Mapping[str, dict[str, Any]],
) -> Pod:
    template = workload["spec"]["template"]
    spec = template["spec"]
    (container,) = spec["containers"]
    role = template["metadata"]["labels"].get(COMPONENT_LABEL, workload["metadata"]["name"])
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace, "spec.nodeName": f"{PREFIX}-node-0"}
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = _expand(variable["value"], env)
        else:
            env[variable["name"]] = fields[variable["valueFrom"]["fieldRef"]["fieldPath"]]
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    files: dict[str, dict[str, bytes]] = {}
    data_dir = None
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if "secret" in volume:
            secret = secrets[volume["secret"]["secretName"]]
            content = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
            content |= {k: v.encode() for k, v in secret.get("stringData", {}).items()}
            files[mount["mountPath"]] = content
        elif "configMap" in volume:
            files[mount["mountPath"]] = {
                k: v.encode() for k, v in config_maps[volume["configMap"]["name"]].get("data", {}).items()
            }
        elif "emptyDir" not in volume:  # a volume claim (the StatefulSet's `data`)
            data_dir = mount["mountPath"]
    if kind == "StatefulSet":
        aliases = [f"{pod_name}.{workload['spec']['serviceName']}.{namespace}.svc"]
    else:
        aliases = [f"{workload['metadata']['name']}.{namespace}.svc"]
    limits = container.get("resources", {}).get("limits", {})
    security = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
    user = str(security["runAsUser"]) if "runAsUser" in security else None
    return Pod(
        name=pod_name,
        role=role,
        image=container["image"],
        env=env,
        files=files,
        aliases=aliases,
        data_dir=data_dir,
        memory=_quantity_memory(limits.get("memory")),
        cpus=_quantity_cpu(limits.get("cpu")),
        user=user,
    )


@contextmanager
def running(pods: list[Pod], stack: str) -> Iterator[list[Pod]]:
    """Starts every pod on a network of its own; removes containers, volumes, network and files afterwards."""
    network = f"{PREFIX}-{stack}"
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    cleanup(network, pods)
    docker("network", "create", network)
    try:
        for pod in pods:
            pod.container = f"{network}-{pod.name}"
            args = ["run", "-d", "--name", pod.container, "--network", network, "--hostname", pod.name]
            for alias in pod.aliases:
                args += ["--network-alias", alias]
            args += ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
            args += ["-p", f"127.0.0.1::{HTTP_PORT}"]
            if pod.user:
                args += ["--user", pod.user]
            if pod.memory:
                args += ["--memory", pod.memory]
            if pod.cpus:
                args += ["--cpus", pod.cpus]
            for mount_path, content in pod.files.items():
                directory = work / pod.name / mount_path.strip("/").replace("/", "_")
                directory.mkdir(parents=True)
                for file_name, data in content.items():
                    (directory / file_name).write_bytes(data)
                    (directory / file_name).chmod(0o444)
                directory.chmod(0o555)
                args += ["-v", f"{directory}:{mount_path}:ro"]
            if pod.data_dir:
                args += ["-v", f"{pod.container}:{pod.data_dir}"]
            for name, value in pod.env.items():
                args += ["-e", f"{name}={value}"]
            docker(*args, pod.image)
            port = docker("port", pod.container, f"{HTTP_PORT}/tcp").stdout.split()[0].rsplit(":", 1)[1]
            pod.url = f"http://127.0.0.1:{port}"
        yield pods
    finally:
        cleanup(network, pods)
        shutil.rmtree(work, ignore_errors=True)


def cleanup(network: str, pods: list[Pod]) -> None:
    names = [f"{network}-{pod.name}" for pod in pods]
    docker("rm", "-f", *names, check=False)
    docker("volume", "rm", "-f", *names, check=False)
    docker("network", "rm", network, check=False)


def check_health(pods: list[Pod], report: Report) -> None:
    """Each pod gets three tries of 30 seconds to answer ready; all wait at once, as a rollout's pods do."""
    started = time.monotonic()
    pending = {pod.name: pod for pod in pods}
    for attempt in range(1, HEALTH_TRIES + 1):
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while pending and time.monotonic() < deadline:
            for name, pod in list(pending.items()):
                if http(pod.url + "/q/health/ready", timeout=2)[0] == 200:
                    report.healthy[name] = round(time.monotonic() - started, 1)
                    del pending[name]
            time.sleep(0.5)
        if not pending:
            return
        print(f"verify: health try {attempt} of {HEALTH_TRIES}: not ready yet: {', '.join(pending)}", flush=True)
    for name, pod in pending.items():
        state = docker("inspect", "-f", "{{.State.Status}} (exit {{.State.ExitCode}})", pod.container, check=False)
        tries = f"{HEALTH_TRIES} tries of {HEALTH_TIMEOUT_SECONDS} s"
        report.unhealthy[name] = f"not ready after {tries}: {state.stdout.strip()}"


def smoke(pods: Sequence[Endpoint], report: Report) -> None:
    business = [pod for pod in pods if pod.role == "business"]
    run = f"smoke-{int(time.time())}"
    for n in range(SMOKE_TRANSACTIONS):
        pod = business[n % len(business)]
        body = {"id": f"{run}-{n}", "sender": "pipeline", "recipient": "verifier", "amount": 1}
        status, answer = pod.call("/api/v11/transactions", body, timeout=30)
        if status == 201 and isinstance(answer, dict) and answer.get("status") == "committed":
            report.smoke_committed += 1
        else:
            report.smoke_failed.append(f"{body['id']} via {pod.name}: HTTP {status}")


def agreement(pods: Sequence[Endpoint], report: Report) -> bool:
    """The validators and the slim nodes hold the same chain: at the lowest of their newest blocks, every one has
    the same block, and none trails the newest by more than LAG_BLOCKS_MAX. Under traffic the newest blocks differ
    for a moment (they are asked one after another); the history below them must not."""
    watched = [pod for pod in pods if pod.role in ("validator", "slim")]
    heads: dict[str, tuple[int, str]] = {}
    for _ in range(60):
        heads = {}
        for pod in watched:
            status, block = pod.call("/api/v11/blocks/latest", timeout=5)
            if status == 200 and isinstance(block, dict):
                heads[pod.name] = (int(block["height"]), str(block["hash"]))
        if len(heads) == len(watched):
            lowest, highest = min(h for h, _ in heads.values()), max(h for h, _ in heads.values())
            at_lowest = {name: block_hash(pod, lowest) for name, pod in ((p.name, p) for p in watched)}
            hashes = set(at_lowest.values())
            if len(hashes) == 1 and None not in hashes and highest - lowest <= LAG_BLOCKS_MAX:
                digest = str(next(iter(hashes)))
                behind = f" (the newest {highest - lowest} ahead)" if highest > lowest else ""
                report.agreement = f"{len(heads)} nodes at height {lowest}, block {digest[:16]}{behind}"
                return True
        time.sleep(0.5)
    report.agreement = "disagree: " + ", ".join(f"{n}={h}@{d[:12]}" for n, (h, d) in sorted(heads.items()))
    return False


def block_hash(pod: Endpoint, height: int) -> str | None:
    """The hash of ``pod``'s block at ``height``, or None."""
    status, blocks = pod.call(f"/api/v11/blocks?after={height - 1}&limit=1", timeout=5)
    if status == 200 and isinstance(blocks, list) and blocks and isinstance(blocks[0], dict):
        return str(blocks[0]["hash"])
    return None


def verify(stack: str, manifests: Path, keep: bool = False) -> Report:
    pods = plan(load_manifests(manifests))
    report = Report(stack=stack, images={pod.role: pod.image for pod in pods})
    with running(pods, stack):
        check_health(pods, report)
        if not report.unhealthy:
            smoke(pods, report)
            agreed = agreement(pods, report)
            report.verified = agreed and not report.smoke_failed
        if keep:
            print("verify: --keep: the containers run until Enter is pressed", flush=True)
            input()
    return report


def verify_stack(
    project: Path,
    stack: str,
    manifests: Path,
    keep: bool = False,
    baseline: Callable[[], str | None] | None = None,
) -> Report:
    """A stack applied to a cluster (its config names a kubeconfig) is checked there (tools/verify_cluster.py),
    its performance judged against what ``baseline`` reads (the last verified figures); a rendered one as
    containers from ``manifests``."""
    from tools import verify_cluster  # it builds on this module

    target = verify_cluster.target_of(project, stack)
    return verify(stack, manifests, keep) if target is None else verify_cluster.verify(stack, target, baseline)


def describe(report: Report) -> str:
    lines = [f"verify {report.stack}: {'VERIFIED' if report.verified else 'FAILED'}"]
    for role, image in sorted(report.images.items()):
        lines.append(f"  {role:<10} {image}")
    if report.healthy:
        slowest = max(report.healthy.values())
        lines.append(f"  healthy    {len(report.healthy)} pods, the slowest ready after {slowest} s")
    for name, why in sorted(report.unhealthy.items()):
        lines.append(f"  unhealthy  {name}: {why}")
    if report.smoke_committed or report.smoke_failed:
        lines.append(f"  smoke      {report.smoke_committed} of {SMOKE_TRANSACTIONS} transactions committed")
    for failure in report.smoke_failed:
        lines.append(f"  refused    {failure}")
    if report.agreement:
        lines.append(f"  agreement  {report.agreement}")
    if report.performance:
        lines.append(f"  performance {report.performance}")
    for failure in report.performance_failed:
        lines.append(f"  too slow   {failure}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.verify", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--manifests", type=Path, help="rendered manifests (default build/manifests/<stack>)")
    parser.add_argument("--keep", action="store_true", help="leave the containers running until Enter")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    manifests = args.manifests or ROOT / "build" / "manifests" / args.stack
    try:
        report = (
            verify_stack(ROOT, args.stack, manifests, args.keep)
            if args.manifests is None
            else verify(args.stack, manifests, args.keep)
        )
    except VerifyError as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2
    print(describe(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.__dict__, indent=2) + "\n")
    return 0 if report.verified else 1


if __name__ == "__main__":
    sys.exit(main())
