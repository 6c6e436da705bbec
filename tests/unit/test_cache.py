"""tools/cache.sh: how the cached heavy builds (toolchain, supply-chain tools, kind node image) share a disk with
other checkouts and runs: tools are hard-linked from the cache entry, and older entries are removed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bash(script: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; . {ROOT}/tools/cache.sh; {script}"],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"AURIGRAPH_CACHE": str(cache)},
        timeout=60,
    )


def entry(cache: Path, kind: str, key: str, age_hours: float) -> Path:
    path = cache / kind / key
    path.mkdir(parents=True)
    (path / "tool").write_text(key)
    stamp = time.time() - age_hours * 3600
    os.utime(path, (stamp, stamp))
    return path


def test_prune_keeps_the_key_in_use_and_the_newest_other(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    oldest = entry(cache, "toolchain", "a" * 16, 72)
    older = entry(cache, "toolchain", "b" * 16, 48)
    newer = entry(cache, "toolchain", "c" * 16, 1)
    other_kind = entry(cache, "kind", "d" * 16, 96)

    result = bash(f"cache_prune toolchain {'a' * 16}", cache)

    assert result.returncode == 0, result.stderr
    assert oldest.exists(), "the entry just used must stay, however old"
    assert newer.exists()
    assert not older.exists()
    assert f"removing {older}/" in result.stderr
    assert other_kind.exists(), "another kind's entries are not touched"


def test_prune_removes_partial_builds_only_when_a_day_old(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    current = entry(cache, "kind", "e" * 16, 0)
    crashed = entry(cache, "kind", "f" * 16 + ".partial", 30)
    building = entry(cache, "kind", "0" * 16 + ".partial", 0.1)

    result = bash(f"cache_prune kind {'e' * 16}", cache)

    assert result.returncode == 0, result.stderr
    assert current.exists()
    assert not crashed.exists()
    assert building.exists(), "a partial build this young may be another run's, still going"


def test_prune_of_an_empty_cache_succeeds(tmp_path: Path) -> None:
    result = bash("cache_prune supplychain 0123456789abcdef", tmp_path / "nothing")
    assert result.returncode == 0, result.stderr


def test_install_hard_links_the_entry(tmp_path: Path) -> None:
    source = entry(tmp_path / "cache", "supplychain", "1" * 16, 0)
    target = tmp_path / "checkout" / ".tools" / "bin"
    target.mkdir(parents=True)
    (target / "stale").write_text("from an older key")

    result = bash(f"cache_install {source} {target}", tmp_path / "cache")

    assert result.returncode == 0, result.stderr
    assert (target / "tool").read_text() == "1" * 16
    assert (target / "tool").stat().st_ino == (source / "tool").stat().st_ino, "one copy on disk"
    assert not (target / "stale").exists(), "the target is replaced, not merged"


def test_build_makes_an_entry_once_and_a_failed_build_leaves_none(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    counter = tmp_path / "runs"
    maker = tmp_path / "make.sh"
    maker.write_text(
        f'#!/bin/sh\necho run >> {counter}\n[ -z "$FAIL" ] || exit 3\nmkdir -p "$1"\necho built > "$1/tool"\n'
    )
    maker.chmod(0o755)
    said = []
    for _ in range(2):
        made = bash(f'cache_build programs {"e" * 16} {maker}; cat "$cache_entry/bin/tool"', cache)
        assert made.returncode == 0, made.stderr
        assert made.stdout == "built\n"
        said.append(made.stderr)
    assert counter.read_text() == "run\n", "built twice"
    assert "cache: programs built in" in said[0] and "cache: programs from" in said[1], said
    failed = subprocess.run(
        ["bash", "-c", f"set -euo pipefail; . {ROOT}/tools/cache.sh; cache_build programs {'f' * 16} {maker}"],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"AURIGRAPH_CACHE": str(cache), "FAIL": "1"},
        timeout=60,
    )
    assert failed.returncode == 3
    assert not (cache / "programs" / ("f" * 16)).exists()
