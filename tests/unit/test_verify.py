"""How `make verify` reads rendered manifests into the pods it runs (the containers themselves are run by
tests/integration/test_pipeline.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import verify

NS = "aurigraph"


def workload(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "node",
        "image": f"registry.invalid/aurigraph/{name}@sha256:" + "ab" * 32,
        "envFrom": [{"configMapRef": {"name": f"{name}-settings"}}],
        "env": [{"name": "AURIGRAPH_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": {"limits": {"cpu": "500m", "memory": "768Mi"}},
        "securityContext": {"runAsUser": 10001},
    }
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": name}},
                "spec": {"containers": [container]},
            },
            **spec,
        },
    }


def manifests() -> list[dict[str, Any]]:
    validator = workload("StatefulSet", "validator", replicas=3, serviceName="validator-peers")
    node = validator["spec"]["template"]["spec"]["containers"][0]
    node["env"].append({"name": "AURIGRAPH_SIGNING_KEY_FILE", "value": "/etc/aurigraph/keys/$(AURIGRAPH_ID).pem"})
    node["volumeMounts"] = [
        {"name": "keys", "mountPath": "/etc/aurigraph/keys"},
        {"name": "data", "mountPath": "/var/lib/aurigraph"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    validator["spec"]["template"]["spec"]["volumes"] = [
        {"name": "keys", "secret": {"secretName": "validator-signing-keys"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    slim = workload("DaemonSet", "slim")
    slim["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] = "spec.nodeName"
    return [
        validator,
        workload("Deployment", "business"),
        slim,
        {
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "business"},
            "spec": {"scaleTargetRef": {"name": "business"}, "minReplicas": 2},
        },
        {"kind": "ConfigMap", "metadata": {"name": "validator-settings"}, "data": {"AURIGRAPH_ROLE": "validator"}},
        {"kind": "ConfigMap", "metadata": {"name": "business-settings"}, "data": {"AURIGRAPH_ROLE": "business"}},
        {"kind": "ConfigMap", "metadata": {"name": "slim-settings"}, "data": {"AURIGRAPH_ROLE": "slim"}},
        {
            "kind": "Secret",
            "metadata": {"name": "validator-signing-keys"},
            "data": {f"validator-{n}.pem": base64.b64encode(f"key {n}".encode()).decode() for n in range(3)},
        },
    ]


def test_each_pod_gets_its_image_environment_files_names_and_limits() -> None:
    pods = {pod.name: pod for pod in verify.plan(manifests())}
    assert sorted(pods) == ["business-0", "business-1", "slim-0", "validator-0", "validator-1", "validator-2"]
    validator = pods["validator-1"]
    assert validator.env == {
        "AURIGRAPH_ROLE": "validator",
        "AURIGRAPH_ID": "validator-1",
        "AURIGRAPH_SIGNING_KEY_FILE": "/etc/aurigraph/keys/validator-1.pem",
    }
    assert validator.aliases == ["validator-1.validator-peers.aurigraph.svc"]
    assert validator.files["/etc/aurigraph/keys"]["validator-1.pem"] == b"key 1"
    assert validator.data_dir == "/var/lib/aurigraph"
    assert (validator.memory, validator.cpus, validator.user) == (str(768 * 2**20), "0.5", "10001")
    assert pods["business-0"].aliases == pods["business-1"].aliases == ["business.aurigraph.svc"]
    assert pods["slim-0"].env["AURIGRAPH_ID"] == "aurigraph-verify-node-0"


def test_no_manifests_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.main(["--manifests", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"verify: no rendered manifests under {tmp_path}: run `make up STACK=<stack>` first\n"
    )


def test_manifests_without_workloads_are_refused(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(yaml.safe_dump({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}))
    with pytest.raises(verify.VerifyError, match="no StatefulSet, Deployment or DaemonSet"):
        verify.plan(verify.load_manifests(tmp_path))
