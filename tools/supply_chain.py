"""The supply-chain evidence of each pushed image, made and checked by the pipeline's `supply chain` stage:

- **provenance**: the SLSA provenance BuildKit attached to the pushed image (`--provenance=mode=max`), read back;
- **SBOM**: an SPDX document of everything in the image, written by syft from the pushed image;
- **vulnerability gate**: grype on that SBOM; any High or Critical finding stops the pipeline before `up`;
- **signature**: cosign signs the digest and attests the SBOM with the signing key (no transparency log: the key
  is the trust), then verifies both with the public key, as the promotion check does before production.

The tools are built from their Go modules by tools/supplychain/build.sh (`make supplychain`). The vulnerability
database is either grype's published one (`published`, downloaded and updated by grype: what the workflows use)
or one built here from a directory of advisories in the GitHub Security Advisory form (`security/advisories/` by
default: the advisories this project enforces even where the published database cannot be reached).

Usage: python -m tools.supply_chain keygen [--out build/signing]
       python -m tools.supply_chain vulndb [--advisories security/advisories]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.images import BUILDX
from tools.notify import run_link

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "supplychain" / "bin"
ADVISORIES = ROOT / "security" / "advisories"
WORK = ROOT / "build" / "supply-chain"
LOCAL_KEY = ROOT / "build" / "signing" / "cosign.key"
PUBLISHED = "published"
GATE_SEVERITIES = ("Critical", "High")
# Settings of the tools: no update checks, no transparency log, the loopback registry over plain HTTP.
QUIET = {
    "SYFT_CHECK_FOR_APP_UPDATE": "false",
    "GRYPE_CHECK_FOR_APP_UPDATE": "false",
    "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
    "GRYPE_REGISTRY_INSECURE_USE_HTTP": "true",
}


class SupplyChainError(Exception):
    """A tool is missing, or a piece of evidence could not be made or checked."""


@dataclass
class Evidence:
    role: str
    reference: str
    provenance: str = ""  # the builder that the provenance names
    sbom: Path | None = None
    packages: int = 0
    findings: list[str] = field(default_factory=list)  # High and Critical, as "ID severity package version"
    signed: bool = False

    @property
    def passed(self) -> bool:
        return bool(self.provenance) and self.sbom is not None and not self.findings and self.signed

    def describe(self) -> str:
        scan = f"{len(self.findings)} high or critical" + (f" ({'; '.join(self.findings)})" if self.findings else "")
        return (
            f"{self.role}: provenance {'by ' + self.provenance if self.provenance else 'MISSING'}; SBOM "
            f"{self.packages} packages; scan {scan}; {'signed and SBOM attested' if self.signed else 'NOT signed'}"
        )


def tool(name: str) -> str:
    path = BIN / name
    if not os.access(path, os.X_OK):
        raise SupplyChainError(f"{path} is missing: build the supply-chain tools with `make supplychain`")
    return str(path)


def run(command: list[str], environment: dict[str, str] | None = None, timeout: float = 900) -> str:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=os.environ | QUIET | (environment or {}),
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise SupplyChainError(f"`{Path(command[0]).name} {command[1]}` failed ({result.returncode}):\n{tail}")
    return result.stdout


def builder_id() -> str:
    """Who built: the CI run's address in a workflow, else this machine (SLSA's builder.id)."""
    return run_link(os.environ) or f"https://aurigraph-infra.invalid/make-pipeline/{socket.gethostname()}"


def provenance(reference: str) -> str:
    """The builder ID in the SLSA provenance attached to ``reference``; fails when there is none."""
    output = run([BUILDX, "imagetools", "inspect", reference, "--format", "{{json .Provenance.SLSA}}"])
    document: dict[str, Any] = json.loads(output or "null") or {}
    builder = (document.get("runDetails") or {}).get("builder", {}).get("id") or document.get("builder", {}).get("id")
    if not document or not builder:
        raise SupplyChainError(f"{reference} carries no SLSA provenance naming its builder")
    return str(builder)


def sbom(reference: str, out: Path) -> int:
    """Writes the SPDX SBOM of the pushed ``reference`` to ``out``; the number of packages in it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run([tool("syft"), "scan", f"registry:{reference}", "--quiet", "--output", f"spdx-json={out}"])
    return len(json.loads(out.read_text()).get("packages") or [])


def database(source: str, work: Path = WORK) -> dict[str, str]:
    """The environment that gives grype its database: the published one (grype downloads or updates it), or one
    built from the advisories in the directory ``source``."""
    cache = work / "grype-db"
    if source == PUBLISHED:
        run([tool("grype"), "db", "update"], {"GRYPE_DB_CACHE_DIR": str(cache)})
        return {"GRYPE_DB_CACHE_DIR": str(cache), "GRYPE_DB_AUTO_UPDATE": "false"}
    advisories = Path(source)
    if not advisories.is_dir():
        raise SupplyChainError(f"no advisories directory at {advisories} (or say `{PUBLISHED}`)")
    built = work / "vulndb"
    run([tool("vulndb"), "-advisories", str(advisories), "-out", str(built)])
    environment = {"GRYPE_DB_CACHE_DIR": str(cache), "GRYPE_DB_AUTO_UPDATE": "false", "GRYPE_DB_VALIDATE_AGE": "false"}
    run([tool("grype"), "db", "import", str(built / "vulnerability.db")], environment)
    return environment


def scan(document: Path, environment: dict[str, str]) -> list[str]:
    """grype on an SBOM: its High and Critical findings (the gate's), as "ID severity package version"."""
    output = run([tool("grype"), f"sbom:{document}", "--output", "json", "--quiet"], environment)
    findings = []
    for match in json.loads(output).get("matches") or []:
        vulnerability, artifact = match["vulnerability"], match["artifact"]
        if vulnerability.get("severity") in GATE_SEVERITIES:
            findings.append(
                f"{vulnerability['id']} {vulnerability['severity']} {artifact['name']} {artifact['version']}"
            )
    return sorted(set(findings))


def signing_environment() -> dict[str, str]:
    return {"COSIGN_PASSWORD": os.environ.get("COSIGN_PASSWORD", "")}


def sign(reference: str, key: str, document: Path, public_key: str) -> None:
    """Signs ``reference`` and attests its SBOM with ``key``; then checks both with ``public_key``."""
    cosign = tool("cosign")
    common = ["--tlog-upload=false", "--allow-http-registry", "--yes"]
    run([cosign, "sign", "--key", key, *common, reference], signing_environment())
    run(
        [cosign, "attest", "--key", key, "--type", "spdxjson", "--predicate", str(document), *common, reference],
        signing_environment(),
    )
    verify(reference, public_key)


def verify(reference: str, public_key: str) -> None:
    """Checks the signature and the SBOM attestation of ``reference`` against ``public_key``."""
    cosign = tool("cosign")
    common = ["--key", public_key, "--insecure-ignore-tlog=true", "--allow-http-registry"]
    run([cosign, "verify", *common, reference])
    run([cosign, "verify-attestation", "--type", "spdxjson", *common, reference])


def keygen(out: Path) -> Path:
    """A signing key pair in ``out`` (cosign.key, cosign.pub), encrypted with $COSIGN_PASSWORD (empty for the local
    stack's, which signs nothing but this machine's images). An existing pair is kept."""
    key = out / "cosign.key"
    if key.exists() and key.with_suffix(".pub").exists():
        return key
    out.mkdir(parents=True, exist_ok=True)
    command = [tool("cosign"), "generate-key-pair", "--output-key-prefix", str(out / "cosign")]
    subprocess.run(command, env=os.environ | signing_environment(), check=True, capture_output=True, timeout=60)
    return key


def public_key_of(key: str) -> str:
    """The public key of a signing key: beside a key file, or $COSIGN_PUBLIC_KEY for a key in the environment."""
    if key.startswith("env://"):
        return "env://COSIGN_PUBLIC_KEY"
    return str(Path(key).with_suffix(".pub"))


def evidence(role: str, reference: str, environment: dict[str, str], key: str) -> Evidence:
    """Provenance, SBOM, scan and (when the scan passes) signature of one pushed image."""
    found = Evidence(role, reference, provenance=provenance(reference))
    found.sbom = WORK / f"{role}.spdx.json"
    found.packages = sbom(reference, found.sbom)
    found.findings = scan(found.sbom, environment)
    if not found.findings:
        sign(reference, key, found.sbom, public_key_of(key))
        found.signed = True
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.supply_chain", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keygen", help="make the local signing key pair")
    keys.add_argument("--out", type=Path, default=LOCAL_KEY.parent)
    databases = commands.add_parser("vulndb", help="build and import the vulnerability database from advisories")
    databases.add_argument("--advisories", default=str(ADVISORIES))
    args = parser.parse_args(argv)
    try:
        if args.command == "keygen":
            print(f"supply chain: signing key {keygen(args.out)}")
        else:
            environment = database(args.advisories)
            print(f"supply chain: vulnerability database in {environment['GRYPE_DB_CACHE_DIR']}")
    except SupplyChainError as error:
        print(f"supply chain: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
