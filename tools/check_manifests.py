"""Checks rendered manifests: kubeconform against the API's schemas (strict), and kube-score's checks.

Both run offline: kubeconform reads the Kubernetes JSON schemas bundled in the `kubernetes-validate` package
(copied once under build/kube-schemas/ with their references made relative, as kubeconform resolves them)
and, for the monitoring objects, schemas made from the Prometheus Operator's CRDs (tools/crds.py); kube-score
needs nothing. A manifest fails on any schema error, any unknown field, or any kube-score
finding at WARNING or CRITICAL; the exceptions this project accepts are annotations on the objects themselves
(`kube-score/ignore`, each with its reason in the component that sets it) and are listed in
docs/deployment-guide.md.

Usage: python -m tools.check_manifests DIR [DIR...]   (exit 0: clean; 1: findings, printed; 2: bad input)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import yaml

from tools import crds

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools" / "bin"
# The Kubernetes release the manifests are checked against: the newest whose kinds the kubernetes provider
# in the toolchain knows (docs/toolchain.md).
KUBERNETES_VERSION = "1.34.0"
BUNDLED = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
SCHEMAS = ROOT / "build" / "kube-schemas"
# kube-score's grades that count as findings (its "almost OK", 7, and "all OK", 10, do not).
GRADES = {1: "CRITICAL", 5: "WARNING"}
ALL_OK = 10


@dataclass(frozen=True)
class Finding:
    tool: str
    manifest: str
    message: str


def schema_dir(version: str = KUBERNETES_VERSION) -> Path:
    """The strict schemas of ``version``, made loadable from files: each names itself by a kubernetes.io URL
    (`$id`) and refers to `/api/_definitions.json` under it, which kubeconform would fetch; without the `$id`
    and with the reference made relative, everything resolves inside the directory."""
    source = BUNDLED / f"v{version}-local-strict"
    if not source.is_dir():
        raise SystemExit(f"check_manifests: kubernetes-validate has no schemas for {version} ({source})")
    target = SCHEMAS / f"v{version}-standalone-strict"
    marker = target / ".complete"
    if not marker.exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for schema in source.glob("*.json"):
            document = json.loads(schema.read_text().replace('"/api/_definitions.json#', '"_definitions.json#'))
            document.pop("$id", None)
            (target / schema.name).write_text(json.dumps(document))
        marker.touch()
    return target


def crd_schema_dir() -> Path:
    """JSON schemas of the Prometheus Operator's kinds, as kubeconform finds them
    (`<group>/<kind>_<version>.json`), strict: no member a CRD does not declare, as for the built-in kinds."""
    target = SCHEMAS / f"prometheus-operator-{crds.VERSION}"
    marker = target / ".complete"
    if not marker.exists():
        shutil.rmtree(target, ignore_errors=True)
        for path in sorted(crds.prometheus_operator_crds().glob("*.yaml")):
            definition = yaml.load(path.read_text(), Loader=_CrdLoader)  # a SafeLoader
            spec = definition["spec"]
            for version in spec["versions"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                out = target / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(schema))
        marker.touch()
    return target


class _CrdLoader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` (an enum value of the CRDs) as the "value" tag; it is just the string."""


def _value_tag(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_CrdLoader.add_constructor("tag:yaml.org,2002:value", _value_tag)


def _strict(schema: object) -> object:
    """Closes every object schema that lists its properties (unless it keeps unknown fields on purpose)."""
    if isinstance(schema, dict):
        closed = {key: _strict(value) for key, value in schema.items()}
        open_on_purpose = "additionalProperties" in closed or closed.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in closed and not open_on_purpose:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def manifests(directories: list[Path]) -> list[Path]:
    found = sorted(path for directory in directories for path in directory.rglob("*.yaml"))
    if not found:
        raise SystemExit(f"check_manifests: no manifests under {', '.join(map(str, directories))}")
    return found


def kubeconform(files: list[Path], skip_kinds: tuple[str, ...] = ()) -> list[Finding]:
    schemas = schema_dir()
    command = [
        str(TOOLS / "kubeconform"),
        "-strict",
        "-output",
        "json",
        "-kubernetes-version",
        KUBERNETES_VERSION,
        "-schema-location",
        f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        "-schema-location",
        f"{crd_schema_dir()}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
    ]
    if skip_kinds:
        command += ["-skip", ",".join(skip_kinds)]
    result = subprocess.run([*command, *map(str, files)], capture_output=True, text=True, check=False)
    report = json.loads(result.stdout or "{}")
    findings = [
        Finding("kubeconform", r["filename"], f"{r['kind']} {r['name']}: {r['status']} {r.get('msg', '')}".strip())
        for r in report.get("resources", [])
        if r["status"] not in ("statusValid", "statusSkipped")
    ]
    if result.returncode != 0 and not findings:
        findings.append(Finding("kubeconform", "-", result.stderr.strip() or f"exit {result.returncode}"))
    return findings


def kube_score(files: list[Path]) -> list[Finding]:
    command = [
        str(TOOLS / "kube-score"),
        "score",
        "--output-format",
        "json",
        "--kubernetes-version",
        "v" + ".".join(KUBERNETES_VERSION.split(".")[:2]),
        *map(str, files),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        objects = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [Finding("kube-score", "-", result.stderr.strip() or result.stdout[:500])]
    findings = []
    for scored in objects or []:  # null when no object is of a kind it scores
        name = f"{scored['type_meta']['kind']} {scored['object_meta']['name']}"
        for check in scored.get("checks", []):
            level = GRADES.get(check.get("grade", ALL_OK))
            if check.get("skipped") or level is None:
                continue
            comments = "; ".join(c.get("summary", "") for c in check.get("comments") or [])
            findings.append(
                Finding(
                    "kube-score", scored.get("file_name", "-"), f"{name}: {level} {check['check']['name']}: {comments}"
                )
            )
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check_manifests", description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("--skip-kinds", default="", help="kinds with no bundled schema (CRDs), comma-separated")
    args = parser.parse_args(argv)
    for tool in ("kubeconform", "kube-score"):
        if not (TOOLS / tool).exists():
            print(f"check_manifests: {TOOLS / tool} is missing: build the toolchain (make toolchain)", file=sys.stderr)
            return 2
    files = manifests(args.directories)
    skip = tuple(kind for kind in args.skip_kinds.split(",") if kind)
    findings = kubeconform(files, skip) + kube_score(files)
    for finding in findings:
        print(f"{finding.tool}: {finding.manifest}: {finding.message}")
    print(f"check_manifests: {len(files)} manifests, {len(findings)} findings (Kubernetes {KUBERNETES_VERSION})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
