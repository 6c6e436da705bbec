"""What `make preview`/`up` check before the CLI runs for a stack applied to a cluster, and `make kubeconfig`."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from tools.images import InputError
from tools.stack_ops import cluster_problem, main, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: staging, cluster: {server: "https://staging.invalid"}}]
contexts: [{name: staging, context: {cluster: staging, user: ci}}]
current-context: staging
users: [{name: ci, user: {token: test-only}}]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for stack in ("local", "staging", "prod"):
        shutil.copy2(ROOT / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    return tmp_path


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_are_applied_to_the_cluster_whose_kubeconfig_make_kubeconfig_writes(
    project: Path, stack: str
) -> None:
    problem = cluster_problem(project, stack)
    assert problem == (
        f"stack {stack} is applied to the cluster of kubeconfig {project}/build/kubeconfig/{stack}.yaml, which does "
        f"not exist: write it with `make kubeconfig STACK={stack}` (from $KUBE_CONFIG), or point "
        "kubernetes.kubeconfig at the cluster's"
    )
    written = write_kubeconfig(project, stack, KUBECONFIG)
    assert written == project / "build" / "kubeconfig" / f"{stack}.yaml"
    assert written.read_text() == KUBECONFIG
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert cluster_problem(project, stack) is None


def test_the_local_stack_renders_and_has_no_kubeconfig_to_write(project: Path) -> None:
    assert cluster_problem(project, "local") is None
    with pytest.raises(InputError, match=r"stack local names no kubernetes\.kubeconfig: its objects are rendered"):
        write_kubeconfig(project, "local", KUBECONFIG)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "KUBE_CONFIG is empty"),
        ("  \n", "KUBE_CONFIG is empty"),
        ("clusters: [", "KUBE_CONFIG is not YAML"),
        ("just text", "KUBE_CONFIG is not a kubeconfig: it needs `clusters` and `contexts`"),
        ("clusters: []\ncontexts: []\n", "KUBE_CONFIG is not a kubeconfig"),
    ],
)
def test_a_bad_kube_config_is_refused_and_nothing_is_written(project: Path, content: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        write_kubeconfig(project, "staging", content)
    assert not (project / "build").exists()


def test_make_kubeconfig_reads_the_secret_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBE_CONFIG", KUBECONFIG)
    assert main(["kubeconfig", "--stack", "prod", "--project-dir", str(project)]) == 0
    assert (
        capsys.readouterr().out
        == "kubeconfig: prod reaches its cluster through build/kubeconfig/prod.yaml (mode 0600)\n"
    )
    monkeypatch.delenv("KUBE_CONFIG")
    assert main(["kubeconfig", "--stack", "staging", "--project-dir", str(project)]) == 2
    assert capsys.readouterr().err.startswith("kubeconfig: KUBE_CONFIG is empty")


def test_preview_of_a_stack_without_its_kubeconfig_stops_before_the_cli(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preview", "--stack", "staging", "--project-dir", str(project)]) == 2
    assert capsys.readouterr().err.startswith("preview: stack staging is applied to the cluster of kubeconfig")
