"""The pipeline's verification of a stack applied to a cluster (one whose config names a kubeconfig): the same
checks `tools/verify.py` makes on a rendered stack, asked of the running deployment.

- **health**: every node workload has all the pods it wants, each ready and running the workload's current image,
  within three tries of 30 s; a pod that is not says why (its container's waiting reason, e.g. CrashLoopBackOff);
- **smoke**: transactions committed through the business Service;
- **agreement**: every validator and slim pod holds the same block at the lowest of their heads (tools/verify.py);
- **performance**: a probe load through the business Service, measured by the cluster's Prometheus and judged
  against the alerting rules' objectives and the stack's last verified figures (tools/performance.py).

The nodes are reached through the cluster's API server (its proxy to pods and Services), with `kubectl` and the
stack's kubeconfig: this works from wherever `pulumi up` ran, with no route into the cluster. The answers' HTTP
statuses are read from kubectl's request log (`-v=6`). The probe load and Prometheus' queries go through a
`kubectl proxy` on loopback instead (one process for thousands of requests).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from components.metadata import COMPONENT_LABEL
from components.pod import WORKLOAD_TYPES
from components.roles import HTTP_PORT
from stack_config.loader import ConfigError, defaults, load_section, read_stack_file
from stack_config.schema import PROJECT, MonitoringSettings, StackConfig, VerificationSettings
from tools import performance
from tools.verify import HEALTH_TIMEOUT_SECONDS, HEALTH_TRIES, Report, VerifyError, agreement, smoke

KINDS = [kind.rsplit(":", 1)[1].lower() + "s" for kind in WORKLOAD_TYPES]  # statefulsets, deployments, daemonsets
# kubectl -v=6 logs each answer: `"Response" verb="POST" url="https://..." status="201 Created" milliseconds=31`
# (older releases: `POST https://... 201 Created in 31 milliseconds`).
NAMESPACE_DEFAULT = next(f.metadata["default"] for f in fields(StackConfig) if f.name == "namespace")
STATUS_LINE = re.compile(r'(?:\bstatus="|\b(?:GET|POST) \S+ )(\d{3})\b')
PROXY_LINE = re.compile(r"Starting to serve on 127\.0\.0\.1:(\d+)")


def kubectl_program() -> str:
    """$KUBECTL, else the one `make kind-image` builds (the kind cluster's release), else `kubectl` on PATH."""
    from tools.cluster import KUBECTL

    found = os.environ.get("KUBECTL") or (str(KUBECTL) if KUBECTL.exists() else None) or shutil.which("kubectl")
    if not found:
        raise VerifyError("verifying a cluster needs kubectl: put it on PATH or name it in $KUBECTL")
    return found


@dataclass(frozen=True)
class Target:
    """The cluster and namespace a stack deploys to."""

    kubeconfig: Path
    context: str | None
    namespace: str
    monitoring_namespace: str = "monitoring"
    verification: VerificationSettings = field(default_factory=lambda: defaults(VerificationSettings))

    def kubectl(
        self, *arguments: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        command = [kubectl_program(), "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            command += ["--context", self.context]
        return subprocess.run(
            [*command, *arguments], input=stdin, capture_output=True, text=True, check=False, timeout=timeout
        )

    def objects(self, kind: str) -> list[dict[str, Any]]:
        result = self.kubectl("-n", self.namespace, "get", kind, "-o", "json")
        if result.returncode != 0:
            raise VerifyError(f"cannot list {kind} in {self.namespace}: {result.stderr.strip()}")
        items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
        return items

    def call(self, path: str, body: object = None, timeout: float = 2.0) -> tuple[int, object]:
        """GETs (POSTs ``body`` to) an API server path: the status the node answered and its parsed body; 0 when
        nothing answered."""
        seconds = max(int(timeout), 1)
        if body is None:
            arguments = ["get", "--raw", path, f"--request-timeout={seconds}s"]
        else:
            arguments = ["create", "--raw", path, "-f", "-", f"--request-timeout={seconds}s"]
        try:
            result = self.kubectl(
                "-v=6", *arguments, stdin=None if body is None else json.dumps(body), timeout=timeout + 10
            )
        except subprocess.TimeoutExpired:
            return 0, None
        statuses = STATUS_LINE.findall(result.stderr)
        status = int(statuses[-1]) if statuses else 0
        try:
            return status, json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else None
        except ValueError:
            return status, None

    @contextmanager
    def proxy(self) -> Iterator[int]:
        """A `kubectl proxy` to the API server on a free loopback port, for as long as the block runs."""
        command = [kubectl_program(), "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            command += ["--context", self.context]
        process = subprocess.Popen(
            [*command, "proxy", "--port=0", "--address=127.0.0.1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = PROXY_LINE.search(line)
            if not found:
                raise VerifyError(f"kubectl proxy did not start: {line.strip() or 'no output'}")
            yield int(found.group(1))
        finally:
            process.terminate()
            process.wait(timeout=10)


def service_path(namespace: str, service: str) -> str:
    """The API server's proxy path to a Service's port (``name:port``)."""
    return f"/api/v1/namespaces/{namespace}/services/{service}/proxy"


@dataclass(frozen=True)
class ProxiedNode:
    """A pod's (or a Service's) HTTP API through the API server's proxy."""

    name: str
    role: str
    target: Target
    proxy: str  # e.g. /api/v1/namespaces/aurigraph/pods/validator-0:9003/proxy

    def call(self, path: str, body: object = None, timeout: float = 2.0) -> tuple[int, object]:
        return self.target.call(self.proxy + path, body, timeout)


def target_of(project: Path, stack: str) -> Target | None:
    """Where a stack applies its objects, from its stack file (None for a rendered stack). Only those keys are
    read: the rest may be given at deploy time (the digests, through `--config-file`)."""
    from tools.stack_ops import config_section, kubeconfig_path

    kubeconfig = kubeconfig_path(project, stack)
    if kubeconfig is None:
        return None
    namespace = read_stack_file(project, stack).get(f"{PROJECT}:namespace") or NAMESPACE_DEFAULT
    try:
        monitoring = load_section(project, stack, "monitoring", MonitoringSettings)
        verification = load_section(project, stack, "verification", VerificationSettings)
    except ConfigError as error:
        raise VerifyError(str(error)) from None
    problem = verification.problem_with(monitoring)
    if problem:
        raise VerifyError(f"stack {stack}: verification.probeRate: {problem}")
    context = config_section(project, stack, "kubernetes").get("context")
    return Target(kubeconfig, context, namespace, monitoring.namespace, verification)


def pod_node(target: Target, pod: dict[str, Any]) -> ProxiedNode:
    name = pod["metadata"]["name"]
    role = pod["metadata"]["labels"].get(COMPONENT_LABEL, "")
    return ProxiedNode(name, role, target, f"/api/v1/namespaces/{target.namespace}/pods/{name}:{HTTP_PORT}/proxy")


def service_node(target: Target, name: str) -> ProxiedNode:
    return ProxiedNode(f"service/{name}", name, target, service_path(target.namespace, f"{name}:http"))


def workload_images(target: Target) -> dict[str, tuple[str, int, int]]:
    """Role -> (the image its workload's template runs, how many pods it wants now, the partition: pods of a lower
    ordinal stay on the previous template by design)."""
    found = {}
    for kind in KINDS:
        for workload in target.objects(kind):
            role = workload["metadata"]["labels"].get(COMPONENT_LABEL, workload["metadata"]["name"])
            image = workload["spec"]["template"]["spec"]["containers"][0]["image"]
            wanted = (
                workload["status"].get("desiredNumberScheduled", 0)
                if kind == "daemonsets"
                else workload["spec"].get("replicas", 1)
            )
            partition = ((workload["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
            found[role] = (image, int(wanted), int(partition or 0))
    return found


def ordinal(pod: dict[str, Any]) -> int:
    """A StatefulSet pod's ordinal (its name's last part); -1 for other pods."""
    owner = (pod["metadata"].get("ownerReferences") or [{}])[0]
    last = pod["metadata"]["name"].rsplit("-", 1)[-1]
    return int(last) if owner.get("kind") == "StatefulSet" and last.isdigit() else -1


def why_not_ready(pod: dict[str, Any], image: str | None) -> str:
    """One line on what keeps ``pod`` from counting as rolled out (``image`` None: any image will do)."""
    if pod["metadata"].get("deletionTimestamp"):
        return "terminating"
    container = pod["spec"]["containers"][0]
    if image is not None and container["image"] != image:
        return f"still runs {container['image']}"
    for status in pod["status"].get("containerStatuses", []):
        waiting = (status.get("state") or {}).get("waiting")
        if waiting:
            message = (waiting.get("message") or "").strip().splitlines()
            return f"{waiting.get('reason', 'waiting')} (restarts {status.get('restartCount', 0)})" + (
                f": {message[0][:160]}" if message else ""
            )
    conditions = {c["type"]: c for c in pod["status"].get("conditions", [])}
    if conditions.get("Ready", {}).get("status") == "True":
        return ""
    return f"{pod['status'].get('phase', 'Unknown')}, not ready"


def rollout(target: Target, images: dict[str, tuple[str, int, int]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Pod -> why it does not count yet ('' when it does), and the pods of the node workloads, now. Pods that
    finished (evicted, say: phase Failed) are left out, as their controllers replace them."""
    pods = [
        p
        for p in target.objects("pods")
        if p["metadata"]["labels"].get(COMPONENT_LABEL) in images
        and p["status"].get("phase") not in ("Failed", "Succeeded")
    ]
    problems = {}
    for pod in pods:
        image, _, partition = images[pod["metadata"]["labels"][COMPONENT_LABEL]]
        held_back = 0 <= ordinal(pod) < partition
        problems[pod["metadata"]["name"]] = why_not_ready(pod, None if held_back else image)
    for role, (_, wanted, _) in images.items():
        counted = sum(
            1 for p in pods if p["metadata"]["labels"][COMPONENT_LABEL] == role and not problems[p["metadata"]["name"]]
        )
        if counted < wanted:
            problems.setdefault(f"{role} ({counted} of {wanted} pods)", "missing pods")
    return problems, pods


def check_health(target: Target, report: Report) -> list[dict[str, Any]]:
    """Three tries of 30 s for every workload to have all its pods ready on its current image."""
    started = time.monotonic()
    images = workload_images(target)
    problems: dict[str, str] = {}
    pods: list[dict[str, Any]] = []
    for attempt in range(1, HEALTH_TRIES + 1):
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            problems, pods = rollout(target, images)
            for name, problem in problems.items():
                if not problem and name not in report.healthy:
                    report.healthy[name] = round(time.monotonic() - started, 1)
            if not any(problems.values()):
                return pods
            time.sleep(2)
        waiting = ", ".join(f"{name}: {why}" for name, why in sorted(problems.items()) if why)
        print(f"verify: health try {attempt} of {HEALTH_TRIES}: not ready yet: {waiting}", flush=True)
    tries = f"{HEALTH_TRIES} tries of {HEALTH_TIMEOUT_SECONDS} s"
    report.unhealthy = {name: f"not ready after {tries}: {why}" for name, why in problems.items() if why}
    return pods


def check_performance(
    target: Target, pods: list[dict[str, Any]], report: Report, baseline: Callable[[], str | None] | None
) -> None:
    """The probe load through the business Service, measured by the cluster's Prometheus (tools/performance.py).
    ``baseline`` reads the stack's last verified figures (only when there is a probe to judge)."""
    settings = target.verification
    if not settings.probe_rate:
        report.performance = "not measured (verification.probeRate is 0)"
        return
    business = sorted(p["metadata"]["name"] for p in pods if p["metadata"]["labels"].get(COMPONENT_LABEL) == "business")
    try:
        goals = performance.objectives()
        with target.proxy() as port:
            prometheus = f"http://127.0.0.1:{port}" + service_path(
                target.monitoring_namespace, performance.PROMETHEUS_SERVICE
            )
            submit = (port, service_path(target.namespace, "business:http"))
            measured = performance.measure(
                performance.prometheus_query(prometheus),
                submit,
                target.namespace,
                business,
                settings.probe_rate,
                settings.probe_seconds,
            )
    except performance.PerformanceError as error:
        report.performance_failed = [f"not measured: {error}"]
        return
    problems, limit = performance.judge(
        measured, goals, performance.Baseline.parse(baseline and baseline()), settings.latency_regression_percent
    )
    report.performance = f"{measured.describe()}; p99 limit {limit}"
    report.performance_failed = problems
    report.performance_baseline = measured.baseline()


def verify(stack: str, target: Target, baseline: Callable[[], str | None] | None = None) -> Report:
    """``baseline``: reads the figures of the stack's last verified deployment (tools/performance.py), if any."""
    images = workload_images(target)
    if not images:
        raise VerifyError(f"no node workloads in namespace {target.namespace}: has stack {stack} been deployed?")
    report = Report(stack=stack, images={role: image for role, (image, _, _) in images.items()})
    pods = check_health(target, report)
    if not report.unhealthy:
        smoke([service_node(target, "business")], report)
        agreed = agreement([pod_node(target, pod) for pod in pods], report)
        if agreed and not report.smoke_failed:
            check_performance(target, pods, report, baseline)
        report.verified = agreed and not report.smoke_failed and not report.performance_failed
    return report
