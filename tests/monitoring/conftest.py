"""A real watched network: reference nodes as processes (tools/devnet.py) under load, scraped by Debian's Prometheus
with exactly the rules the monitoring component deploys, alerting through Debian's Alertmanager with exactly its
routes, receivers and inhibitions, to receivers on loopback that record what reaches them.

Only the addresses differ from a cluster: each node is a static target labelled as the ServiceMonitors label it
(`component`, `namespace`, `pod`), and the receivers' endpoints are the operator's settings
(`monitoring.alerting.*`, `alertmanagerCredentials`), pointed here at loopback. Nothing is skipped: a missing
binary or a node that does not start fails the suite.
"""

from __future__ import annotations

import asyncio
import email
import json
import shutil
import socketserver
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring import SCRAPE, AlertEndpoints, alertmanager_config, rule_groups
from tools import devnet

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "monitoring-live"
HOST = "127.0.0.1"
PROMETHEUS_PORT, PUSHGATEWAY_PORT, HOOKS_PORT, ALERTMANAGER_PORT, SMTP_PORT = 19490, 19491, 19492, 19493, 19425
NAMESPACE = "aurigraph"
# Loopback stand-ins for the operator's credentials: each must arrive where the real one would.
CREDENTIALS = {
    "pagerduty-routing-key": "live-test-routing-key",
    "slack-webhook-url": f"http://{HOST}:{HOOKS_PORT}/slack",
    "smtp-password": "live-test-smtp-password",
    "sms-token": "live-test-sms-token",
}
ENDPOINTS = AlertEndpoints(
    email_to="operators@aurigraph.test",
    email_from="alertmanager@aurigraph.test",
    smtp_smarthost=f"{HOST}:{SMTP_PORT}",
    smtp_require_tls=False,  # the loopback sink offers no STARTTLS; a real server does
    sms_webhook_url=f"http://{HOST}:{HOOKS_PORT}/sms",
    pagerduty_url=f"http://{HOST}:{HOOKS_PORT}/pagerduty",
)
LOAD_TPS = 20


@dataclass
class Delivery:
    receiver: str  # pagerduty, slack, sms or email
    headers: dict[str, str]
    body: Any


@dataclass
class Receivers:
    """What reached the loopback PagerDuty, Slack, SMS gateway and mail server."""

    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries.append(delivery)

    def of(self, receiver: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.receiver == receiver]


def _hooks_server(receivers: Receivers) -> ThreadingHTTPServer:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            name = self.path.strip("/").split("/")[0]
            receivers.add(Delivery(name, dict(self.headers.items()), json.loads(body or b"null")))
            self.send_response(202 if name == "pagerduty" else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((HOST, HOOKS_PORT), Hook)


def _smtp_server(receivers: Receivers) -> socketserver.ThreadingTCPServer:
    """The least of SMTP Alertmanager needs: EHLO (no STARTTLS, no AUTH offered), MAIL, RCPT, DATA, QUIT."""

    class Session(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 sink ESMTP\r\n")
            envelope: dict[str, Any] = {"to": []}
            while line := self.rfile.readline():
                verb = line.decode().strip().split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
                elif verb == "MAIL":
                    envelope["from"] = line.decode().strip()
                    self.wfile.write(b"250 OK\r\n")
                elif verb == "RCPT":
                    envelope["to"].append(line.decode().strip())
                    self.wfile.write(b"250 OK\r\n")
                elif verb == "DATA":
                    self.wfile.write(b"354 end with .\r\n")
                    data = b""
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        data += chunk
                    message = email.message_from_bytes(data)
                    receivers.add(Delivery("email", dict(message.items()), envelope | {"text": data.decode()}))
                    self.wfile.write(b"250 queued\r\n")
                elif verb == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 OK\r\n")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    return socketserver.ThreadingTCPServer((HOST, SMTP_PORT), Session)


class Load:
    """An open-loop load on the business nodes, in 5-second rounds, until stopped (tools/devnet.py's generator)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)
        self.stopped = threading.Event()
        self.round_done = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.round_done.clear()
            asyncio.run(devnet.load(f"live{self.rounds}", list(self.ports), LOAD_TPS, 5, 64))
            self.rounds += 1
            self.round_done.set()

    def without(self, port: int) -> None:
        """Stops offering load to ``port`` (before its node is stopped) once the current round ends."""
        self.ports.remove(port)
        self.round_done.wait(timeout=60)
        self.round_done.clear()
        self.round_done.wait(timeout=60)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=60)


@dataclass
class Watched:
    nodes: list[devnet.Node]
    load: Load
    receivers: Receivers
    prometheus: str
    alertmanager: str
    pushgateway: str
    started: float
    stopped: list[str] = field(default_factory=list)

    def node(self, name: str) -> devnet.Node:
        (found,) = [n for n in self.nodes if n.name == name]
        return found

    def stop_nodes(self, *names: str) -> None:
        """Stops the nodes together (a business node's load is moved off it first)."""
        nodes = [self.node(name) for name in names]
        for node in nodes:
            if node.role == "business":
                self.load.without(node.http_port)
        devnet.stop(nodes)
        self.stopped.extend(names)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.alertmanager}/api/v2/alerts", timeout=10) as response:
            alerts: list[dict[str, Any]] = json.loads(response.read())
        return alerts


def binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: `make monitoring-live` installs Debian's package")
    return path


def await_answer(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def prometheus_config() -> dict[str, Any]:
    """Scrapes every node as its ServiceMonitor does (path, interval) with the labels it gives, and the
    Pushgateway the pipeline pushes to, keeping the pushed labels."""
    targets = [
        {
            "targets": [f"{HOST}:{node.http_port}"],
            "labels": {"component": node.role, "namespace": NAMESPACE, "pod": node.name},
        }
        for node in devnet.plan()
    ]
    return {
        "global": {"scrape_interval": SCRAPE["interval"], "evaluation_interval": "15s"},
        "rule_files": [str(WORK / "rules.yaml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{ALERTMANAGER_PORT}"]}]}]},
        "scrape_configs": [
            {"job_name": "aurigraph", "metrics_path": SCRAPE["path"], "static_configs": targets},
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [f"{HOST}:{PUSHGATEWAY_PORT}"]}],
            },
        ],
    }


@pytest.fixture(scope="session")
def watched() -> Iterator[Watched]:
    prometheus, alertmanager, pushgateway = (
        binary("prometheus"),
        binary("prometheus-alertmanager"),
        binary("prometheus-pushgateway"),
    )
    if not devnet.NODE_JAR.exists():
        pytest.fail(f"{devnet.NODE_JAR} is missing: `make monitoring-live` builds it")
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree(devnet.DEVNET, ignore_errors=True)
    (devnet.DEVNET / "logs").mkdir(parents=True)
    (WORK / "credentials").mkdir(parents=True)
    for name, value in CREDENTIALS.items():
        (WORK / "credentials" / name).write_text(value)
    (WORK / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    (WORK / "prometheus.yaml").write_text(yaml.safe_dump(prometheus_config(), sort_keys=False))
    config = alertmanager_config(ENDPOINTS, credentials_dir=str(WORK / "credentials"))
    (WORK / "alertmanager.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    receivers = Receivers()
    servers = [_hooks_server(receivers), _smtp_server(receivers)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    processes: list[subprocess.Popen[bytes]] = []

    def run(name: str, *command: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = WORK / f"{name}.log"
        process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        processes.append(process)
        return process, log

    nodes = devnet.plan()
    load: Load | None = None
    try:
        for node in nodes:
            devnet.start(node, devnet.DEVNET / "logs", devnet.JAVA_OPTS.split())
        devnet.await_ready(nodes)
        process, log = run(
            "alertmanager",
            alertmanager,
            f"--config.file={WORK / 'alertmanager.yaml'}",
            f"--storage.path={WORK / 'alertmanager-data'}",
            f"--web.listen-address={HOST}:{ALERTMANAGER_PORT}",
            "--cluster.listen-address=",
        )
        await_answer(f"http://{HOST}:{ALERTMANAGER_PORT}/-/ready", process, log)
        process, log = run("pushgateway", pushgateway, f"--web.listen-address={HOST}:{PUSHGATEWAY_PORT}")
        await_answer(f"http://{HOST}:{PUSHGATEWAY_PORT}/-/ready", process, log)
        process, log = run(
            "prometheus",
            prometheus,
            f"--config.file={WORK / 'prometheus.yaml'}",
            f"--storage.tsdb.path={WORK / 'prometheus-data'}",
            f"--web.listen-address={HOST}:{PROMETHEUS_PORT}",
        )
        await_answer(f"http://{HOST}:{PROMETHEUS_PORT}/-/ready", process, log)
        load = Load([n.http_port for n in nodes if n.role == "business"])
        load.thread.start()
        yield Watched(
            nodes=nodes,
            load=load,
            receivers=receivers,
            prometheus=f"http://{HOST}:{PROMETHEUS_PORT}",
            alertmanager=f"http://{HOST}:{ALERTMANAGER_PORT}",
            pushgateway=f"http://{HOST}:{PUSHGATEWAY_PORT}",
            started=time.monotonic(),
        )
    finally:
        if load is not None:
            load.stop()
        devnet.stop(nodes)
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in servers:
            server.shutdown()
            server.server_close()
