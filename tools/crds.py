"""The Prometheus Operator's CustomResourceDefinitions and example manifests, from its Go module (the module proxy is
reachable where its release assets are not): what kubeconform checks the rendered PrometheusRule and
ServiceMonitors against, what a cluster needs before the monitoring component's objects can be applied, and the
RBAC the kind cluster's operator runs with (tools/kind_monitoring.py).

The version is pinned once, in the Go module tools/kind/monitoring/build.sh builds the operator from
(tools/kind/monitoring/modules/prometheus-operator, hashed in its go.sum): the operator release whose CRDs the
pinned kube-prometheus-stack chart line installs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "tools" / "kind" / "monitoring" / "modules"
OPERATOR_MODULE_DIR = MODULES / "prometheus-operator"
MODULE = "github.com/prometheus-operator/prometheus-operator"
CRD_DIR = "example/prometheus-operator-crd"


def required_version(module_dir: Path, module: str) -> str:
    """The version of `module` that module_dir's go.mod requires."""
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", (module_dir / "go.mod").read_text(), re.M)
    if found is None:
        raise SystemExit(f"{module_dir.relative_to(ROOT)}/go.mod does not require {module}")
    return found.group(1)


def module_source(module_dir: Path, module: str) -> Path:
    """The source of `module` at the version module_dir's go.mod requires, from Go's module cache (downloaded and
    checked against that go.sum where missing)."""
    env = os.environ | {"GOFLAGS": "-mod=readonly", "GOSUMDB": "off", "GOTOOLCHAIN": "local"}
    try:
        result = subprocess.run(
            ["go", "mod", "download", "-json", module],
            cwd=module_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except FileNotFoundError as error:
        raise SystemExit(f"{module} comes from its Go module: Go is not on PATH") from error
    download = json.loads(result.stdout or "{}")
    if result.returncode != 0 or download.get("Error"):
        raise SystemExit(f"could not download {module}: {download.get('Error') or result.stderr.strip()}")
    return Path(download["Dir"])


VERSION = required_version(OPERATOR_MODULE_DIR, MODULE)


def prometheus_operator_source() -> Path:
    return module_source(OPERATOR_MODULE_DIR, MODULE)


def prometheus_operator_crds() -> Path:
    """The directory of the operator's CRD manifests (one YAML file per kind)."""
    return prometheus_operator_source() / CRD_DIR
