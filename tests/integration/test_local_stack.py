"""The real Pulumi CLI, language host and kubernetes provider, driven through the Automation API.

Each test module works on a copy of the project in a temporary directory with its own file backend, so
the checkout's own `local` stack (the one `make up` manages) is never touched. The tests run in order and
share the copy: up, up again, a bad config, destroy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from components.image_size import MANIFEST_TYPES, read_image_size
from components.monitoring import dashboards
from components.roles import PLAN_BASELINE_MB, ROLES, SIZE_BAR_MB
from tests.integration.conftest import POLICY_PACK, ROOT, policy_config, rendered_with_a_passphrase
from tests.stack_files import PROMOTED
from tools import check_manifests

TOOLCHAIN = ROOT / "tools" / "toolchain"
# What every stack has (the namespace, the three node workloads and their parts, the network policies), and
# what the local stack adds per role: an image, built and pushed, and its measured size.
RESOURCES = Counter(
    {
        "pulumi:pulumi:Stack": 1,
        "pulumi:providers:kubernetes": 1,
        "aurigraph:kubernetes:StackNamespace": 1,
        "kubernetes:core/v1:Namespace": 1,
        "aurigraph:nodes:ValidatorSet": 1,
        "aurigraph:nodes:BusinessNodes": 1,
        "aurigraph:nodes:SlimNodes": 1,
        "aurigraph:network:NodeNetwork": 1,
        "kubernetes:apps/v1:StatefulSet": 1,
        "kubernetes:apps/v1:Deployment": 1,
        "kubernetes:apps/v1:DaemonSet": 1,
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,
        "kubernetes:policy/v1:PodDisruptionBudget": 2,
        "kubernetes:core/v1:ConfigMap": 9,
        "kubernetes:core/v1:Service": 3,
        "kubernetes:core/v1:ServiceAccount": 3,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 15,
        # The validators' signing keys (one each), their Secret and the genesis.
        "aurigraph:secrets:NodeSecrets": 1,
        "pulumi-python:dynamic:Resource": 4,
        "kubernetes:core/v1:Secret": 1,
        # The rules, a monitor per role and the five dashboards (kube-prometheus-stack is not installed: its chart
        # repository cannot be reached here, so the chart is seen through mocks only, tests/unit/test_monitoring.py).
        "aurigraph:monitoring:MonitoringStack": 1,
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule": 1,
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": 3,
    }
)
IMAGE_RESOURCES = Counter(
    {"aurigraph:index:NodeImage": 3, "docker-build:index:Image": 3, "pulumi-python:dynamic:Resource": 3}
)
LOCAL_RESOURCE_COUNT = (RESOURCES + IMAGE_RESOURCES).total()
# Every Kubernetes object but the ones Pulumi alone knows (components, providers, the stack).
RENDERED_COUNT = sum(n for typ, n in RESOURCES.items() if typ.startswith("kubernetes:"))
# Default providers are in the state but not in an update's change counts.
DEFAULT_PROVIDERS = Counter({"pulumi:providers:docker-build": 1, "pulumi:providers:pulumi-python": 1})


def rendered(project: Path) -> list[Path]:
    return sorted((project / "build" / "manifests" / "local").rglob("*.yaml"))


def state_resources(stack: auto.Stack) -> list[dict[str, Any]]:
    deployment = stack.export_stack().deployment or {}
    return list(deployment.get("resources", []))


def by_urn(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {resource["urn"]: resource for resource in resources}


SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


def hashed_secrets(value: Any) -> Any:
    """``value`` with each decrypted secret replaced by the SHA-256 of its plaintext: compared, never printed."""
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value and "plaintext" in value:
            return {"secret-sha256": hashlib.sha256(value["plaintext"].encode()).hexdigest()}
        return {key: hashed_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [hashed_secrets(item) for item in value]
    return value


def plain_state(project: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The local stack's resources by URN with their secrets decrypted, as what they hold: a saved state's
    ciphertexts of unchanged secrets may be new (fresh nonces), and a dynamic resource's inputs carry its provider's
    code, serialized anew by each run (``__provider``), and the SDK lists a resource's dependencies in no set order
    (it gathers them in a set). A regenerated key or a changed object still differs."""
    exported = subprocess.run(
        ["pulumi", "stack", "export", "--show-secrets", "--stack", "local"],
        cwd=project,
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=True,
    )
    resources = hashed_secrets(json.loads(exported.stdout)["deployment"]["resources"])
    for resource in resources:
        for part in ("inputs", "outputs"):
            (resource.get(part) or {}).pop("__provider", None)
        resource["dependencies"] = sorted(resource.get("dependencies") or [])
        resource["propertyDependencies"] = {
            name: sorted(urns) for name, urns in (resource.get("propertyDependencies") or {}).items()
        }
    return by_urn(resources)


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Where two JSON documents differ, as paths (for a failure's message)."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after))
        return [
            d
            for key in keys
            if before.get(key) != after.get(key)
            for d in differences(before.get(key), after.get(key), f"{path}/{key}")
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            if b != a
            for d in differences(b, a, f"{path}[{i}]")
        ]
    return [f"{path}: {str(before)[:120]} -> {str(after)[:120]}"]


def resource_types(stack: auto.Stack) -> Counter[str]:
    return Counter(resource["type"] for resource in state_resources(stack))


def without_the_chart(stack: auto.Stack) -> None:
    """staging and prod install kube-prometheus-stack from its public repository, which cannot be reached here."""
    stack.set_config("aurigraph-infra:monitoring.installStack", auto.ConfigValue("false"), path=True)


def toolchain_versions() -> dict[str, str]:
    lines = (TOOLCHAIN / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def pulumi_cli(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(["pulumi", *args], env=os.environ | env, capture_output=True, text=True, check=True)
    return result.stdout


def test_the_cli_and_plugins_are_the_projects_own_builds(env: dict[str, str]) -> None:
    tools_bin = ROOT / ".tools" / "bin"
    assert shutil.which("pulumi") == str(tools_bin / "pulumi")
    cli_module = (TOOLCHAIN / "pulumi-cli" / "go.mod").read_text()
    assert f"github.com/pulumi/pulumi/pkg/v3 {pulumi_cli('version', env=env).strip()} " in cli_module
    for bundled in ["pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"]:
        assert os.access(tools_bin / bundled, os.X_OK), bundled

    versions = toolchain_versions()
    plugins = {(p["name"], p["kind"], p["version"]) for p in json.loads(pulumi_cli("plugin", "ls", "--json", env=env))}
    assert ("kubernetes", "resource", versions["KUBERNETES_PROVIDER_VERSION"]) in plugins
    assert ("docker-build", "resource", versions["DOCKER_BUILD_VERSION"]) in plugins


def test_the_python_sdks_ask_for_exactly_the_plugin_versions_that_were_built() -> None:
    versions = toolchain_versions()
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    for package, key in [("pulumi_kubernetes", "KUBERNETES_PROVIDER_VERSION"), ("pulumi_docker_build", None)]:
        declared = json.loads((site / package / "pulumi-plugin.json").read_text())["version"]
        assert declared == versions[key or "DOCKER_BUILD_VERSION"]


def registry_digest(reference: str) -> str:
    """The digest the registry serves for ``reference`` (host/repository:tag)."""
    host, rest = reference.split("/", 1)
    repository, tag = rest.rsplit(":", 1)
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": ", ".join(MANIFEST_TYPES)}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def test_up_builds_and_pushes_the_images_and_renders_the_namespace(stack: auto.Stack, project: Path) -> None:
    result = stack.up(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[policy_config("local")])

    assert result.summary.result == "succeeded"
    assert result.summary.resource_changes == {"create": LOCAL_RESOURCE_COUNT}
    assert resource_types(stack) == RESOURCES + IMAGE_RESOURCES + DEFAULT_PROVIDERS
    outputs = {name: output.value for name, output in result.outputs.items()}
    images = outputs.pop("images")
    assert outputs.pop("deployedImages") == {role: image["ref"] for role, image in images.items()}
    assert len(outputs.pop("networkPolicies")) == RESOURCES["kubernetes:networking.k8s.io/v1:NetworkPolicy"]
    fingerprints = outputs.pop("validatorKeys")
    assert sorted(fingerprints) == [f"validator-{n}" for n in range(4)]
    assert len(set(fingerprints.values())) == 4, "every validator has its own key"
    assert outputs == {
        "environment": "local",
        "namespace": "aurigraph",
        "kubernetesMode": "rendered",
        "renderDirectory": "build/manifests/local",
        "workloads": {"validator": "validator", "business": "business", "slim": "slim"},
        "monitoring": {
            "ruleGroups": ["aurigraph"],
            "dashboards": [f"aurigraph-dashboard-{board}" for board in sorted(dashboards())],
        },
    }
    registry = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]["aurigraph-infra:images"]["registry"]
    assert sorted(images) == list(ROLES)
    for role, image in images.items():
        repository, digest = image["ref"].split("@")
        assert repository == f"{registry}/aurigraph/{role}"
        tags = [reference.rsplit(":", 1)[1] for reference in image["tags"]]
        assert re.fullmatch(r"sha-[0-9a-f]{12}(-dirty)?", tags[0]) and tags[-1] == "latest"
        assert re.fullmatch(r"staging-\d{4}-\d{2}-\d{2}", tags[1])
        for reference in image["tags"]:
            assert registry_digest(reference) == digest, reference
        # The exported size and ID are the pushed image's own, measured again here.
        measured = read_image_size(image["ref"])
        assert (image["sizeBytes"], image["imageId"]) == (measured.size_bytes, measured.config_digest)
        assert image["sizeBytes"] <= SIZE_BAR_MB[role] * 1_000_000
    manifests = rendered(project)
    assert len(manifests) == RENDERED_COUNT
    manifest = project / "build/manifests/local/1-manifest/v1-namespace-default-aurigraph.yaml"
    assert manifest in manifests
    document: dict[str, Any] = yaml.safe_load(manifest.read_text())
    assert (document["apiVersion"], document["kind"]) == ("v1", "Namespace")
    assert document["metadata"]["name"] == "aurigraph"
    labels = document["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/instance"] == "local"
    assert labels["aurigraph.io/environment"] == "local"


def test_no_private_key_is_in_the_state_in_plain_text(stack: auto.Stack, project: Path) -> None:
    # The state file as the backend stores it (the Automation API's export decrypts secrets for its caller).
    (state_file,) = (project / "state" / ".pulumi" / "stacks").rglob("local.json")
    state = state_file.read_text()
    assert "validator-signing-keys" in state and '"ciphertext"' in state
    # The PEM header, as text and as base64 (a Secret's data), never appears: only ciphertext does.
    for marker in ("PRIVATE KEY", "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"):
        assert marker not in state


def test_the_rendered_manifests_pass_the_schema_and_the_scanner(project: Path) -> None:
    assert check_manifests.main([str(project / "build" / "manifests" / "local")]) == 0


def test_a_monitoring_object_with_an_unknown_field_is_reported(project: Path, tmp_path: Path) -> None:
    (monitor,) = [path for path in rendered(project) if "servicemonitor-aurigraph-slim" in path.name]
    broken = tmp_path / monitor.name
    broken.write_text(monitor.read_text().replace("\nspec:\n", "\nspec:\n  scrapeIntervall: 15s\n"))
    assert "scrapeIntervall" in broken.read_text()
    findings = check_manifests.kubeconform([broken])
    assert [f.message for f in findings if "additional properties 'scrapeIntervall' not allowed" in f.message]


def test_the_policy_pack_passes_a_preview_of_the_built_stack(stack: auto.Stack) -> None:
    result = stack.preview(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[policy_config("local")])
    assert result.change_summary == {"same": LOCAL_RESOURCE_COUNT}
    assert "aurigraph@v" in result.stdout
    assert "mandatory" not in result.stdout and "advisory" not in result.stdout, result.stdout


def test_a_size_budget_below_the_built_images_refuses_the_update_and_changes_nothing(
    stack: auto.Stack, project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """The images' sizes are in the state, so the preview that starts `up` already knows them."""
    config = tmp_path / "budgets.json"
    config.write_text(
        json.dumps(
            {"all": "mandatory", "image-size-budget": {"budgetsMb": {"business": 100, "slim": 100, "validator": 100}}}
        )
    )
    state_before = plain_state(project, env)
    with pytest.raises(auto.CommandError) as previewed:
        stack.preview(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[str(config)])
    message = str(previewed.value)
    for role in ROLES:
        size = re.search(rf"the {role} image is ([0-9.]+) MB, over its budget of 100 MB", message)
        assert size and float(size.group(1)) > 100, f"{role} was not refused:\n{message[-3000:]}"
    assert "[mandatory]  image-size-budget" in message
    # `up` (as `make up` runs it, without a separate preview) stops at the first workload it refuses.
    with pytest.raises(auto.CommandError) as refused:
        stack.up(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[str(config)])
    assert re.search(
        r"the (business|slim|validator) image is [0-9.]+ MB, over its budget of 100 MB", str(refused.value)
    )
    # A failed update saves the state again (in its own order, secrets re-encrypted): every resource is the same.
    after = plain_state(project, env)
    assert after == state_before, "\n".join(differences(state_before, after))


def workload_images(stack: auto.Stack) -> dict[str, str]:
    """The image each workload in the state runs."""
    found = {}
    for resource in state_resources(stack):
        if resource["type"] in ("kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment"):
            spec = resource["outputs"]["spec"]["template"]["spec"]
            found[resource["urn"]] = spec["containers"][0]["image"]
    return found


def test_a_rebuilt_image_over_its_budget_is_refused_by_up_before_a_workload_runs_it(
    stack: auto.Stack, tmp_path: Path
) -> None:
    """A new release version re-tags (and so re-pushes) every image: its size is unknown until `up` pushes it, so
    the preview cannot judge it and `up` must, before the workloads are updated."""
    config = tmp_path / "budgets.json"
    config.write_text(
        json.dumps(
            {"all": "mandatory", "image-size-budget": {"budgetsMb": {"business": 100, "slim": 100, "validator": 100}}}
        )
    )
    before = workload_images(stack)
    stack.set_config("aurigraph-infra:images.version", auto.ConfigValue("9.9.9"), path=True)
    try:
        preview = stack.preview(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[str(config)])
        assert "can't run policy 'image-size-budget'" in preview.stdout, preview.stdout[-3000:]
        with pytest.raises(auto.CommandError) as refused:
            stack.up(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[str(config)])
        assert "over its budget of 100 MB" in str(refused.value)
        assert workload_images(stack) == before
    finally:
        stack.remove_config("aurigraph-infra:images.version", path=True)
        restored = stack.up(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[policy_config("local")])
        assert restored.summary.result == "succeeded"


def test_a_second_up_changes_nothing(stack: auto.Stack, project: Path) -> None:
    before = {path: path.read_text() for path in rendered(project)}
    result = stack.up(color="never")
    assert result.summary.resource_changes == {"same": LOCAL_RESOURCE_COUNT}
    assert {path: path.read_text() for path in rendered(project)} == before


def test_bad_config_fails_with_one_message_naming_the_key_and_changes_nothing(stack: auto.Stack, project: Path) -> None:
    state_before = state_resources(stack)
    manifests_before = {path: path.read_text() for path in rendered(project)}
    stack.set_config("aurigraph-infra:namespace", auto.ConfigValue("Not_A_Label"))
    try:
        with pytest.raises(auto.CommandError) as failure:
            stack.up(color="never")
    finally:
        stack.set_config("aurigraph-infra:namespace", auto.ConfigValue("aurigraph"))

    message = str(failure.value)
    assert "invalid stack config in Pulumi.local.yaml:" in message
    assert "aurigraph-infra:namespace: expected a DNS label" in message
    assert "Traceback" not in message
    assert "unhandled error" not in message, "the config error must be the only error shown"
    assert state_resources(stack) == state_before
    assert {path: path.read_text() for path in rendered(project)} == manifests_before


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_staging_and_prod_preview_with_their_stack_files(project: Path, env: dict[str, str], name: str) -> None:
    # Their passphrase is the operator's; a test-only one stands in, in this copy only.
    env = {key: value for key, value in env.items() if key != "PULUMI_CONFIG_PASSPHRASE_FILE"}
    env["PULUMI_CONFIG_PASSPHRASE"] = "integration-test-only"
    rendered_with_a_passphrase(project, name)
    workspace = auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=env, secrets_provider="passphrase")
    other = auto.create_or_select_stack(name, work_dir=str(project), opts=workspace)
    # These stacks run the digests the pipeline promotes; it sets them as this does.
    for role, reference in PROMOTED.items():
        other.set_config(f"aurigraph-infra:images.references.{role}", auto.ConfigValue(reference), path=True)
    without_the_chart(other)
    # As a pull request's check runs it: with the policy pack, every policy mandatory.
    result = other.preview(color="never", policy_packs=[POLICY_PACK], policy_pack_configs=[policy_config(name)])
    assert result.change_summary == {"create": RESOURCES.total()}
    assert "aurigraph@v" in result.stdout and "mandatory" not in result.stdout
    assert not (project / "build" / "manifests" / name).exists(), "a preview must not render files"


def test_the_production_sized_stack_renders_manifests_that_pass_the_schema_and_the_scanner(
    project: Path, env: dict[str, str]
) -> None:
    """prod's sizes and settings, rendered (no cluster here): `up` writes what a cluster would receive."""
    env = {key: value for key, value in env.items() if key != "PULUMI_CONFIG_PASSPHRASE_FILE"}
    env["PULUMI_CONFIG_PASSPHRASE"] = "integration-test-only"
    rendered_with_a_passphrase(project, "prod")
    workspace = auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=env, secrets_provider="passphrase")
    prod = auto.create_or_select_stack("prod", work_dir=str(project), opts=workspace)
    for role, reference in PROMOTED.items():
        prod.set_config(f"aurigraph-infra:images.references.{role}", auto.ConfigValue(reference), path=True)
    without_the_chart(prod)
    try:
        result = prod.up(color="never")
        assert result.summary.resource_changes == {"create": RESOURCES.total()}
        rendered_dir = project / "build" / "manifests" / "prod"
        statefulset = yaml.safe_load(
            (rendered_dir / "1-manifest/apps_v1-statefulset-aurigraph-validator.yaml").read_text()
        )
        (node,) = statefulset["spec"]["template"]["spec"]["containers"]
        assert node["image"] == PROMOTED["validator"]
        assert node["resources"]["limits"]["memory"] == "8Gi"
        assert check_manifests.main([str(rendered_dir)]) == 0
    finally:
        prod.destroy(color="never")


def test_destroy_removes_every_resource_and_rendered_manifest(stack: auto.Stack, project: Path) -> None:
    result = stack.destroy(color="never")
    assert result.summary.resource_changes == {"delete": LOCAL_RESOURCE_COUNT}
    assert resource_types(stack) == Counter()
    assert rendered(project) == []


def test_make_up_and_destroy_report_what_they_did(project: Path, env: dict[str, str]) -> None:
    def stack_ops(command: str) -> str:
        argv = ["-m", "tools.stack_ops", command, "--stack", "local", "--project-dir", str(project)]
        result = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=os.environ | env, capture_output=True, text=True, check=True
        )
        return result.stdout

    report = stack_ops("up")
    pack = project / "policies"
    assert (
        f"+ pulumi up --yes --skip-preview --policy-pack {pack} --policy-pack-config {pack}/config/local.json "
        "--stack local --non-interactive" in report
    ), report[:2000]
    assert "aurigraph@v" in report
    assert re.search(rf"resources +{LOCAL_RESOURCE_COUNT} created\n", report)
    assert re.search(r"images +3 built and pushed \(below\)\n", report)
    for role in ROLES:
        row = (
            rf"\n  {role} +127\.0\.0\.1:5000/aurigraph/{role}@sha256:[0-9a-f]{{64}} +[0-9a-f]{{12}} +[0-9.]+ MB"
            rf" +{SIZE_BAR_MB[role]} MB +{PLAN_BASELINE_MB[role]} MB +[0-9]+%"
        )
        assert re.search(row, report), report
    assert re.search(rf"rendered +{RENDERED_COUNT} manifest\(s\) in build/manifests/local/\n", report)
    assert "\n    build/manifests/local/1-manifest/v1-namespace-default-aurigraph.yaml\n" in report
    assert re.search(r'output namespace +"aurigraph"\n', report)
    assert "destroy finished" in stack_ops("destroy")
    assert rendered(project) == []


def test_an_unreachable_registry_stops_make_up_with_one_message_before_the_cli_runs(
    project: Path, env: dict[str, str]
) -> None:
    stack_file = project / "Pulumi.local.yaml"
    original = stack_file.read_text()
    stack_file.write_text(original.replace("registry: 127.0.0.1:5000", "registry: 127.0.0.1:9"))
    try:
        argv = ["-m", "tools.stack_ops", "up", "--stack", "local", "--project-dir", str(project)]
        result = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=os.environ | env, capture_output=True, text=True, check=False
        )
    finally:
        stack_file.write_text(original)
    assert result.returncode == 2
    assert result.stdout == ""
    assert re.fullmatch(
        r"up: registry 127\.0\.0\.1:9 is unreachable \(.*\): start it \(`make registry`\)\n", result.stderr
    )
