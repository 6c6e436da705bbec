"""`make notify`: the pipeline's report (build/pipeline/report.txt) sent where the team reads it: the Slack channel of
the webhook in $SLACK_WEBHOOK_URL, and, when $JIRA_ISSUE_KEY names an issue, a comment on it in Jira
($JIRA_BASE_URL, $JIRA_USER_EMAIL, $JIRA_API_TOKEN). The workflows run it after every pipeline, passed or not.

Nothing secret is printed: not the webhook, not the token. Exit 0 when every configured destination took the
report, 1 when one refused it, 2 when the configuration is incomplete (then nothing is sent).

Usage: python -m tools.notify [--report build/pipeline/report.txt]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "build" / "pipeline" / "report.txt"
JIRA_KEYS = ("JIRA_BASE_URL", "JIRA_USER_EMAIL", "JIRA_API_TOKEN")


class NotifyError(Exception):
    """The configuration is incomplete or wrong."""


@dataclass(frozen=True)
class Message:
    url: str
    body: bytes
    headers: dict[str, str]
    name: str  # what is printed instead of the URL


def run_link(environment: Mapping[str, str]) -> str:
    """The CI run's address, when the workflow runs this."""
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    if all(environment.get(key) for key in keys):
        server, repository, run = (environment[key] for key in keys)
        return f"{server}/{repository}/actions/runs/{run}"
    return ""


def messages(report: str, environment: Mapping[str, str]) -> list[Message]:
    """What to send where, from the environment; refuses a configuration that would silently send nothing."""
    webhook = environment.get("SLACK_WEBHOOK_URL", "")
    if not webhook:
        raise NotifyError("SLACK_WEBHOOK_URL is not set: the pipeline's report would reach nobody")
    if urllib.parse.urlsplit(webhook).scheme not in ("https", "http"):
        raise NotifyError("SLACK_WEBHOOK_URL is not an http(s) URL")
    link = run_link(environment)
    status = next((line for line in report.splitlines() if line.startswith("Result:")), "Result: unknown")
    title = report.splitlines()[0] if report.strip() else "Aurigraph pipeline"
    text = f"*{title}*: {status.removeprefix('Result: ')}" + (f" (<{link}|run>)" if link else "")
    slack = {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"```{report}```"}}]}
    found = [Message(webhook, json.dumps(slack).encode(), {"Content-Type": "application/json"}, "Slack")]
    issue = environment.get("JIRA_ISSUE_KEY", "")
    if issue:
        missing = [key for key in JIRA_KEYS if not environment.get(key)]
        if missing:
            raise NotifyError(f"JIRA_ISSUE_KEY is {issue}, but {', '.join(missing)} is not set")
        credentials = f"{environment['JIRA_USER_EMAIL']}:{environment['JIRA_API_TOKEN']}".encode()
        base = environment["JIRA_BASE_URL"].rstrip("/")
        comment = {"body": f"{report}\n{link}".strip()}
        found.append(
            Message(
                f"{base}/rest/api/2/issue/{urllib.parse.quote(issue)}/comment",
                json.dumps(comment).encode(),
                {
                    "Content-Type": "application/json",
                    "Authorization": "Basic " + base64.b64encode(credentials).decode(),
                },
                f"Jira {issue}",
            )
        )
    return found


def send(message: Message) -> str | None:
    """Posts ``message``; why it failed, or None."""
    request = urllib.request.Request(message.url, data=message.body, headers=message.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            response.read()
            return None
    except urllib.error.HTTPError as error:
        return f"answered {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"unreachable ({getattr(error, 'reason', error)})"


def main(argv: list[str] | None = None, environment: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notify", description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    environment = os.environ if environment is None else environment
    report = (
        args.report.read_text().strip()
        if args.report.is_file()
        else "Aurigraph pipeline\nThe pipeline ended before writing its report: see the run's log.\nResult: FAIL"
    )
    try:
        outgoing = messages(report, environment)
    except NotifyError as error:
        print(f"notify: {error}", file=sys.stderr)
        return 2
    failed = 0
    for message in outgoing:
        problem = send(message)
        print(f"notify: {message.name}: {problem or 'sent'}", file=sys.stderr if problem else sys.stdout)
        failed += problem is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
