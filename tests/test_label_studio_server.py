"""The Label Studio round trip against a real Label Studio server (docs/audit.md, "Label Studio"): `audit sample`
writes the tasks and the labelling config, the test creates a project with that config through the server's HTTP API,
imports the tasks, submits annotations as two annotators (one task skipped, one where they disagree, one where they
agree, one where a skip meets a label, one task never opened), exports, and `audit merge` brings the labels back.

The server is the `label-studio` package in its own venv (`make label-studio` builds .venvs/label-studio; or set
$LABELGATE_LABEL_STUDIO to a `label-studio` executable), started on a free loopback port with a temporary data dir
(sqlite, no network: the version check and analytics are off) and a user and API token created at start from its
command-line flags. Skipped, with the reason, when that executable is absent. `make label-studio-test` runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
EXECUTABLE_ENV = "LABELGATE_LABEL_STUDIO"


def label_studio_executable() -> str | None:
    candidate = os.environ.get(EXECUTABLE_ENV) or str(REPO / ".venvs" / "label-studio" / "bin" / "label-studio")
    return candidate if os.access(candidate, os.X_OK) else None


EXECUTABLE = label_studio_executable()
pytestmark = [pytest.mark.slow,  # starts a server
              pytest.mark.skipif(EXECUTABLE is None, reason=f"Label Studio not installed: `make label-studio` builds "
                                                            f".venvs/label-studio (or set ${EXECUTABLE_ENV})")]
TOKEN = "labelgate-test-token-0123456789"
LABELS = ("bug", "feature", "question")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def label_studio(executable: str, data_dir: Path, *, start_timeout_s: float = 300.0) -> Iterator[str]:
    """Yield the base URL of a running Label Studio server with an admin user whose API token is TOKEN; stop it
    (SIGTERM to its process group, then SIGKILL) on exit."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("USERNAME", "PASSWORD", "PORT", "HOST")}
    env.update({"LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "LATEST_VERSION_CHECK": "false",
                "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""})
    command = [executable, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
               "--username", "admin@example.com", "--password", "labelgate-test", "--user-token", TOKEN,
               "--enable-legacy-api-token"]
    log_path = data_dir.parent / "label-studio.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout_s
        base = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"label-studio exited with {process.returncode}: {log_path.read_text()[-3000:]}")
            found = re.search(r"Starting development server at (http://127\.0\.0\.1:\d+)/", log_path.read_text())
            if found:
                base = found.group(1)
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
                        if response.status == 200:
                            break
            time.sleep(1.0)
        else:
            raise RuntimeError(f"label-studio did not answer in {start_timeout_s:.0f} s: "
                               f"{log_path.read_text()[-3000:]}")
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


class Api:
    """Label Studio's REST API with the legacy token (`Authorization: Token ...`)."""

    def __init__(self, base: str):
        self.base = base

    def __call__(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method, headers={
            "Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: HTTP {error.code}: {error.read()[:2000]!r}") from None

    def annotate(self, task: int, choice: str | None, *, by: int | None = None) -> dict:
        """One annotation of `task`: the choice, or a skip (`None`: was_cancelled, no result), by user `by`."""
        body = ({"result": [], "was_cancelled": True} if choice is None else
                {"result": [{"from_name": "gold_label", "to_name": "text", "type": "choices",
                             "value": {"choices": [choice]}}]})
        if by is not None:
            body["completed_by"] = by
        return self("POST", f"/api/tasks/{task}/annotations/", body)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("label-studio")
    with label_studio(EXECUTABLE, root / "data") as base:
        yield Api(base)


def tickets(n: int = 90) -> tuple[pd.DataFrame, dict[str, str]]:
    """A label table (LLM labels, 10% of them wrong) and the truth a careful annotator gives."""
    rng = np.random.default_rng(7)
    truth = rng.choice(LABELS, size=n, p=[0.5, 0.3, 0.2])
    wrong = rng.random(n) < 0.1
    given = np.where(wrong, [LABELS[(LABELS.index(t) + 1) % 3] for t in truth], truth)
    ids = [f"tk{i:03d}" for i in range(n)]
    frame = pd.DataFrame({"id": ids, "text": [f"ticket {i} about {t}" for i, t in enumerate(truth)],
                          "llm_label": given})
    return frame, dict(zip(ids, truth))


def test_label_studio_round_trip(server, workdir, cli):
    frame, truth = tickets()
    frame.to_csv(workdir / "labels.csv", index=False)
    (workdir / "params.yaml").write_text(f"base:\n  labels: [{', '.join(LABELS)}]\naudit:\n  size: 20\n")
    sample = cli("audit", "sample", workdir / "labels.csv", "--out", workdir / "tasks.json", "--label-config",
                 workdir / "config.xml")
    assert sample.exit_code == 0, sample.output

    # the project, with the config `audit sample` wrote, and the tasks it wrote, imported as they are
    project = server("POST", "/api/projects", {"title": "labelgate audit wave 1",
                                                "label_config": (workdir / "config.xml").read_text()})
    sheet = json.loads((workdir / "tasks.json").read_text())
    imported = server("POST", f"/api/projects/{project['id']}/import", sheet)
    assert imported["task_count"] == len(sheet) == 20
    listed = server("GET", f"/api/tasks?project={project['id']}&page_size=100")["tasks"]
    task_of = {task["data"]["id"]: task["id"] for task in listed}
    assert set(task_of) == {record["id"] for record in sheet}
    assert all("llm_label" not in task["data"] for task in listed)  # blind

    # two annotators: the admin (the token's user) and a second user of the same server
    admin = server("GET", "/api/current-user/whoami")["id"]
    second = server("POST", "/api/users/", {"email": "second@example.com", "username": "second",
                                            "password": "labelgate-test-2"})["id"]
    ids = [record["id"] for record in sheet]
    skipped, split, agreed, skip_then_label, untouched = ids[:5]
    other = {label: LABELS[(LABELS.index(label) + 1) % 3] for label in LABELS}
    for row in ids:
        if row == skipped:
            server.annotate(task_of[row], None)
        elif row == split:  # two annotators who disagree: no majority
            server.annotate(task_of[row], truth[row])
            server.annotate(task_of[row], other[truth[row]], by=second)
        elif row == agreed:
            server.annotate(task_of[row], truth[row])
            server.annotate(task_of[row], truth[row], by=second)
        elif row == skip_then_label:  # the skip does not vote; the second annotator's label decides
            server.annotate(task_of[row], None)
            server.annotate(task_of[row], truth[row], by=second)
        elif row != untouched:
            server.annotate(task_of[row], truth[row])

    # Label Studio's default export leaves out the task nobody opened: merge refuses it (a drawn row missing)
    annotated_only = server("GET", f"/api/projects/{project['id']}/export?exportType=JSON")
    assert len(annotated_only) == 19 and untouched not in {task["data"]["id"] for task in annotated_only}
    (workdir / "annotated_only.json").write_text(json.dumps(annotated_only))
    refused = cli("audit", "merge", workdir / "labels.csv", workdir / "annotated_only.json", "--out",
                  workdir / "merged.csv")
    assert refused.exit_code == 2 and not (workdir / "merged.csv").exists(), refused.output
    assert len(refused.output.strip().splitlines()) == 1

    exported = server("GET", f"/api/projects/{project['id']}/export?exportType=JSON&download_all_tasks=true")
    assert len(exported) == 20
    by_row = {task["data"]["id"]: task for task in exported}
    assert {a["completed_by"] for a in by_row[split]["annotations"]} == {admin, second}
    assert [a["was_cancelled"] for a in by_row[skipped]["annotations"]] == [True]
    assert by_row[untouched]["annotations"] == []
    (workdir / "export.json").write_text(json.dumps(exported))
    merged_run = cli("audit", "merge", workdir / "labels.csv", workdir / "export.json", "--out",
                     workdir / "merged.csv")
    assert merged_run.exit_code == 0, merged_run.output
    assert "17 gold labels merged (3 rows of the sheet unlabelled, 1 cancelled, 1 unresolved)" in merged_run.output
    assert "3 drawn rows have no gold label (audit_missing_share 0.150)" in merged_run.output

    merged = pd.read_csv(workdir / "merged.csv").set_index("id")
    assert merged.loc[[skipped, split, untouched], "gold_label"].isna().all()
    assert merged.loc[[skipped, split, untouched], "audit_wave"].eq(1).all()  # drawn, counted as missing
    labelled = [row for row in ids if row not in (skipped, split, untouched)]
    assert merged.loc[agreed, "gold_label"] == truth[agreed]
    assert merged.loc[skip_then_label, "gold_label"] == truth[skip_then_label]
    assert (merged.loc[labelled, "gold_label"] == [truth[row] for row in labelled]).all()
    assert merged["gold_label"].notna().sum() == 17 and merged["audit_wave"].notna().sum() == 20
    # the weights: per LLM label, equal on its labelled rows (one proportional wave; the blanks pass theirs on) and
    # summing to the label's row count, so the audited weights sum to the table's rows
    audited = merged[merged["gold_label"].notna()]
    for label, rows in audited.groupby("llm_label"):
        assert rows["audit_weight"].sum() == pytest.approx((frame["llm_label"] == label).sum())
        assert rows["audit_weight"].max() == pytest.approx(rows["audit_weight"].min())
    assert audited["audit_weight"].sum() == pytest.approx(len(frame))
    assert merged.loc[merged["gold_label"].isna(), "audit_weight"].isna().all()

    # the verdict counts the skipped, unresolved and unopened tasks as missing, and the gate blocks on it
    checked = cli("check", workdir / "merged.csv", "--out", workdir / "verdict.json")
    verdict = json.loads((workdir / "verdict.json").read_text())
    assert verdict["figures"]["audit_missing_share"] == pytest.approx(0.15)
    assert verdict["label_error"]["n_audited"] == 17
    assert checked.exit_code == 1, checked.output
    assert any(line.startswith("share of the rows the audit drew that have no gold label")
               and line.endswith(": 0.150 (limit <= 0.05)") for line in verdict["blocking"]), verdict["blocking"]
