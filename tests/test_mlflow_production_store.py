"""The bundle registry against MLflow as production runs it (docs/MLOPS.md, "Production"):
a real `mlflow server` subprocess with its backend store in PostgreSQL and its artifacts in S3,
served through the tracking server (`--serve-artifacts`).

PostgreSQL is this machine's (a database of the test's own, created and dropped here); S3 is
moto's server mode (tests/aws_stand_in.py), reached by the tracking server only: the client
side runs with AWS pointed at a closed port, so a bundle that reached S3 went through MLflow's
artifact proxy, as a serving replica without S3 credentials does in production.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import pytest

from evals.bench.local_process import free_port
from serving.bundle.load import load_bundle
from serving.bundle.registry import MLFLOW_PRIVACY, BundleRegistry, configure_mlflow_environment
from serving.settings import REPOSITORY_BUNDLE
from tests.aws_stand_in import (
    REGION,
    closed_port_url_fixture,  # noqa: F401 - registers the fixture
    moto_server_fixture,  # noqa: F401 - registers the fixture
    offline_aws_environment,
    offline_aws_fixture,  # noqa: F401 - registers the fixture
    without_real_aws,
)
from tests.test_registry import release_copy

POSTGRES_ADMIN = os.environ.get(
    "TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""asyncpg's DSN for creating and dropping the test's database (trust auth, user postgres)."""
POSTGRES_DRIVER = "psycopg2"
"""The synchronous driver MLflow's SQLAlchemy store needs (the app's asyncpg is async-only);
PyPI package `psycopg2-binary`."""
SERVER_START_SECONDS = 90
MODEL = "dental-clinic-assistant-bundle"


@dataclass(frozen=True)
class ProductionMlflow:
    tracking_uri: str
    database: str
    bucket: str
    s3: Any
    """A boto3 S3 client on the moto server, for looking at what the tracking server stored."""


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _rows(database: str, query: str) -> list[dict[str, Any]]:
    dsn = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return [dict(row) for row in await connection.fetch(query)]
    finally:
        await connection.close()


def _wait_until_healthy(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"mlflow server exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(
        f"mlflow server not healthy after {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}"
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    """The server and its uvicorn workers: they run in a process group of their own."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


@pytest.fixture(scope="module")
def production_mlflow(
    moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProductionMlflow]:
    if importlib.util.find_spec(POSTGRES_DRIVER) is None:
        pytest.fail(
            f"MLflow's PostgreSQL store needs the synchronous driver {POSTGRES_DRIVER!r}, which "
            "is not installed: add `psycopg2-binary` to the project's MLflow dependencies"
        )
    suffix = uuid.uuid4().hex[:10]
    database, bucket = f"mlflow_prod_{suffix}", f"mlflow-artifacts-{suffix}"
    work = tmp_path_factory.mktemp("mlflow-production")
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    s3 = boto3.session.Session().client(
        "s3",
        region_name=REGION,
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    no_files = work / "no-aws-config"
    no_files.mkdir()
    environment = {
        **without_real_aws(dict(os.environ)),
        **offline_aws_environment(moto_server, no_files),
        **MLFLOW_PRIVACY,
        "MLFLOW_S3_ENDPOINT_URL": moto_server,
    }
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"postgresql+{POSTGRES_DRIVER}://postgres@127.0.0.1:5432/{database}",
        "--artifacts-destination",
        f"s3://{bucket}/mlflow",
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = work / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            command,
            env=environment,
            cwd=work,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_healthy(server, url, log)
        yield ProductionMlflow(tracking_uri=url, database=database, bucket=bucket, s3=s3)
    finally:
        _stop(server)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def test_a_bundle_round_trips_through_postgresql_and_s3(
    production_mlflow: ProductionMlflow, offline_aws: str, tmp_path: Path
) -> None:
    configure_mlflow_environment()
    registry = BundleRegistry(production_mlflow.tracking_uri, MODEL)
    first = registry.register(REPOSITORY_BUNDLE)
    second = registry.register(release_copy(tmp_path / "prompts", "1.0.1"))
    registry.set_alias(first)
    registry.set_alias(second)
    assert registry.alias() == second

    bundle = registry.fetch(second, tmp_path / "downloaded")
    assert bundle.version == second.bundle_version
    assert bundle.manifest.content_hash == load_bundle(tmp_path / "prompts").manifest.content_hash
    assert registry.rollback() == first

    # The files are objects in the bucket, under the artifacts destination.
    listed = production_mlflow.s3.list_objects_v2(Bucket=production_mlflow.bucket)
    keys = [item["Key"] for item in listed.get("Contents", [])]
    manifests = [key for key in keys if key.endswith("/artifacts/bundle/manifest.yaml")]
    assert len(manifests) == 2, keys
    assert all(key.startswith("mlflow/") for key in keys)
    stored = production_mlflow.s3.get_object(Bucket=production_mlflow.bucket, Key=manifests[0])
    assert b"content_hash" in stored["Body"].read()

    # The registry's rows are in PostgreSQL.
    database = production_mlflow.database
    models = asyncio.run(_rows(database, "SELECT name FROM registered_models"))
    assert models == [{"name": MODEL}]
    versions = asyncio.run(
        _rows(database, "SELECT version, source FROM model_versions ORDER BY version")
    )
    assert [row["version"] for row in versions] == [1, 2]
    assert all(row["source"].startswith("mlflow-artifacts:/") for row in versions)
    aliases = asyncio.run(_rows(database, "SELECT alias, version FROM registered_model_aliases"))
    assert aliases == [{"alias": "production", "version": int(first.model_version)}]
