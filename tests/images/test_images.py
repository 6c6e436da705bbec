"""The three images: within their size bars, no shell, non-root, serving read-only, the validator's AOT cache,
and one clear message for each bad input of `make images`."""

from __future__ import annotations

import io
import json
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from components.image import SourceRevision, build_arguments
from components.image_size import MANIFEST_TYPES, read_image_size
from components.monitoring import NODE_METRIC_PREFIXES, metrics_used
from components.roles import ROLES, SIZE_BAR_MB
from components.secrets import fingerprint, new_signing_key
from tests.images.conftest import docker, docker_bytes, inspect, registry
from tools import images
from tools.devnet import http_json


@pytest.mark.parametrize("role", ROLES)
def test_each_image_is_within_its_size_bar(built: dict[str, images.Built], role: str) -> None:
    assert built[role].size_mb <= SIZE_BAR_MB[role], f"{role}: {built[role].size_mb:.1f} MB"


def files_of(reference: str) -> set[str]:
    container = docker("create", reference, "/none").stdout.strip()
    try:
        exported = docker_bytes("export", container).stdout
    finally:
        docker("rm", container)
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        return {member.name.removeprefix("./") for member in archive.getmembers()}


@pytest.mark.parametrize("role", ROLES)
def test_runtime_has_no_shell_or_package_manager_and_runs_as_user_10001(
    built: dict[str, images.Built], role: str
) -> None:
    files = files_of(built[role].reference)
    for path in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash", "usr/bin/dpkg", "usr/bin/apt", "bin/busybox"):
        assert path not in files, f"{role} image contains {path}"
    assert "opt/java/bin/java" in files
    config = inspect(built[role].reference)["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "10001:10001"
    assert config["Env"] and f"AURIGRAPH_ROLE={role}" in config["Env"]
    labels = config["Labels"]
    revision = SourceRevision.of(images.DEFAULT_SOURCE)
    assert labels["org.opencontainers.image.revision"] == build_arguments(revision, None)["REVISION"]
    assert labels["org.opencontainers.image.version"] == "0.0.0-test"
    # BuildKit dates the image at the commit (SOURCE_DATE_EPOCH), not at the build.
    assert inspect(built[role].reference)["Created"] == f"{revision.date:%Y-%m-%dT%H:%M:%SZ}"
    assert labels["io.aurigraph.role"] == role
    # The client refuses to start a shell: there is none.
    result = docker("run", "--rm", "--entrypoint", "/bin/sh", built[role].reference, "-c", "true", check=False)
    assert result.returncode != 0 and "no such file or directory" in result.stderr.lower()


def http(url: str, body: dict[str, object] | None = None) -> tuple[int, object]:
    return http_json(url, body, timeout=10)


def published(container: str) -> str:
    port = docker("port", container, "9003/tcp").stdout.split()[0].rsplit(":", 1)[1]
    return f"http://127.0.0.1:{port}"


def await_ready(base: str, container: str) -> None:
    deadline = time.monotonic() + 120
    while http(base + "/q/health/ready")[0] != 200:
        if time.monotonic() > deadline:
            logs = docker("logs", container, check=False)
            pytest.fail(f"{container} not ready within 120 s:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
        time.sleep(0.5)


def run_node(
    network: str, name: str, reference: str, *env: str, data: str | None = None, mounts: tuple[str, ...] = ()
) -> str:
    """Runs a node read-only, with every capability dropped; ``data`` (a volume) becomes its data dir and
    ``mounts`` are further `-v` arguments."""
    args = [
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--network-alias",
        name,
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-p",
        "127.0.0.1::9003",
    ]
    for item in env:
        args += ["-e", item]
    if data:
        args += ["-v", f"{data}:/var/lib/aurigraph"]
    for mount in mounts:
        args += ["-v", mount]
    docker(*args, reference)
    return name


def test_the_three_images_serve_a_network_read_only_and_unprivileged(
    built: dict[str, images.Built], network: str
) -> None:
    peers = "AURIGRAPH_PEERS=validator-0=validator-0:9005"
    docker("volume", "rm", "-f", "aurigraph-test-data", check=False)
    # The validator keeps its data on a volume, as in a StatefulSet; the root filesystem stays read-only.
    validator = run_node(
        network,
        "validator-0",
        built["validator"].reference,
        "AURIGRAPH_ID=validator-0",
        peers,
        data="aurigraph-test-data",
    )
    business = run_node(network, "business-0", built["business"].reference, "AURIGRAPH_ID=business-0", peers)
    slim = run_node(
        network, "slim-0", built["slim"].reference, "AURIGRAPH_ID=slim-0", "AURIGRAPH_UPSTREAMS=validator-0:9004"
    )
    for container in (validator, business, slim):
        await_ready(published(container), container)

    status, answer = http(
        published(business) + "/api/v11/transactions",
        {"id": "image-1", "sender": "alice", "recipient": "bob", "amount": 7},
    )
    assert status == 201, answer
    assert isinstance(answer, dict)
    deadline = time.monotonic() + 30
    while True:
        status, block = http(published(slim) + "/api/v11/blocks/latest")
        if status == 200 and isinstance(block, dict) and block["height"] >= answer["height"]:
            break
        assert time.monotonic() < deadline, f"the slim node did not reach height {answer['height']}: {block}"
        time.sleep(0.5)
    exported = set().union(*(metric_names(published(c)) for c in (validator, business, slim)))
    missing = sorted(metrics_the_rules_use() - exported)
    assert not missing, f"the monitoring rules or dashboards use metrics no node exports: {missing}"
    for container in (validator, business, slim):
        pid = docker("inspect", "-f", "{{.State.Pid}}", container).stdout.strip()
        uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
        assert uids.split()[1:] == ["10001"] * 4, f"{container}: {uids}"
    docker("volume", "rm", "-f", "aurigraph-test-data", check=False)


def metrics_the_rules_use() -> set[str]:
    """The node's own metrics named in the monitoring rules and dashboards (Kubernetes' and Prometheus' own are
    not the node's)."""
    # The pipeline pushes its own results (monitoring/README.md); they are not the node's.
    return {name for name in metrics_used(NODE_METRIC_PREFIXES) if not name.startswith("aurigraph_pipeline_")}


def metric_names(base: str) -> set[str]:
    with urllib.request.urlopen(base + "/q/metrics", timeout=10) as response:
        text = response.read().decode()
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_the_validator_maps_its_aot_cache(built: dict[str, images.Built], network: str) -> None:
    options = "JDK_JAVA_OPTIONS=-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError -Xlog:aot"
    docker("volume", "rm", "-f", "aurigraph-test-aot", check=False)
    name = run_node(
        network,
        "validator-aot",
        built["validator"].reference,
        "AURIGRAPH_ID=validator-aot",
        "AURIGRAPH_PEERS=validator-aot=validator-aot:9005",
        options,
        data="aurigraph-test-aot",
    )
    await_ready(published(name), name)
    logs = docker("logs", name).stdout + docker("logs", name).stderr
    assert "Opened AOT cache /app/app.aot" in logs, logs[:2000]
    assert "Unable to map" not in logs and "mismatch" not in logs, logs[:4000]


def bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    before = docker("images", "-q", "aurigraph-bad/*").stdout
    assert images.main([*argv, "--repository", "aurigraph-bad"]) == 2
    assert docker("images", "-q", "aurigraph-bad/*").stdout == before == ""
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_an_unknown_role_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert bad_input(["--roles", "business,miner"], capsys) == (
        "images: unknown role 'miner': expected one of business, slim, validator"
    )


def test_a_missing_source_directory_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert bad_input(["--source", str(tmp_path / "nowhere")], capsys) == (
        f"images: source directory {tmp_path / 'nowhere'} does not exist"
    )


def test_a_tree_without_pom_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert bad_input(["--source", str(tmp_path)], capsys) == f"images: {tmp_path} has no pom.xml: not a Maven project"


def test_a_maven_project_without_quarkus_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "pom.xml").write_text("<project><artifactId>plain</artifactId></project>")
    assert bad_input(["--source", str(tmp_path)], capsys) == (
        f"images: {tmp_path / 'pom.xml'} does not use quarkus-maven-plugin: not a Quarkus application"
    )


def test_no_engine_is_one_clear_message(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert images.main(["--repository", "aurigraph-bad"]) == 2
    assert capsys.readouterr().err.strip() == (
        "images: no Docker engine answers at unix:///nonexistent/docker.sock: start one (`make docker-engine`)"
    )


def test_each_image_is_served_by_the_registry_under_its_digest_and_tags(built: dict[str, images.Built]) -> None:
    for role, image in built.items():
        assert image.pushed is not None
        name, digest = image.pushed.split("@", 1)
        assert name == f"{registry()}/aurigraph-test/{role}"
        repository = name.split("/", 1)[1]
        for tag in ("latest", image.reference.rsplit(":", 1)[1]):
            request = urllib.request.Request(
                f"http://{registry()}/v2/{repository}/manifests/{tag}",
                method="HEAD",
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.headers["Docker-Content-Digest"] == digest, (role, tag)


def test_the_size_read_from_the_registry_is_the_engines_size_and_id(built: dict[str, images.Built]) -> None:
    for role, image in built.items():
        assert image.pushed is not None
        report = read_image_size(image.pushed)
        assert report.config_digest == image.image_id, role
        # The engine counts symbolic links in the layers it unpacked itself and not in those it imported:
        # a few hundred bytes in 100 MB. Anything larger would be a measuring error.
        assert abs(report.size_bytes - image.size_bytes) <= 4096, (role, report.size_bytes, image.size_bytes)
        assert 0 < report.compressed_bytes < report.size_bytes


def test_an_unreachable_registry_is_one_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    message = bad_input(["--registry", "127.0.0.1:9"], capsys)
    assert message.startswith("images: registry 127.0.0.1:9 is unreachable (")
    assert message.endswith("): start it (`make registry`)")


def test_a_builder_that_does_not_answer_is_one_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert bad_input(["--builder", "no-such-builder"], capsys) == (
        "images: the buildx builder 'no-such-builder' does not answer: start it (`make buildkit`)"
    )


def test_two_builds_of_one_commit_give_the_same_image_id(built: dict[str, images.Built]) -> None:
    """The business image again, every step run anew (--no-cache; only Maven's download cache is kept): the
    layers, the configuration and so the image ID must be the same."""
    revision = SourceRevision.of(images.DEFAULT_SOURCE)
    arguments = build_arguments(revision, "0.0.0-test", images.published_bases(registry()))
    again = images.build(
        "business", images.DEFAULT_SOURCE, "aurigraph-test-again/business", revision, arguments, False, no_cache=True
    )
    first, second = inspect(built["business"].reference), inspect(again.reference)
    assert second["RootFS"] == first["RootFS"]
    assert again.image_id == built["business"].image_id


def key_files(directory: Path, key_pem: str, genesis_public: str) -> tuple[str, str]:
    """The signing-key and genesis mounts as NodeSecrets lays them out, readable by the node's user."""
    (directory / "keys").mkdir()
    (directory / "genesis").mkdir()
    (directory / "keys" / "validator-0.pem").write_text(key_pem)
    genesis = {"network": "aurigraph-test", "validators": {"validator-0": genesis_public}}
    (directory / "genesis" / "genesis.json").write_text(json.dumps(genesis))
    for path in directory.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return f"{directory / 'keys'}:/etc/aurigraph/keys:ro", f"{directory / 'genesis'}:/etc/aurigraph/genesis:ro"


KEY_SETTINGS = (
    "AURIGRAPH_ID=validator-0",
    "AURIGRAPH_PEERS=validator-0=validator-0:9005",
    "AURIGRAPH_SIGNING_KEY_FILE=/etc/aurigraph/keys/validator-0.pem",
    "AURIGRAPH_GENESIS_FILE=/etc/aurigraph/genesis/genesis.json",
)


def test_a_validator_starts_with_the_key_its_genesis_names_and_shows_its_fingerprint(
    built: dict[str, images.Built], network: str, tmp_path: Path
) -> None:
    pem, public = new_signing_key()
    mounts = key_files(tmp_path, pem, public)
    name = run_node(
        network, "validator-0", built["validator"].reference, *KEY_SETTINGS, data="aurigraph-test-keyed", mounts=mounts
    )
    base = published(name)
    await_ready(base, name)
    status, info = http(base + "/api/v11/info")
    assert status == 200 and isinstance(info, dict)
    assert info["signingKey"] == fingerprint(public)


def test_a_validator_given_a_key_its_genesis_does_not_name_does_not_start(
    built: dict[str, images.Built], network: str, tmp_path: Path
) -> None:
    pem, _ = new_signing_key()
    _, other = new_signing_key()
    mounts = key_files(tmp_path, pem, other)
    name = run_node(
        network, "validator-0", built["validator"].reference, *KEY_SETTINGS, data="aurigraph-test-keyed", mounts=mounts
    )
    exit_code = docker("wait", name, timeout=120).stdout.strip()
    logs = docker("logs", name).stdout + docker("logs", name).stderr
    assert exit_code != "0"
    assert "is not the one the genesis file /etc/aurigraph/genesis/genesis.json names for validator validator-0" in logs
    assert "BEGIN PRIVATE KEY" not in logs
