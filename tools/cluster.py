"""`make k8s-up` / `make k8s-down`: a real multi-node Kubernetes cluster on this machine, made with no container
registry: kind nodes from the node image tools/kind/build.sh makes (docs/kind.md), one control plane and two
workers by default.

The nodes are containers on the Docker network `kind`. They pull the project's images the way a real cluster
does, by digest from the registry the pipeline pushes to: the stacks name it by its loopback address
(REGISTRY_ADDR, 127.0.0.1:5000), which inside a node is the node itself, so every node's containerd is given a
mirror for that name: a pull-through mirror of that registry (tools/registry.sh) on the network's gateway.

This machine gets routes to the pod network (each node's pod range via that node) and to the Service network
(via the control plane), so that tests and operators reach pods and Services as from inside the cluster; they go
with the network at `down`.

`up` also installs what the monitoring component's objects need on a cluster: the Prometheus Operator's
CustomResourceDefinitions (tools/crds.py), and the operator itself with a Prometheus that selects every monitor and
rule, kube-state-metrics and metrics-server (tools/kind_monitoring.py). It is idempotent: on a running cluster it
only checks and repairs.
The kubeconfig is written to build/kubeconfig/kind.yaml, which the `kind` stack (Pulumi.kind.yaml) reads.

Usage: python -m tools.cluster up [--workers N] | down | status
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tools import kind_monitoring
from tools.crds import prometheus_operator_crds

ROOT = Path(__file__).resolve().parent.parent
KIND_DIR = ROOT / "tools" / "kind"
TOOLS = ROOT / ".tools" / "kind" / "bin"
KIND = TOOLS / "kind"
KUBECTL = TOOLS / "kubectl"
NAME = "aurigraph"
NETWORK = "kind"
KUBECONFIG = ROOT / "build" / "kubeconfig" / "kind.yaml"
CLUSTER_CONFIG = ROOT / "build" / "kind" / "cluster.yaml"
SERVICE_SUBNET = "10.96.0.0/16"  # kind's default, which cluster_config keeps
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")


class ClusterError(Exception):
    """A step failed; the message says which and what to do."""


def versions() -> dict[str, str]:
    """tools/kind/versions.env: the node image's name and the versions in it."""
    values: dict[str, str] = {}
    for line in (KIND_DIR / "versions.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name] = value.strip('"')
    return values


def run(*command: str | Path, timeout: float = 600, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        input=stdin,
    )
    if result.returncode != 0:
        shown = " ".join(str(part) for part in command[:4])
        raise ClusterError(
            f"`{shown} ...` failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-2000:]}"
        )
    return result.stdout


def kubectl(*arguments: str, timeout: float = 300, stdin: str | None = None) -> str:
    return run(KUBECTL, "--kubeconfig", KUBECONFIG, *arguments, timeout=timeout, stdin=stdin)


def registry_address() -> tuple[str, int]:
    """The registry the stacks name (REGISTRY_ADDR, which the Makefile reads from Pulumi.local.yaml)."""
    address = os.environ.get("REGISTRY_ADDR", "")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"REGISTRY_ADDR must be host:port (got {address!r}); make sets it from Pulumi.local.yaml")
    return host, int(port)


def network() -> dict[str, Any] | None:
    """The Docker network `kind` as `docker network inspect` describes it, or None when there is none."""
    inspected = subprocess.run(
        [DOCKER, "network", "inspect", NETWORK], capture_output=True, text=True, check=False, timeout=60
    )
    return dict(json.loads(inspected.stdout)[0]) if inspected.returncode == 0 else None


def gateway_of(described: dict[str, Any]) -> str:
    for pool in described["IPAM"]["Config"] or []:
        gateway = pool.get("Gateway", "")
        if gateway and ":" not in gateway:
            return str(gateway)
    raise ClusterError(f"the Docker network {NETWORK} has no IPv4 gateway: remove it (docker network rm {NETWORK})")


def network_gateway() -> str:
    """The IPv4 gateway of the Docker network `kind`, which is made first when missing (kind then uses it)."""
    described = network()
    if described is None:
        run(
            DOCKER,
            "network",
            "create",
            "--driver",
            "bridge",
            "-o",
            "com.docker.network.bridge.enable_ip_masquerade=true",
            "-o",
            "com.docker.network.driver.mtu=1500",
            NETWORK,
        )
        described = network()
        if described is None:
            raise ClusterError(f"the Docker network {NETWORK} was created but cannot be inspected")
    return gateway_of(described)


def cluster_config(workers: int, registry: str, mirror: str) -> str:
    """kind's configuration: the nodes, the registry mirror of every node's containerd, kube-proxy's mode."""
    nodes = "\n".join(["  - role: control-plane"] + ["  - role: worker"] * workers)
    return f"""# Written by tools/cluster.py (make k8s-up); not an input.
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: {NAME}
nodes:
{nodes}
networking:
  serviceSubnet: {SERVICE_SUBNET}
  # nftables: what this machine's kernel and Docker use (iptables-nft); kube-proxy then needs no iptables mode.
  kubeProxyMode: nftables
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{registry}"]
      endpoint = ["http://{mirror}"]
  # The nodes lack CAP_SYS_RESOURCE where the engine does (tools/runc-bounded): no oom_score_adj below the node's.
  - |-
    [plugins."io.containerd.grpc.v1.cri"]
      restrict_oom_score_adj = true
"""


def clusters() -> list[str]:
    return run(KIND, "get", "clusters", timeout=60).split()


def runs_image(image: str) -> bool:
    """Whether the cluster's control plane runs the node image `image` is now."""

    def identity(*command: str) -> str:
        result = subprocess.run([DOCKER, *command], capture_output=True, text=True, check=False, timeout=60)
        return result.stdout.strip() if result.returncode == 0 else ""

    wanted = identity("image", "inspect", "--format", "{{.Id}}", image)
    return bool(wanted) and identity("inspect", "--format", "{{.Image}}", f"{NAME}-control-plane") == wanted


def require_tools() -> None:
    for tool in (KIND, KUBECTL):
        if not os.access(tool, os.X_OK):
            raise ClusterError(f"{tool.relative_to(ROOT)} is missing: make kind-image builds it with the node image")


def install_crds() -> int:
    directory = prometheus_operator_crds()
    files = sorted(directory.glob("*.yaml"))
    names = []
    for path in files:
        # BaseLoader: the CRDs hold a bare `=` that safe_load refuses as a YAML 1.1 value tag.
        names.append(yaml.load(path.read_text(), Loader=yaml.BaseLoader)["metadata"]["name"])
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path), timeout=120)
    kubectl("wait", "--for=condition=Established", "--timeout=120s", *(f"crd/{name}" for name in names), timeout=180)
    return len(files)


def load_images(images: list[str]) -> None:
    """Images made on this machine into every node's containerd (`kind load` skips a node that has them), pinned
    as the node image's own are: the kubelet's image garbage collection never removes what nothing could pull
    back."""
    run(KIND, "load", "docker-image", "--name", NAME, *images, timeout=900)
    for node in run(KIND, "get", "nodes", "--name", NAME, timeout=60).split():
        for image in images:
            # containerd names them as Docker would: a first part without a dot or colon is a Docker Hub path.
            reference = image if any(c in image.split("/", 1)[0] for c in ".:") else f"docker.io/{image}"
            run(DOCKER, "exec", node, "ctr", "-n", "k8s.io", "images", "label", reference,
                "io.cri-containerd.pinned=pinned", timeout=60)  # fmt: skip


def routes(nodes: list[dict[str, Any]]) -> None:
    """Routes from this machine to each node's pods and, through the control plane, to the Services."""
    control_plane = ""
    for node in nodes:
        address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        if "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]:
            control_plane = address
        if node["spec"].get("podCIDR"):
            run("ip", "route", "replace", node["spec"]["podCIDR"], "via", address, timeout=30)
    if control_plane:
        run("ip", "route", "replace", SERVICE_SUBNET, "via", control_plane, timeout=30)


def require_privileged(image: str) -> None:
    """Every kind node is a privileged container: say so plainly where this engine cannot start one."""
    probe = subprocess.run(
        [DOCKER, "run", "--rm", "--privileged", "--entrypoint", "true", image],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if probe.returncode != 0:
        raise ClusterError(
            f"this Docker engine cannot start a privileged container, which every kind node is: "
            f"{probe.stderr.strip()[-300:]}. An engine started by `make docker-engine` can (where the capability "
            "bounding set is incomplete it runs containers through tools/runc-bounded): stop this one and rerun."
        )


def up(workers: int) -> None:
    require_tools()
    started = time.monotonic()
    image = versions()["NODE_IMAGE"]
    registry_host, registry_port = registry_address()
    gateway = network_gateway()
    mirror = f"{gateway}:{registry_port}"
    run(
        ROOT / "tools" / "registry.sh",
        env=os.environ | {"REGISTRY_ADDR": mirror, "REGISTRY_UPSTREAM": f"http://{registry_host}:{registry_port}"},
        timeout=120,
    )
    require_privileged(image)
    if NAME in clusters() and not runs_image(image):
        # Its nodes were made from an older node image (what kind baked into them at creation, the default
        # StorageClass say, would stay old): a throwaway cluster is made again.
        print(f"k8s-up: cluster {NAME} runs an older node image than {image}; making it again")
        run(KIND, "delete", "cluster", "--name", NAME, timeout=300)
    if NAME in clusters():
        print(f"k8s-up: cluster {NAME} exists; checking it")
        KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
        run(KIND, "export", "kubeconfig", "--name", NAME, "--kubeconfig", KUBECONFIG, timeout=60)
    else:
        CLUSTER_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        CLUSTER_CONFIG.write_text(cluster_config(workers, f"{registry_host}:{registry_port}", mirror))
        KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
        print(f"k8s-up: creating {NAME}: 1 control plane and {workers} workers from {image}")
        run(
            KIND,
            "create",
            "cluster",
            "--name",
            NAME,
            "--image",
            image,
            "--config",
            CLUSTER_CONFIG,
            "--kubeconfig",
            KUBECONFIG,
            "--wait",
            "300s",
            timeout=900,
        )
    KUBECONFIG.chmod(0o600)
    kubectl("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s", timeout=330)
    kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=300s", timeout=330)
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    routes(nodes)
    crds = install_crds()
    monitoring = kind_monitoring.install(kubectl, load_images)
    for node in nodes:
        info = node["status"]["nodeInfo"]
        roles = [
            label.split("/", 1)[1]
            for label in node["metadata"]["labels"]
            if label.startswith("node-role.kubernetes.io/")
        ]
        print(
            f"k8s-up: {node['metadata']['name']:28} {','.join(roles) or 'worker':14} {info['kubeletVersion']:9} "
            f"{info['containerRuntimeVersion']}"
        )
    print(f"k8s-up: monitoring: {monitoring}")
    print(
        f"k8s-up: {len(nodes)} nodes Ready, {crds} Prometheus Operator CRDs, images from "
        f"{registry_host}:{registry_port} through {mirror}; kubeconfig {KUBECONFIG.relative_to(ROOT)}; "
        f"{time.monotonic() - started:.0f} s"
    )


def down() -> None:
    require_tools()
    if NAME in clusters():
        run(KIND, "delete", "cluster", "--name", NAME, timeout=300)
        print(f"k8s-down: cluster {NAME} deleted")
    else:
        print(f"k8s-down: no cluster {NAME}")
    _, registry_port = registry_address()
    described = network()
    if described is not None:
        gateway = gateway_of(described)
        config = f"config-{gateway.replace('.', '-')}-{registry_port}.yml"
        subprocess.run(["pkill", "-f", config], check=False)
        subprocess.run([DOCKER, "network", "rm", NETWORK], capture_output=True, check=False)
    KUBECONFIG.unlink(missing_ok=True)


def status() -> int:
    require_tools()
    if NAME not in clusters():
        print(f"no cluster {NAME} (make k8s-up)")
        return 1
    print(kubectl("get", "nodes", "-o", "wide"), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("up", help="create (or check) the cluster")
    create.add_argument("--workers", type=int, default=int(os.environ.get("K8S_WORKERS", "2")))
    commands.add_parser("down", help="delete the cluster")
    commands.add_parser("status", help="the cluster's nodes")
    options = parser.parse_args(argv)
    try:
        if options.command == "up":
            if not 1 <= options.workers <= 5:
                parser.error("--workers must be between 1 and 5")
            up(options.workers)
        elif options.command == "down":
            down()
        else:
            return status()
    except ClusterError as error:
        print(f"k8s: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
