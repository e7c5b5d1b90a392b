"""What the backup tests stand on: S3 buckets in two regions on moto's server, a small git +
DVC repository with a session trailer, a session exporter on a real HTTP port, a MLflow-like
store, an age key pair, and a conversation and appointment the restored app must know.

Import the fixtures into a test module (`from tests.backup_stand_ins import *_fixture`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from serving.app import create_app
from serving.backup.encryption import generate_key_pair
from serving.settings import Settings
from tests.asgi import running
from tests.assistant_client import DANA_PHONE, INTEGRATION_KEY, Patient
from tests.aws_stand_in import AwsStandIn
from tests.conftest import make_settings

PRIMARY_REGION = "eu-central-1"
SECONDARY_REGION = "eu-west-1"
SESSION_TOKEN = "session-api-token-not-for-logs"
SESSION_ID = "sess-2026-backup"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Buckets:
    primary: str
    secondary: str
    client: Any  # S3 client on the stand-in, for tampering and deleting


@pytest.fixture(name="buckets")
def buckets_fixture(aws_stand_in: AwsStandIn) -> Buckets:
    """Versioned, object-locked buckets in two regions, empty."""
    session = boto3.session.Session()
    names = ("clinic-backups", "clinic-backups-dr")
    for name, region in zip(names, (PRIMARY_REGION, SECONDARY_REGION), strict=True):
        regional = session.client("s3", region_name=region, endpoint_url=aws_stand_in.endpoint_url)
        regional.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            ObjectLockEnabledForBucket=True,
        )
    client = session.client(
        "s3", region_name=PRIMARY_REGION, endpoint_url=aws_stand_in.endpoint_url
    )
    return Buckets(names[0], names[1], client)


def delete_bucket(buckets: Buckets, name: str) -> None:
    """Every version and delete marker, then the bucket: the primary region is lost."""
    versions = buckets.client.list_object_versions(Bucket=name)
    for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        buckets.client.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
    buckets.client.delete_bucket(Bucket=name)


def _run(command: list[str], cwd: Path) -> None:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{command}: {result.stderr}"


@pytest.fixture(name="repository", scope="module")
def repository_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository with a DVC-tracked file and a commit naming a development session."""
    repo = tmp_path_factory.mktemp("repo")
    _run(["git", "init", "-q", "-b", "main"], repo)
    _run([str(BIN / "dvc"), "init", "-q"], repo)
    (repo / "data").mkdir()
    (repo / "data" / "clinic.csv").write_text("provider,chair\nDr. Levi,1\n", encoding="utf-8")
    _run([str(BIN / "dvc"), "add", "-q", "data/clinic.csv"], repo)
    (repo / "README.md").write_text("clinic\n", encoding="utf-8")
    _run(["git", "add", "-A"], repo)
    _run(
        ["git", "commit", "-q", "-m", "feat(data): clinic\n\nBody.\n\nSession-ID: " + SESSION_ID],
        repo,
    )
    _run(["git", "branch", "release"], repo)
    return repo


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {SESSION_TOKEN}":
            self._send(401, b"{}")
        elif self.path == f"/api/sessions/{SESSION_ID}":
            session = {
                "id": SESSION_ID,
                "title": "backup work",
                "artifacts": [{"name": "plan.md", "url": f"files/{SESSION_ID}/plan.md"}],
            }
            self._send(200, json.dumps(session).encode())
        elif self.path == f"/api/files/{SESSION_ID}/plan.md":
            self._send(200, b"# plan\n")
        else:
            self._send(404, b"{}")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="session_exporter", scope="module")
def session_exporter_fixture() -> Iterator[str]:
    """The session exporter API on a real port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()


@pytest.fixture(name="age_keys", scope="module")
def age_keys_fixture() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture(name="backup_settings")
async def backup_settings_fixture(
    database_url: str,
    buckets: Buckets,
    repository: Path,
    session_exporter: str,
    age_keys: tuple[str, str],
    tmp_path: Path,
) -> Settings:
    """Backup settings over the test's database, which now holds a known conversation."""
    mlflow = tmp_path / "mlflow"
    (mlflow / "artifacts" / "1").mkdir(parents=True)
    (mlflow / "artifacts" / "1" / "report.md").write_text("# eval\n", encoding="utf-8")
    with sqlite3.connect(mlflow / "mlflow.db") as store:
        store.execute("CREATE TABLE runs (id TEXT)")
        store.execute("INSERT INTO runs VALUES ('r1')")
    settings = make_settings(
        database_url,
        integration_key=INTEGRATION_KEY,
        backup_bucket=buckets.primary,
        backup_region=PRIMARY_REGION,
        backup_secondary_bucket=buckets.secondary,
        backup_secondary_region=SECONDARY_REGION,
        backup_age_recipients=age_keys[0],
        backup_age_identity=age_keys[1],
        backup_repository=repository,
        backup_work_dir=tmp_path / "work",
        backup_session_api_url=session_exporter,
        backup_session_api_token=SESSION_TOKEN,
    )
    async with running(create_app(settings)) as client:
        await Patient(client, user_id=f"known-{uuid.uuid4().hex[:6]}", phone=DANA_PHONE).send(
            "hello"
        )
    # Set after the app ran: the app would serve the registry's bundle from this store.
    return settings.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{mlflow / 'mlflow.db'}"})
