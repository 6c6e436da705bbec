"""The Prometheus Operator's CustomResourceDefinitions, from its Go module (the module proxy is reachable where
its release assets are not): what kubeconform checks the rendered PrometheusRule and ServiceMonitors against,
and what a cluster needs before the monitoring component's objects can be applied.

The version is the operator release whose CRDs the pinned kube-prometheus-stack chart line installs; the
module's hash is recorded, since it is downloaded outside any go.sum.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

MODULE = "github.com/prometheus-operator/prometheus-operator"
VERSION = "v0.88.0"
MODULE_SUM = "h1:3T/dCQdk7CUVRqVfwRHoC5g66fC/ML6XQQLtQVL6Q5o="
CRD_DIR = "example/prometheus-operator-crd"


def prometheus_operator_crds() -> Path:
    """The directory of the operator's CRD manifests (one YAML file per kind), from Go's module cache."""
    env = os.environ | {"GOFLAGS": "-mod=mod", "GOSUMDB": "off", "GOTOOLCHAIN": "local"}
    with tempfile.TemporaryDirectory() as outside_any_module:
        try:
            result = subprocess.run(
                ["go", "mod", "download", "-json", f"{MODULE}@{VERSION}"],
                cwd=outside_any_module,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
        except FileNotFoundError as error:
            raise SystemExit("the Prometheus Operator's CRDs come from its Go module: Go is not on PATH") from error
    download = json.loads(result.stdout or "{}")
    if result.returncode != 0 or download.get("Error"):
        raise SystemExit(f"could not download {MODULE}@{VERSION}: {download.get('Error') or result.stderr.strip()}")
    if download.get("Sum") != MODULE_SUM:
        raise SystemExit(f"{MODULE}@{VERSION} has hash {download.get('Sum')}, not the recorded {MODULE_SUM}")
    return Path(download["Dir"]) / CRD_DIR
