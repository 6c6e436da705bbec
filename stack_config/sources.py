"""What makes a directory a source tree the node images can be built from."""

from __future__ import annotations

from pathlib import Path


def quarkus_source_problem(directory: str | Path) -> str | None:
    """Why ``directory`` is not a Maven project that builds a Quarkus application, or None if it is."""
    source = Path(directory)
    if not source.is_dir():
        return f"source directory {source} does not exist"
    pom = source / "pom.xml"
    if not pom.is_file():
        return f"{source} has no pom.xml: not a Maven project"
    if "quarkus-maven-plugin" not in pom.read_text(errors="replace"):
        return f"{pom} does not use quarkus-maven-plugin: not a Quarkus application"
    return None
