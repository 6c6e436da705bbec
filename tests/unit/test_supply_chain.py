"""The supply-chain stage's own logic: which key signs, which public key checks, what the report says. The tools
themselves run on real images in tests/integration/test_pipeline.py and test_promotion.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import supply_chain
from tools.pipeline import PipelineError, Signing


def test_a_key_in_the_environment_signs_and_its_public_key_is_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PRIVATE_KEY", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert Signing.of("staging", None, None) == Signing("env://COSIGN_PRIVATE_KEY", "env://COSIGN_PUBLIC_KEY")


def test_a_key_file_is_checked_with_the_public_key_beside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSIGN_PRIVATE_KEY", raising=False)
    assert Signing.of("staging", "/keys/ci.key", None) == Signing("/keys/ci.key", "/keys/ci.pub")
    assert Signing.of("staging", "/keys/ci.key", "/other.pub").public_key == "/other.pub"


def test_only_the_local_stack_may_sign_with_a_key_made_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSIGN_PRIVATE_KEY", raising=False)
    with pytest.raises(PipelineError, match="staging signs its images with its own key: set COSIGN_PRIVATE_KEY"):
        Signing.of("staging", None, None)


def test_a_missing_tool_names_the_target_that_builds_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(supply_chain, "BIN", tmp_path)
    with pytest.raises(supply_chain.SupplyChainError, match="cosign is missing: build the supply-chain tools with"):
        supply_chain.tool("cosign")


def test_an_advisories_directory_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(supply_chain.SupplyChainError, match=r"no advisories directory at .*nowhere"):
        supply_chain.database(str(tmp_path / "nowhere"), tmp_path)


def test_the_builder_is_the_ci_run_in_a_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "GITHUB_SERVER_URL": "https://github.invalid",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "7",
    }.items():
        monkeypatch.setenv(key, value)
    assert supply_chain.builder_id() == "https://github.invalid/o/r/actions/runs/7"
    monkeypatch.delenv("GITHUB_RUN_ID")
    assert supply_chain.builder_id().startswith("https://aurigraph-infra.invalid/make-pipeline/")


def test_the_evidence_passes_only_when_complete_and_clean() -> None:
    found = supply_chain.Evidence("slim", "r@sha256:1", provenance="b", sbom=Path("s.json"), packages=412, signed=True)
    assert found.passed
    assert (
        found.describe()
        == "slim: provenance by b; SBOM 412 packages; scan 0 high or critical; signed and SBOM attested"
    )
    found.findings = ["GHSA-x High io.vertx:vertx-core 4.5.0"]
    assert not found.passed
    assert "scan 1 high or critical (GHSA-x High io.vertx:vertx-core 4.5.0)" in found.describe()
    assert not supply_chain.Evidence("slim", "r", provenance="b", sbom=Path("s"), signed=False).passed
