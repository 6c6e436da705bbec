"""Verification's performance check: a probe load offered through the business Service while the network's own
Prometheus watches, judged against the objectives of the alerting rules and the stack's last verified figures.

The measurement starts when the rollout has finished (verification checks health first) and covers only the probe:

1. a warm-up at the probe rate, a quarter of the measured time (a new pod's first transactions are slower);
2. a wait until Prometheus has scraped every business pod since then; the counters at that moment are the start;
3. the measured probe: ``rate`` transactions a second for ``seconds``, an open loop (tools/devnet.py ``load``);
4. a wait for the next scrape of every business pod; the counters then are the end.

Prometheus computes the figures from the two readings (PromQL's ``@``), so they are the probe's and nothing else's:
committed and failed transactions, and p50 and p99 from the nodes' latency histograms (``histogram_quantile`` of
the difference of the buckets). A business pod that restarted in between makes a counter go down; that is reported.

Judged against:
- the committed share of what was offered: at least AurigraphTpsDrop's share (0.85 of the baseline TPS);
- the failed ratio: at most AurigraphErrorRateHigh's threshold (1%);
- p99: at most AurigraphLatencyP99High's threshold (100 ms), or, above it, at most the last verified deployment's
  p99 at the same probe rate plus ``latencyRegressionPercent`` (50%). A stack with no verified figures yet is held
  to the objective alone.

The thresholds are read from monitoring/rules/aurigraph.rules.yaml, their one definition. A verified deployment's
figures become the stack's baseline (the stack tag ``aurigraph:performance``, tools/stack_ops.py).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.devnet import http_json, load, percentile

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "monitoring" / "rules" / "aurigraph.rules.yaml"
# The Service the Prometheus Operator makes for the Prometheus servers of a namespace (kube-prometheus-stack's and
# the kind cluster's alike), and its port.
PROMETHEUS_SERVICE = "prometheus-operated:web"
CONNECTIONS_MAX = 32
# How long to wait for Prometheus to scrape every business pod (the ServiceMonitors scrape every 15 s).
SCRAPE_WAIT_SECONDS = 60
LATENCY = "aurigraph_latency_milliseconds_bucket"
PROCESSED = "aurigraph_transactions_processed_total"

# What the objectives are read from: each alert's expression and the number in it.
THRESHOLDS = {
    "p99_ms": ("AurigraphLatencyP99High", r"aurigraph:latency_milliseconds:p99\s*>\s*([0-9.]+)"),
    "failed_ratio": ("AurigraphErrorRateHigh", r"aurigraph:transactions_failed:ratio_rate5m\s*>\s*([0-9.]+)"),
    "committed_share": (
        "AurigraphTpsDrop",
        r"aurigraph:transactions_committed:rate1m\s*<\s*([0-9.]+)\s*\*\s*aurigraph:transactions_committed:baseline1h",
    ),
}


class PerformanceError(Exception):
    """The measurement could not be made (no Prometheus, no scrape, a rules file of another shape)."""


@dataclass(frozen=True)
class Objectives:
    p99_ms: float
    failed_ratio: float
    committed_share: float


def objectives(rules: Path = RULES) -> Objectives:
    """The alerting rules' thresholds, from their expressions."""
    expressions = {
        rule["alert"]: " ".join(str(rule["expr"]).split())
        for group in (yaml.safe_load(rules.read_text()) or {}).get("groups", [])
        for rule in group.get("rules", [])
        if "alert" in rule
    }
    found = {}
    for name, (alert, pattern) in THRESHOLDS.items():
        match = re.search(pattern, expressions.get(alert, ""))
        if not match:
            raise PerformanceError(f"{rules}: alert {alert} has no expression of the form /{pattern}/")
        found[name] = float(match.group(1))
    return Objectives(**found)


@dataclass
class Measurement:
    rate: float
    seconds: float
    offered: int = 0
    committed: float = 0.0  # from Prometheus: the probe's window
    failed: float = 0.0
    handled: float = 0.0  # every outcome (committed, duplicate, rejected, failed)
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    client_p99_ms: float = math.nan  # as the verifier saw it, through the API server's proxy
    client_errors: dict[str, int] = field(default_factory=dict)
    restarted: list[str] = field(default_factory=list)

    @property
    def committed_tps(self) -> float:
        return self.committed / self.seconds if self.seconds else 0.0

    def baseline(self) -> str:
        """The figures a verified deployment records for the next one to be judged against (a stack tag)."""
        return json.dumps(
            {"rate": self.rate, "seconds": self.seconds, "p99Ms": round(self.p99_ms, 1), "p50Ms": round(self.p50_ms, 1),
             "committedTps": round(self.committed_tps, 2)}, separators=(",", ":"))  # fmt: skip

    def describe(self) -> str:
        failed = f", {self.failed:.0f} failed" if self.failed else ""
        errors = f"; the verifier saw {self.client_errors}" if self.client_errors else ""
        return (
            f"{self.committed:.0f} of {self.offered} committed at {self.rate:g}/s over {self.seconds:g} s"
            f"{failed}; p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms (Prometheus; "
            f"{self.client_p99_ms:.0f} ms through the API server){errors}"
        )


@dataclass(frozen=True)
class Baseline:
    rate: float
    p99_ms: float

    @classmethod
    def parse(cls, text: str | None) -> Baseline | None:
        """A recorded baseline; None for none, or for one this code cannot read (it is replaced when verified)."""
        try:
            recorded = json.loads(text or "")
            return cls(float(recorded["rate"]), float(recorded["p99Ms"]))
        except (ValueError, KeyError, TypeError):
            return None


def judge(
    measured: Measurement, goals: Objectives, baseline: Baseline | None, regression_percent: int
) -> tuple[list[str], str]:
    """What fails (empty: it passes) and the p99 limit applied, said in words."""
    problems = []
    if measured.restarted:
        problems.append(f"business pods restarted during the measurement: {', '.join(measured.restarted)}")
    if measured.committed < goals.committed_share * measured.offered:
        problems.append(
            f"{measured.committed:.0f} of {measured.offered} offered transactions committed, under "
            f"{goals.committed_share:.0%} (AurigraphTpsDrop)"
        )
    if measured.handled and measured.failed / measured.handled > goals.failed_ratio:
        problems.append(
            f"{measured.failed / measured.handled:.1%} of transactions failed, over {goals.failed_ratio:.0%} "
            "(AurigraphErrorRateHigh)"
        )
    limit, basis = goals.p99_ms, f"the objective {goals.p99_ms:g} ms (AurigraphLatencyP99High)"
    if baseline is not None and baseline.rate == measured.rate:
        allowed = baseline.p99_ms * (1 + regression_percent / 100)
        if allowed > limit:
            limit = allowed
            basis = f"{allowed:.0f} ms: the last verified p99 {baseline.p99_ms:g} ms + {regression_percent}%"
    if not measured.p99_ms <= limit:  # NaN (nothing committed) fails too
        problems.append(f"p99 {measured.p99_ms:.1f} ms is over {basis}")
    return problems, basis


Query = Callable[[str, float], list[dict[str, Any]]]


def prometheus_query(base_url: str) -> Query:
    """Instant queries of the Prometheus HTTP API at ``base_url`` (its root, or a proxy's path to it)."""

    def query(expression: str, at: float) -> list[dict[str, Any]]:
        url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expression, "time": f"{at:.3f}"})
        status, answer = http_json(url, timeout=20)
        if status != 200 or not isinstance(answer, dict) or answer.get("status") != "success":
            raise PerformanceError(f"Prometheus answered HTTP {status} to {expression!r}: {answer}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    return query


def _value(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


def await_scrape(query: Query, selector: str, pods: list[str], after: float) -> None:
    """Waits until Prometheus has scraped each of ``pods`` at ``after`` or later (their `up` samples)."""
    deadline = time.time() + SCRAPE_WAIT_SECONDS
    while True:
        seen = {s["metric"].get("pod", ""): _value(s) for s in query(f"timestamp(up{{{selector}}})", time.time())}
        late = [pod for pod in pods if seen.get(pod, 0) < after]
        if not late:
            return
        if time.time() > deadline:
            raise PerformanceError(
                f"Prometheus has not scraped {', '.join(late)} in {SCRAPE_WAIT_SECONDS} s (is it selecting the "
                "business ServiceMonitor, and may it reach the pods' metrics port?)"
            )
        time.sleep(1)


def _difference(metric: str, selector: str, start: float, end: float, by: str = "") -> str:
    """The increase of ``metric`` between two readings; a series that appeared in between counts from 0."""
    series = f"{metric}{{{selector}}}"
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} ({series} @ {end:.3f} - ({series} @ {start:.3f} or {series} @ {end:.3f} * 0))"


def measure(
    query: Query,
    submit: tuple[int, str],
    namespace: str,
    pods: list[str],
    rate: float,
    seconds: float,
    warmup: float | None = None,
) -> Measurement:
    """Offers the probe through ``submit`` (a loopback port and the path prefix to the business Service) and reads
    its figures from Prometheus. ``pods``: the business pods behind the Service. ``warmup``: seconds of load before
    the measurement (a quarter of ``seconds``, at least 5, by default)."""
    # Pod names are DNS names: a dot is the only regular-expression character they can hold (escaped for the
    # regular expression, then for PromQL's string).
    names = "|".join(pod.replace(".", "\\\\.") for pod in pods)
    selector = f'namespace="{namespace}",pod=~"{names}"'
    port, prefix = submit
    run = f"verify-{int(time.time())}"
    warm = max(seconds / 4, 5) if warmup is None else warmup
    asyncio.run(load(f"{run}-warm", [port], rate, warm, CONNECTIONS_MAX, prefix))
    await_scrape(query, selector, pods, time.time())
    start = time.time()
    probe = asyncio.run(load(run, [port], rate, seconds, CONNECTIONS_MAX, prefix))
    await_scrape(query, selector, pods, time.time())
    end = time.time()

    measured = Measurement(rate=rate, seconds=seconds, offered=int(rate * seconds))
    measured.client_p99_ms = percentile(probe.latencies_ms, 0.99)
    measured.client_errors = dict(probe.errors)
    by_result = {
        s["metric"].get("result", ""): _value(s)
        for s in query(_difference(PROCESSED, selector, start, end, "result"), end)
    }
    measured.committed = by_result.get("committed", 0.0)
    measured.failed = by_result.get("failed", 0.0)
    measured.handled = sum(by_result.values())
    buckets = _difference(LATENCY, selector, start, end, "le")

    def quantile(share: float) -> float:
        found = query(f"histogram_quantile({share}, {buckets})", end)
        return _value(found[0]) if found else math.nan

    measured.p50_ms, measured.p99_ms = quantile(0.5), quantile(0.99)
    went_down = f"{PROCESSED}{{{selector}}} @ {end:.3f} < {PROCESSED}{{{selector}}} @ {start:.3f}"
    measured.restarted = sorted({s["metric"].get("pod", "") for s in query(went_down, end)})
    return measured
