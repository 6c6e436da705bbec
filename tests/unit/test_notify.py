"""`make notify` posts the pipeline's report to a real HTTP server on loopback standing in for Slack and Jira."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import notify

REPORT = """Aurigraph pipeline (staging)
Pipeline Status: failure, rolled back; 70 s in all (test 15 s, build 18 s, up 7 s, verify 27 s FAILED)
Blockers: the deployed images failed verification
Result: FAIL"""


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.txt"
    path.write_text(REPORT + "\n")
    return path


def test_the_report_reaches_slack_with_its_result_and_the_run(
    receiver: tuple[Receiver, str], report: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = receiver
    environment = {
        "SLACK_WEBHOOK_URL": f"{url}/services/T0/B0/secret-part",
        "GITHUB_SERVER_URL": "https://github.invalid",
        "GITHUB_REPOSITORY": "org/aurigraph-infra",
        "GITHUB_RUN_ID": "42",
    }
    assert notify.main(["--report", str(report)], environment) == 0
    (posted,) = state.requests
    assert posted["path"] == "/services/T0/B0/secret-part"
    assert posted["body"]["text"] == (
        "*Aurigraph pipeline (staging)*: FAIL (<https://github.invalid/org/aurigraph-infra/actions/runs/42|run>)"
    )
    assert posted["body"]["blocks"][0]["text"]["text"] == f"```{REPORT}```"
    out = capsys.readouterr()
    assert out.out == "notify: Slack: sent\n"
    assert "secret-part" not in out.out + out.err


def test_a_jira_issue_gets_the_report_as_a_comment(
    receiver: tuple[Receiver, str], report: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = receiver
    environment = {
        "SLACK_WEBHOOK_URL": f"{url}/slack",
        "JIRA_ISSUE_KEY": "AV11-7",
        "JIRA_BASE_URL": f"{url}/jira/",
        "JIRA_USER_EMAIL": "ci@example.invalid",
        "JIRA_API_TOKEN": "test-only-token",
    }
    assert notify.main(["--report", str(report)], environment) == 0
    slack, jira = state.requests
    assert slack["path"] == "/slack"
    assert jira["path"] == "/jira/rest/api/2/issue/AV11-7/comment"
    assert jira["body"] == {"body": REPORT}
    expected = base64.b64encode(b"ci@example.invalid:test-only-token").decode()
    assert jira["headers"]["Authorization"] == f"Basic {expected}"
    out = capsys.readouterr()
    assert out.out == "notify: Slack: sent\nnotify: Jira AV11-7: sent\n"
    assert "test-only-token" not in out.out + out.err


def test_a_refusal_fails_the_step_without_showing_the_webhook(
    receiver: tuple[Receiver, str], report: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = receiver
    state.status = 403
    assert notify.main(["--report", str(report)], {"SLACK_WEBHOOK_URL": f"{url}/hooks/secret-part"}) == 1
    out = capsys.readouterr()
    assert out.err == "notify: Slack: answered 403\n"
    assert "secret-part" not in out.out + out.err


def test_a_missing_report_is_reported_as_a_failed_run(receiver: tuple[Receiver, str], tmp_path: Path) -> None:
    state, url = receiver
    assert notify.main(["--report", str(tmp_path / "none.txt")], {"SLACK_WEBHOOK_URL": f"{url}/slack"}) == 0
    assert state.requests[0]["body"]["text"] == "*Aurigraph pipeline*: FAIL"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "notify: SLACK_WEBHOOK_URL is not set: the pipeline's report would reach nobody\n"),
        ({"SLACK_WEBHOOK_URL": "hooks.invalid/x"}, "notify: SLACK_WEBHOOK_URL is not an http(s) URL\n"),
        (
            {"SLACK_WEBHOOK_URL": "https://hooks.invalid/x", "JIRA_ISSUE_KEY": "AV11-7", "JIRA_BASE_URL": "https://j"},
            "notify: JIRA_ISSUE_KEY is AV11-7, but JIRA_USER_EMAIL, JIRA_API_TOKEN is not set\n",
        ),
    ],
)
def test_an_incomplete_configuration_sends_nothing(
    receiver: tuple[Receiver, str],
    report: Path,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    message: str,
) -> None:
    state, _ = receiver
    assert notify.main(["--report", str(report)], environment) == 2
    assert capsys.readouterr().err == message
    assert state.requests == []
