"""The five Grafana dashboards, built as code with the Grafana Foundation SDK, written to monitoring/dashboards/.

`make dashboards` writes them; `make docs-check` fails when the committed JSON differs from what this writes.
Every query uses the recording rules of monitoring/rules/aurigraph.rules.yaml or the node's metrics
(docs/reference/node-contract.md), filtered by the `namespace` variable; every dashboard links to the runbooks.

Usage: python -m tools.gen_dashboards [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, DataSourceRef
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "monitoring" / "dashboards"
RUNBOOKS = "https://github.com/aurigraph/aurigraph-infra/blob/main/docs/runbooks/README.md"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


def target(query: Query, ref: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(query.expr)
        .legend_format(query.legend or "__auto")
        .datasource(DATASOURCE)
        .ref_id(ref)
    )


def series(title: str, unit: str, *queries: Query, description: str = "") -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).description(description)
    for index, query in enumerate(queries):
        panel = panel.with_target(target(query, chr(ord("A") + index)))
    return panel


def single(title: str, unit: str, query: Query, description: str = "") -> stat.Panel:
    return (
        stat.Panel().title(title).unit(unit).datasource(DATASOURCE).description(description).with_target(target(query))
    )


def listing(title: str, query: Query, description: str = "") -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .description(description)
        .with_target(target(query).instant().format(PromQueryFormat.TABLE))
    )


def base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["aurigraph"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            dashboard.QueryVariable("namespace")
            .label("Network (namespace)")
            .datasource(DATASOURCE)
            .query("label_values(aurigraph_build_info, namespace)")
            .multi(True)
            .include_all(True)
        )
        .with_variable(
            dashboard.QueryVariable("pod")
            .label("Node")
            .datasource(DATASOURCE)
            .query(f"label_values(aurigraph_build_info{{{NS}}}, pod)")
            .multi(True)
            .include_all(True)
        )
        .link(dashboard.DashboardLink("Runbooks").type(DashboardLinkType.LINK).url(RUNBOOKS).target_blank(True))
    )


def system_health() -> dashboard.Dashboard:
    return (
        base("aurigraph-health", "Aurigraph: System Health Overview", "Is the ledger up, led and committing?")
        .with_panel(single("Validators up", "none", Query(f"aurigraph:validators_up:count{{{NS}}}")))
        .with_panel(single("Quorum needed", "none", Query(f"aurigraph:validators_quorum:count{{{NS}}}")))
        .with_panel(
            single("Leaders", "none", Query(f"sum(aurigraph_consensus_is_leader{{{NS}}})"), "Exactly 1 when healthy.")
        )
        .with_panel(single("Committed TPS", "reqps", Query(f"aurigraph:transactions_committed:rate1m{{{NS}}}")))
        .with_panel(
            single("p99 latency", "ms", Query(f"aurigraph:latency_milliseconds:p99{{{NS}}}"), "Target: under 100 ms.")
        )
        .with_panel(single("Failed", "percentunit", Query(f"aurigraph:transactions_failed:ratio_rate5m{{{NS}}}")))
        .with_panel(
            series(
                "Nodes up by role",
                "none",
                Query(f'sum by (component) (up{{{NS}, component=~"validator|business|slim"}})', "{{component}}"),
            )
        )
        .with_panel(
            series(
                "Block height", "none", Query(f"max by (component) (aurigraph_block_height{{{NS}}})", "{{component}}")
            )
        )
    )


def transactions() -> dashboard.Dashboard:
    return (
        base("aurigraph-transactions", "Aurigraph: Transaction Performance", "Throughput, latency and outcomes.")
        .with_panel(
            series(
                "Committed TPS and its baseline",
                "reqps",
                Query(f"aurigraph:transactions_committed:rate1m{{{NS}}}", "committed"),
                Query(f"0.85 * aurigraph:transactions_committed:baseline1h{{{NS}}}", "85% of the last hour's mean"),
                description="AurigraphTpsDrop fires when the first line stays under the second for 5 minutes.",
            )
        )
        .with_panel(
            series("Outcomes", "reqps", Query(f'aurigraph:transactions:rate1m{{{NS}, role="business"}}', "{{result}}"))
        )
        .with_panel(
            series(
                "Latency, arrival to commit",
                "ms",
                Query(f"aurigraph:latency_milliseconds:p50{{{NS}}}", "p50"),
                Query(f"aurigraph:latency_milliseconds:p95{{{NS}}}", "p95"),
                Query(f"aurigraph:latency_milliseconds:p99{{{NS}}}", "p99"),
            )
        )
        .with_panel(
            series(
                "Failed share", "percentunit", Query(f"aurigraph:transactions_failed:ratio_rate5m{{{NS}}}", "failed")
            )
        )
        .with_panel(
            series(
                "Handled per business node",
                "reqps",
                Query(
                    "sum by (pod) (rate(aurigraph_transactions_processed_total"
                    f'{{{NS}, pod=~"$pod", role="business"}}[1m]))',
                    "{{pod}}",
                ),
            )
        )
    )


def infrastructure() -> dashboard.Dashboard:
    return (
        base("aurigraph-infrastructure", "Aurigraph: Infrastructure", "JVM, containers and volumes.")
        .with_panel(
            series(
                "Heap used of maximum",
                "percentunit",
                Query(
                    f'sum by (pod) (jvm_memory_used_bytes{{{NS}, pod=~"$pod", area="heap"}})'
                    f' / sum by (pod) (jvm_memory_max_bytes{{{NS}, pod=~"$pod", area="heap"}} > 0)',
                    "{{pod}}",
                ),
            )
        )
        .with_panel(
            series("CPU used by the JVM", "percentunit", Query(f'process_cpu_usage{{{NS}, pod=~"$pod"}}', "{{pod}}"))
        )
        .with_panel(
            series(
                "Memory of the limit",
                "percentunit",
                Query(
                    f'max by (pod) (container_memory_working_set_bytes{{{NS}, pod=~"$pod", container="node"}})'
                    " / max by (pod) (kube_pod_container_resource_limits"
                    f'{{{NS}, pod=~"$pod", container="node", resource="memory"}})',
                    "{{pod}}",
                ),
            )
        )
        .with_panel(
            series(
                "Restarts (15 min)",
                "none",
                Query(f'increase(kube_pod_container_status_restarts_total{{{NS}, container="node"}}[15m])', "{{pod}}"),
            )
        )
        .with_panel(
            series(
                "Validator volumes free",
                "percentunit",
                Query(
                    f'kubelet_volume_stats_available_bytes{{{NS}, persistentvolumeclaim=~"data-validator-.*"}}'
                    f' / kubelet_volume_stats_capacity_bytes{{{NS}, persistentvolumeclaim=~"data-validator-.*"}}',
                    "{{persistentvolumeclaim}}",
                ),
            )
        )
    )


def blockchain() -> dashboard.Dashboard:
    return (
        base("aurigraph-blockchain", "Aurigraph: Blockchain Specifics", "Raft and the chain, per validator.")
        .with_panel(series("Block height", "none", Query(f'aurigraph_block_height{{{NS}, pod=~"$pod"}}', "{{pod}}")))
        .with_panel(series("Blocks per second", "ops", Query(f"aurigraph:blocks_created:rate1m{{{NS}}}", "blocks")))
        .with_panel(
            series("Finality lag", "s", Query(f"aurigraph:finality_lag_seconds:max{{{NS}}}", "slowest validator"))
        )
        .with_panel(
            series(
                "Commit and applied index",
                "none",
                Query(f'aurigraph_consensus_commit_index{{{NS}, pod=~"$pod"}}', "{{pod}} committed"),
                Query(f'aurigraph_consensus_applied_index{{{NS}, pod=~"$pod"}}', "{{pod}} applied"),
            )
        )
        .with_panel(series("Leader", "none", Query(f'aurigraph_consensus_is_leader{{{NS}, pod=~"$pod"}}', "{{pod}}")))
        .with_panel(series("Term", "none", Query(f'aurigraph_consensus_term{{{NS}, pod=~"$pod"}}', "{{pod}}")))
        .with_panel(
            series(
                "Leader changes (15 min)",
                "none",
                Query(f'increase(aurigraph_consensus_leader_changes_total{{{NS}, pod=~"$pod"}}[15m])', "{{pod}}"),
            )
        )
        .with_panel(
            series("Peers connected", "none", Query(f'aurigraph_peers_connected{{{NS}, pod=~"$pod"}}', "{{pod}}"))
        )
        .with_panel(
            series(
                "Slim nodes behind", "none", Query(f'aurigraph_sync_lag_blocks{{{NS}, component="slim"}}', "{{pod}}")
            )
        )
    )


def alerts_and_deployments() -> dashboard.Dashboard:
    return (
        base("aurigraph-alerts", "Aurigraph: Alerts & Deployments", "What fires, and what runs where.")
        .with_panel(listing("Firing alerts", Query(f'ALERTS{{alertname=~"Aurigraph.*", alertstate="firing", {NS}}}')))
        .with_panel(
            series(
                "Alerts firing by severity",
                "none",
                Query(
                    f'count by (severity) (ALERTS{{alertname=~"Aurigraph.*", alertstate="firing", {NS}}})',
                    "{{severity}}",
                ),
            )
        )
        .with_panel(
            listing(
                "Versions running",
                Query(f'aurigraph_build_info{{{NS}, pod=~"$pod"}}'),
                "Each pod's role, version and revision.",
            )
        )
        .with_panel(
            series(
                "Business rollout",
                "none",
                Query(f'kube_deployment_status_replicas_updated{{{NS}, deployment="business"}}', "updated"),
                Query(f'kube_deployment_spec_replicas{{{NS}, deployment="business"}}', "wanted"),
            )
        )
    )


DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "system-health": system_health,
    "transaction-performance": transactions,
    "infrastructure": infrastructure,
    "blockchain": blockchain,
    "alerts-and-deployments": alerts_and_deployments,
}


def rendered() -> dict[Path, str]:
    return {
        OUT / f"{name}.json": json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gen_dashboards", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    args = parser.parse_args(argv)
    stale = [path for path, text in rendered().items() if not path.exists() or path.read_text() != text]
    if args.check:
        if stale:
            print(f"stale dashboards: {', '.join(p.name for p in stale)}: run 'make dashboards'", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
